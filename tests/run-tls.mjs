// The SDK over HTTPS, as against E2B's cloud: a TLS proxy of ours (a test CA's certificate for
// 127.0.0.1 and localhost, made with the openssl CLI) in front of a real sandkitd, and Node
// programs on each Node binding — the addon (rustls with the platform's roots, which honour
// SSL_CERT_FILE on Linux) and the wasm build (Node's fetch, which takes NODE_EXTRA_CA_CERTS) —
// given https:// URLs for both the API and the sandbox:
// - trusting the test CA, a sandbox is created, runs a command, writes and reads a file and is
//   killed, every request through the proxy;
// - trusting only the system's roots, the first call is a typed SandboxError that names the
//   certificate problem and carries no API key, and nothing reaches sandkitd.
//
//   node tests/run-tls.mjs
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT, startSandkitd } from './harness/sandkitd.mjs'
import { createChecks, runGuard } from './harness/report.mjs'

parseArgs({ options: { bulk: { type: 'string' } } }) // run-all passes --bulk to every runner
const { bail, cleanup, cleanups } = runGuard('tls', 180)

const dir = mkdtempSync(join(tmpdir(), 'sandkit-tls-'))
cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
const at = (f) => join(dir, f)
try {
  const ossl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' })
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.pem'),
    '-days', '2', '-subj', '/CN=sandkit TLS test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=localhost')
  writeFileSync(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n')
  ossl('x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '2', '-extfile', at('ext.cnf'))
} catch (err) {
  await bail('tls: a test CA and certificate (openssl)', err)
}

let server
try {
  server = await startSandkitd()
  cleanups.push(() => server.stop())
} catch (err) {
  await bail('tls: start sandkitd', err)
}

// TLS in front of sandkitd's one port (API and sandboxes alike): counts what it terminated.
const seen = { handshakes: 0, refused: 0 }
const upstream = new URL(server.apiUrl)
const proxy = tls.createServer({ key: readFileSync(at('server.key')), cert: readFileSync(at('server.pem')), ALPNProtocols: ['http/1.1'] }, (client) => {
  seen.handshakes++
  const up = net.connect(Number(upstream.port), upstream.hostname)
  client.pipe(up).pipe(client)
  const end = () => { client.destroy(); up.destroy() }
  client.on('error', end)
  up.on('error', end)
})
proxy.on('tlsClientError', () => seen.refused++)
await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve))
cleanups.push(() => new Promise((resolve) => proxy.close(resolve)))
const httpsUrl = `https://127.0.0.1:${proxy.address().port}`

const trusted = `
  const conn = { apiKey: process.env.KEY, apiUrl: process.env.API, sandboxUrl: process.env.API }
  const s = await Sandbox.create(conn)
  const r = await s.commands.run('echo hi from $E2B_SANDBOX_ID')
  await s.files.write('/tmp/tls.txt', 'over TLS')
  const read = await s.files.read('/tmp/tls.txt')
  console.log(JSON.stringify({ out: r.stdout, id: s.sandboxId, read, killed: await s.kill() }))
`
const untrusted = `
  const conn = { apiKey: process.env.KEY, apiUrl: process.env.API, sandboxUrl: process.env.API, requestTimeoutMs: 20000 }
  let got = 'no error'
  try { await Sandbox.list(conn).nextItems() } catch (e) { got = { name: e.constructor.name, sandboxError: e instanceof sandkit.SandboxError, message: String(e.message), text: String(e) + ' ' + JSON.stringify(e) } }
  console.log(JSON.stringify(got))
`
const entries = { napi: join(REPO_ROOT, 'js', 'node.mjs'), wasm: join(REPO_ROOT, 'wasm', 'node.mjs') }
const program = (entry, body) => ['--input-type=module', '-e', `import * as sandkit from ${JSON.stringify(entry)}; const { Sandbox } = sandkit;\n${body}`]

function run(args, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: dir,
      // No SSL_CERT_* or NODE_EXTRA_CA_CERTS from outside: each case sets what it trusts.
      env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/root', KEY: server.apiKey, API: httpsUrl, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const { check, finish } = createChecks()
const trust = { napi: { SSL_CERT_FILE: at('ca.pem') }, wasm: { NODE_EXTRA_CA_CERTS: at('ca.pem') } }

for (const [impl, entry] of Object.entries(entries)) {
  await check(`${impl}: over https:// with the test CA trusted (${Object.keys(trust[impl])[0]}), a sandbox is created, runs a command, writes and reads a file, and is killed`, async () => {
    const before = seen.handshakes
    const { code, stdout, stderr } = await run(program(entry, trusted), trust[impl])
    if (code !== 0) throw new Error(`exit ${code}: ${stderr.slice(-2000)}`)
    const got = JSON.parse(stdout.trim().split('\n').pop())
    if (got.out !== `hi from ${got.id}\n`) throw new Error(`stdout ${JSON.stringify(got.out)}`)
    if (got.read !== 'over TLS') throw new Error(`read back ${JSON.stringify(got.read)}`)
    if (got.killed !== true) throw new Error('kill did not return true')
    if (seen.handshakes === before) throw new Error('no TLS connection reached the proxy')
    return `${seen.handshakes - before} TLS connections`
  })

  await check(`${impl}: over https:// trusting only the system's roots, a call is a typed SandboxError naming the certificate, with no API key in it`, async () => {
    const [before, refusedBefore] = [seen.handshakes, seen.refused]
    const { code, stdout, stderr } = await run(program(entry, untrusted), {})
    if (code !== 0) throw new Error(`exit ${code}: ${stderr.slice(-2000)}`)
    const got = JSON.parse(stdout.trim().split('\n').pop())
    if (got === 'no error') throw new Error('the call succeeded with an untrusted certificate')
    if (!got.sandboxError) throw new Error(`${got.name}, not a SandboxError: ${got.message}`)
    if (!/certificate|issuer/i.test(got.message)) throw new Error(`the message does not name the certificate: ${got.message}`)
    if (got.text.includes(server.apiKey) || stderr.includes(server.apiKey)) throw new Error('the API key is in the error or on stderr')
    if (seen.handshakes !== before) throw new Error('a TLS connection was completed with an untrusted certificate')
    if (seen.refused === refusedBefore) throw new Error('the proxy saw no refused handshake')
    return `${got.name}: ${got.message}`
  })
}

await cleanup()
finish()
