// Starts sandkitd on a free port, runs the given command with E2B_API_URL, E2B_SANDBOX_URL and
// E2B_API_KEY pointing at it, then stops the server and exits with the command's status.
import { spawn } from 'node:child_process'
import { startSandkitd } from '../tests/harness/sandkitd.mjs'

const [cmd, ...args] = process.argv.slice(2)
if (!cmd) {
  console.error('usage: node scripts/with-sandkitd.mjs <command> [args…]')
  process.exit(2)
}
const server = await startSandkitd()
console.log(`sandkitd at ${server.apiUrl}`)
const child = spawn(cmd, args, {
  stdio: 'inherit',
  env: { ...process.env, E2B_API_URL: server.apiUrl, E2B_SANDBOX_URL: server.sandboxUrl, E2B_API_KEY: server.apiKey },
})
const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))))
await server.stop()
process.exit(code)
