// The server side of the browser example: it holds the API key, creates one sandbox whose
// ports admit only its traffic token, starts a web server in it, and hands the page that
// sandbox's handle (never the key). It also serves the page and sandkit's browser build.
//
//   E2B_API_KEY=… E2B_API_URL=… node examples/browser/server.mjs [port]
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Sandbox } from 'sandkit'

const here = fileURLToPath(new URL('.', import.meta.url))
// sandkit's browser build: its wasm/ directory and the js/ layer it imports.
const pkgDir = fileURLToPath(new URL('../../', import.meta.url))
const served = ['wasm/', 'js/'].map((d) => join(pkgDir, d))
const TYPES = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' }

// E2B_SANDBOX_URL is for this process's own calls; the page reaches the sandbox by its names.
const sandbox = await Sandbox.create({ network: { allowPublicTraffic: false }, timeoutMs: 600_000 })
await sandbox.commands.run(
  `node -e "require('node:http').createServer((q, s) => s.end('hello from the web server in ' + process.env.E2B_SANDBOX_ID)).listen(3000)"`,
  { background: true },
)
const handle = JSON.stringify(sandbox.toHandle())

const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname
  if (path === '/handle') {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    return res.end(handle)
  }
  const file = path === '/' ? join(here, 'index.html') : path.startsWith('/sandkit/') ? join(pkgDir, normalize(path.slice(9))) : join(here, normalize(path))
  if (!file.startsWith(here) && !served.some((d) => file.startsWith(d))) return res.writeHead(404).end()
  try {
    const body = await readFile(file)
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
    res.end(body)
  } catch {
    res.writeHead(404).end()
  }
})
server.listen(Number(process.argv[2] ?? 8080), '127.0.0.1', () => {
  console.log(`example at http://127.0.0.1:${server.address().port}/ (sandbox ${sandbox.sandboxId})`)
})
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    server.close()
    await sandbox.kill()
    process.exit(0)
  })
}
