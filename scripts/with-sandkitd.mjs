// Starts sandkitd on a free port, runs the given command with E2B_API_URL, E2B_SANDBOX_URL and
// E2B_API_KEY pointing at it, then stops the server and exits with the command's status.
// Sandboxes' DNS goes to a small test internet (tests/harness/outside.mjs: api.example.test,
// other.test, …) started alongside; where it cannot be built (not root), the command gets
// DEMO_NO_INTERNET saying why.
import { spawn } from 'node:child_process'
import { startOutsideWorld } from '../tests/harness/outside.mjs'
import { startSandkitd } from '../tests/harness/sandkitd.mjs'

const [cmd, ...args] = process.argv.slice(2)
if (!cmd) {
  console.error('usage: node scripts/with-sandkitd.mjs <command> [args…]')
  process.exit(2)
}
let world
let noInternet
try {
  world = await startOutsideWorld()
} catch (err) {
  noInternet = `no test internet: ${/** @type {Error} */ (err).message.split('\n')[0]}`
}
const server = await startSandkitd(world ? { args: ['--dns', world.dns] } : {})
console.log(`sandkitd at ${server.apiUrl}${world ? `; test internet ${world.subnet}` : ''}`)
const child = spawn(cmd, args, {
  stdio: 'inherit',
  env: {
    ...process.env,
    ...server.env,
    ...(noInternet ? { DEMO_NO_INTERNET: noInternet } : {}),
  },
})
const code = await new Promise((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))))
await server.stop()
await world?.stop()
process.exit(code)
