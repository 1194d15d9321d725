// A Cloudflare Worker that gives each visitor a sandbox's web server: it creates a sandbox
// whose ports admit only its traffic token, starts a server in it, and proxies the request
// to the sandbox's public URL (sandbox.fetch attaches the token), then kills the sandbox.
//
// Bindings (wrangler.toml [vars] / secrets): E2B_API_KEY, and for a local sandkitd
// E2B_API_URL (and E2B_SANDBOX_URL when *.localhost names do not resolve where it runs).
import { Sandbox } from 'sandkit'

const SERVER = "require('node:http').createServer((req, res) => res.end('hello from ' + process.env.E2B_SANDBOX_ID + ' at ' + req.url)).listen(3000)"

export default {
  async fetch(request, env, ctx) {
    const opts = { apiKey: env.E2B_API_KEY, apiUrl: env.E2B_API_URL, sandboxUrl: env.E2B_SANDBOX_URL, timeoutMs: 60_000 }
    const sandbox = await Sandbox.create({ ...opts, network: { allowPublicTraffic: false } })
    try {
      await sandbox.commands.run(`node -e "${SERVER}"`, { background: true })
      const { pathname, search } = new URL(request.url)
      // The server needs a moment to listen: a few bounded tries.
      for (let attempt = 0; ; attempt++) {
        const res = await sandbox.fetch(3000, pathname + search)
        if (res.status !== 502 || attempt === 50) return new Response(res.body, res)
        await res.body?.cancel()
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      ctx.waitUntil(sandbox.kill())
    }
  },
}
