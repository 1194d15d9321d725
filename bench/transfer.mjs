// Streaming benchmark: command output, file upload and file download of `--mb` MiB (default
// 256) through one sandkitd, with sandkit (napi addon and wasm in Node), the official
// e2b@2.51.0 package, and floors that speak the wire protocol directly.
//
//   node bench/transfer.mjs [--mb 256] [--reps 3] [--only napi,e2b,curl-stdout,...]
//                           [--napi-entry js/node.mjs] [--wasm-entry wasm/node.mjs]
//                           [--out bench/results/transfer.json] [--note 'what was measured']
//   node bench/transfer.mjs --mb 16 --reps 1   # a quick smoke run
//
// --only takes rows, implementations (napi, wasm, e2b, fetch, curl) or operations (stdout,
// upload, upload-bytes, upload-stream, download), comma-separated. --napi-entry/--wasm-entry
// point at another build's js/node.mjs / wasm/node.mjs (e.g. a release build elsewhere).
// Each row's result is the median MiB/s of --reps fresh processes and the largest memory growth.
//
// Rows (each runs in a fresh child process, `node --expose-gc bench/transfer.mjs --row <row>`,
// so one row's garbage never counts against the next):
//   <impl>-stdout         commands.run(`yes … | head -c N`, { onStdout }) counting the bytes;
//                         printable ASCII, because onStdout hands out strings
//   <impl>-upload-bytes   files.write(path, ArrayBuffer of N bytes) (allocated before the clock)
//   <impl>-upload-stream  files.write(path, ReadableStream of 1 MiB chunks made on the fly)
//   <impl>-download       files.read(path, { format: 'stream' }) counting the bytes
// for impl in napi, wasm, e2b; and the floors:
//   curl-stdout           curl POSTs one Connect envelope to /process.Process/Start (JSON codec,
//                         as e2b uses) and discards the stream (-o /dev/null)
//   curl-stdout-proto     the same with the binary codec (application/connect+proto, as sandkit
//                         uses: output as raw bytes, no base64)
//   curl-upload           curl -T <file> -X POST, application/octet-stream, to /files?path=…
//   curl-download         curl -o /dev/null GET /files?path=…
//   fetch-*               the same requests with Node's fetch: the stream's Connect envelopes
//                         are parsed and each message's base64 decoded (what an SDK must do at
//                         least); uploads stream a ReadableStream body (duplex: 'half')
//   fetch-stdout-proto    fetch-stdout with the binary codec: the envelopes parsed and each
//                         protobuf message read down to its output bytes (a view, not a copy)
// The floors get their sandbox and token from a raw POST /sandboxes (X-API-Key).
//
// Time is from the call to its end (the upload's response; the last byte of a download or of
// the output), sandbox creation and setup excluded. Memory, for each Node row: the peak of the
// process's RSS sampled every 50 ms during the transfer (and the kernel's own peak, VmHWM,
// reset just before) minus RSS before, after a full GC; likewise the peaks of
// process.memoryUsage().heapUsed and .arrayBuffers. sandkitd's RSS growth (VmRSS sampled every
// 50 ms by the parent) is reported beside it. Throughput is payload MiB per second (the JSON
// codec carries output as base64, so the JSON stdout stream on the wire is about 4/3 larger).
//
// The sandkit files rows say "n/a: no files API" until `sandbox.files.write`/`read` exist.
// sandkitd: $SANDKITD_BIN, else target/release/sandkitd if it was built, else target/debug.
import { spawn } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { assertNapi } from './napi.mjs'

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url))
const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '256' },
    reps: { type: 'string', default: '3' },
    only: { type: 'string' },
    row: { type: 'string' },
    'napi-entry': { type: 'string', default: `${REPO_ROOT}js/node.mjs` },
    'wasm-entry': { type: 'string', default: `${REPO_ROOT}wasm/node.mjs` },
    'upload-file': { type: 'string' },
    out: { type: 'string', default: `${REPO_ROOT}bench/results/transfer.json` },
    note: { type: 'string' },
  },
})
const MB = Number(values.mb)
const N = Math.round(MB * 2 ** 20)
const MiB = 2 ** 20
const LONG_MS = 1_800_000 // request and command timeouts: never the limit here
const CHUNK = MiB

const IMPLS = ['napi', 'wasm', 'e2b']
const SDK_OPS = ['stdout', 'upload-bytes', 'upload-stream', 'download']
const ROWS = [
  ...SDK_OPS.flatMap((op) => [...IMPLS.map((i) => `${i}-${op}`), ...(op === 'upload-bytes' ? [] : [`fetch-${op}`])]),
  'fetch-stdout-proto',
  'curl-stdout',
  'curl-stdout-proto',
  'curl-upload',
  'curl-download',
]
const OP_OF = (row) => row.slice(row.indexOf('-') + 1)
const IMPL_OF = (row) => row.slice(0, row.indexOf('-'))
const LABEL = { napi: 'sandkit napi', wasm: 'sandkit wasm', e2b: 'e2b@2.51.0', curl: 'curl floor', fetch: 'fetch floor' }
const label = (row) => `${LABEL[IMPL_OF(row)]}${row.endsWith('-proto') ? ' (proto)' : ' '.repeat(8)}`

const PAYLOAD_LINE = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ' // 63 bytes with \n
const stdoutCmd = (n) => `yes ${PAYLOAD_LINE} | head -c ${n}`
const UP_PATH = '/home/user/up.bin'
const DOWN_PATH = '/home/user/down.bin'

if (values.row) await child(values.row)
else await parent()

// ── child: one row ──────────────────────────────────────────────────────────────────────────
async function child(row) {
  const impl = IMPL_OF(row)
  const op = OP_OF(row)
  const conn = {
    apiKey: process.env.E2B_API_KEY,
    apiUrl: process.env.E2B_API_URL,
    sandboxUrl: process.env.E2B_SANDBOX_URL,
    requestTimeoutMs: LONG_MS,
  }
  const report = (r) => console.log(`RESULT ${JSON.stringify({ row, ...r })}`)
  let transfer // async () => bytes moved
  let check = async () => {} // after the clock: is the result right?
  let cleanup = async () => {}

  if (impl === 'napi' || impl === 'wasm' || impl === 'e2b') {
    const spec = impl === 'e2b' ? 'e2b' : pathToFileURL(values[`${impl}-entry`]).href
    if (impl === 'napi') assertNapi(spec)
    const { Sandbox } = await import(spec)
    const sbx = await Sandbox.create({ ...conn, timeoutMs: LONG_MS })
    cleanup = () => sbx.kill()
    const sh = async (cmd) => (await sbx.commands.run(cmd, { timeoutMs: LONG_MS })).stdout.trim()
    await sh('true') // warm: connections, JIT
    if (op !== 'stdout' && (typeof sbx.files?.write !== 'function' || typeof sbx.files?.read !== 'function')) {
      await cleanup()
      return report({ na: 'n/a: no files API' })
    }
    if (op === 'stdout') {
      let n = 0
      let result
      transfer = async () => {
        result = await sbx.commands.run(stdoutCmd(N), { timeoutMs: LONG_MS, onStdout: (s) => void (n += s.length) })
        return n
      }
      check = async () => {
        if (n !== N || result.exitCode !== 0) throw new Error(`stdout: ${n} bytes, exit ${result.exitCode}`)
        if (result.stdout.length !== N) throw new Error(`result.stdout has ${result.stdout.length} chars`)
      }
    } else if (op === 'upload-bytes') {
      const data = payload(N).buffer // the caller's buffer, allocated before the clock
      transfer = async () => {
        await sbx.files.write(UP_PATH, data, { requestTimeoutMs: LONG_MS })
        return N
      }
      check = async () => expectSize(await sh(`stat -c %s ${UP_PATH}`))
    } else if (op === 'upload-stream') {
      transfer = async () => {
        await sbx.files.write(UP_PATH, generatedStream(N), { requestTimeoutMs: LONG_MS })
        return N
      }
      check = async () => expectSize(await sh(`stat -c %s ${UP_PATH}`))
    } else if (op === 'download') {
      await sh(`head -c ${N} /dev/urandom > ${DOWN_PATH}`)
      transfer = async () => {
        const stream = await sbx.files.read(DOWN_PATH, { format: 'stream', requestTimeoutMs: LONG_MS })
        let n = 0
        for await (const chunk of stream) n += chunk.byteLength
        return n
      }
      check = async () => {}
    } else throw new Error(`unknown row ${row}`)
  } else if (impl === 'curl' || impl === 'fetch') {
    const sbx = await rawCreate(conn)
    cleanup = () => fetch(`${conn.apiUrl}/sandboxes/${sbx.sandboxID}`, { method: 'DELETE', headers: { 'x-api-key': conn.apiKey } })
    const envd = {
      'e2b-sandbox-id': sbx.sandboxID,
      'e2b-sandbox-port': '49983',
      'x-access-token': sbx.envdAccessToken,
    }
    const sh = (cmd) => rawRun(conn.sandboxUrl, envd, cmd)
    await sh('true')
    const startUrl = `${conn.sandboxUrl}/process.Process/Start`
    const filesUrl = (path) => `${conn.sandboxUrl}/files?path=${encodeURIComponent(path)}`
    const headerArgs = Object.entries(envd).flatMap(([k, v]) => ['-H', `${k}: ${v}`])
    if (op === 'download') await sh(`head -c ${N} /dev/urandom > ${DOWN_PATH}`)
    if (op.startsWith('upload')) check = async () => expectSize(await sh(`stat -c %s ${UP_PATH}`))

    if (impl === 'curl') {
      const curl = async (args) => {
        const { code, stdout, stderr } = await run('curl', ['-sS', '--fail', ...headerArgs, ...args])
        if (code !== 0) throw new Error(`curl exit ${code}: ${stderr.trim()}`)
        return stdout
      }
      if (op === 'stdout' || op === 'stdout-proto') {
        const proto = op === 'stdout-proto'
        const body = `${os.tmpdir()}/sandkit-transfer-start-${process.pid}.bin`
        writeFileSync(body, (proto ? protoEnvelope : connectEnvelope)(stdoutCmd(N)))
        // The least a whole stream carries: N raw bytes in protobuf, their base64 (4N/3) in
        // JSON; anything shorter means the stream was cut.
        const least = proto ? N : (4 * N) / 3
        let wire = 0
        transfer = async () => {
          const out = await curl([
            '-o', '/dev/null', '-w', '%{size_download}', '-X', 'POST',
            '-H', `content-type: application/connect+${proto ? 'proto' : 'json'}`, '-H', 'connect-protocol-version: 1',
            '--data-binary', `@${body}`, startUrl,
          ])
          wire = Number(out)
          return N
        }
        check = async () => {
          rmSync(body, { force: true })
          if (!(wire >= least)) throw new Error(`curl got only ${wire} bytes on the wire`)
        }
      } else if (op === 'upload') {
        const file = values['upload-file']
        if (!file || statSync(file).size !== N) throw new Error('curl-upload needs --upload-file of N bytes')
        transfer = async () => {
          await curl(['-o', '/dev/null', '-X', 'POST', '-H', 'content-type: application/octet-stream', '-H', 'Expect:', '-T', file, filesUrl(UP_PATH)])
          return N
        }
      } else if (op === 'download') {
        transfer = async () => Number(await curl(['-o', '/dev/null', '-w', '%{size_download}', filesUrl(DOWN_PATH)]))
      } else throw new Error(`unknown row ${row}`)
    } else {
      if (op === 'stdout' || op === 'stdout-proto') {
        const proto = op === 'stdout-proto'
        // Each message's stdout byte count and whether it is the end, in either codec.
        const read = proto
          ? (msg) => {
              const ev = protoField(msg, 1) // StartResponse.event
              const data = ev && protoField(ev, 2) // ProcessEvent.data
              const stdout = data && protoField(data, 1) // DataEvent.stdout
              return [stdout ? stdout.length : 0, Boolean(ev && protoField(ev, 3))] // ProcessEvent.end
            }
          : (msg) => {
              const ev = JSON.parse(msg).event
              return [ev?.data?.stdout ? Buffer.from(ev.data.stdout, 'base64').length : 0, Boolean(ev?.end)]
            }
        transfer = async () => {
          const res = await fetch(startUrl, {
            method: 'POST',
            headers: { ...envd, 'content-type': `application/connect+${proto ? 'proto' : 'json'}`, 'connect-protocol-version': '1' },
            body: (proto ? protoEnvelope : connectEnvelope)(stdoutCmd(N)),
          })
          if (!res.ok) throw new Error(`Start: HTTP ${res.status}`)
          let n = 0
          let ended = false
          for await (const msg of (proto ? connectFrames : connectMessages)(res.body)) {
            const [bytes, end] = read(msg)
            n += bytes
            ended ||= end
          }
          if (!ended) throw new Error('no end event')
          return n
        }
      } else if (op === 'upload-stream') {
        transfer = async () => {
          const res = await fetch(filesUrl(UP_PATH), {
            method: 'POST',
            headers: { ...envd, 'content-type': 'application/octet-stream' },
            body: generatedStream(N),
            duplex: 'half',
          })
          if (!res.ok) throw new Error(`upload: HTTP ${res.status} ${await res.text()}`)
          await res.arrayBuffer()
          return N
        }
      } else if (op === 'download') {
        transfer = async () => {
          const res = await fetch(filesUrl(DOWN_PATH), { headers: envd })
          if (!res.ok) throw new Error(`download: HTTP ${res.status}`)
          let n = 0
          for await (const chunk of res.body) n += chunk.byteLength
          return n
        }
      } else throw new Error(`unknown row ${row}`)
    }
  } else throw new Error(`unknown row ${row}`)

  // Measure.
  globalThis.gc?.()
  globalThis.gc?.()
  const before = process.memoryUsage()
  try {
    writeFileSync('/proc/self/clear_refs', '5') // resets VmHWM to the current RSS
  } catch {}
  const peak = { rss: before.rss, heapUsed: before.heapUsed, arrayBuffers: before.arrayBuffers, external: before.external }
  const sample = () => {
    const m = process.memoryUsage()
    for (const k of Object.keys(peak)) if (m[k] > peak[k]) peak[k] = m[k]
  }
  const timer = setInterval(sample, 50)
  console.log('START') // the parent samples sandkitd from here
  const t0 = performance.now()
  const bytes = await transfer()
  const ms = performance.now() - t0
  clearInterval(timer)
  sample()
  console.log('STOP')
  const hwm = vmKb('VmHWM')
  await check()
  if (bytes !== N) throw new Error(`moved ${bytes} bytes, expected ${N}`)
  await cleanup().catch(() => {})
  const mb = (x) => x / MiB
  report({
    bytes,
    ms,
    mbps: mb(bytes) / (ms / 1000),
    mem: {
      rssGrowthMB: mb(peak.rss - before.rss),
      vmHwmGrowthMB: hwm === null ? null : mb(hwm * 1024 - before.rss),
      heapUsedGrowthMB: mb(peak.heapUsed - before.heapUsed),
      arrayBuffersGrowthMB: mb(peak.arrayBuffers - before.arrayBuffers),
      externalGrowthMB: mb(peak.external - before.external),
      rssBeforeMB: mb(before.rss),
    },
  })
}

function expectSize(s) {
  if (Number(s) !== N) throw new Error(`file in the sandbox has ${s} bytes, expected ${N}`)
}

/** N bytes: one random MiB repeated (cheap to make, not compressible within a chunk). */
function payload(n) {
  const chunk = randomFillSync(new Uint8Array(Math.min(CHUNK, n)))
  const out = new Uint8Array(n)
  for (let off = 0; off < n; off += chunk.length) out.set(chunk.subarray(0, Math.min(chunk.length, n - off)), off)
  return out
}

/**
 * A pull stream of n bytes in 1 MiB chunks, made as they are asked for. It hands out the same
 * (never modified) chunk each time, so the only memory that grows is the consumer's; should a
 * consumer transfer (detach) a chunk, the next one is a fresh copy.
 */
function generatedStream(n) {
  const source = randomFillSync(new Uint8Array(Math.min(CHUNK, n)))
  let chunk = source.slice()
  let left = n
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close()
      if (chunk.byteLength === 0) chunk = source.slice()
      const len = Math.min(chunk.length, left)
      left -= len
      controller.enqueue(len === chunk.length ? chunk : chunk.subarray(0, len))
    },
  })
}

function connectEnvelope(cmd) {
  const msg = Buffer.from(JSON.stringify({ process: { cmd: '/bin/bash', args: ['-l', '-c', cmd] }, stdin: false }))
  const env = Buffer.alloc(5 + msg.length)
  env.writeUInt32BE(msg.length, 1)
  msg.copy(env, 5)
  return env
}

/** A StartRequest of `bash -l -c cmd` with stdin: false, in the binary codec, in an envelope. */
function protoEnvelope(cmd) {
  const varint = (n) => {
    const out = []
    for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80)
    out.push(n)
    return Buffer.from(out)
  }
  const field = (number, bytes) => Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes])
  const config = Buffer.concat([field(1, Buffer.from('/bin/bash')), ...['-l', '-c', cmd].map((a) => field(2, Buffer.from(a)))])
  const msg = Buffer.concat([field(1, config), Buffer.from([4 << 3, 0])]) // process; stdin: false
  const env = Buffer.alloc(5 + msg.length)
  env.writeUInt32BE(msg.length, 1)
  msg.copy(env, 5)
  return env
}

/** The last value of length-delimited field `number` of a protobuf message (a view), or null. */
function protoField(buf, number) {
  let found = null
  let i = 0
  const varint = () => {
    let v = 0
    for (let mul = 1; ; mul *= 128) {
      if (i >= buf.length) throw new Error('truncated protobuf')
      const b = buf[i++]
      v += (b & 0x7f) * mul
      if (b < 0x80) return v
    }
  }
  while (i < buf.length) {
    const key = varint()
    const wire = key & 7
    if (wire === 0) varint()
    else if (wire === 2) {
      const len = varint()
      if (i + len > buf.length) throw new Error('truncated protobuf')
      if (key >>> 3 === number) found = buf.subarray(i, i + len)
      i += len
    } else if (wire === 1 || wire === 5) i += wire === 1 ? 8 : 4
    else throw new Error(`protobuf wire type ${wire}`)
  }
  return found
}

/** The messages (as views of the body's bytes) of a Connect streaming response. */
async function* connectFrames(body) {
  let buf = Buffer.alloc(0)
  for await (const chunk of body) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1)
      if (buf.length < 5 + len) break
      const flags = buf[0]
      const msg = buf.subarray(5, 5 + len)
      buf = buf.subarray(5 + len)
      if (flags & 2) {
        const end = JSON.parse(msg.toString('utf8'))
        if (end.error) throw new Error(`Connect error: ${JSON.stringify(end.error)}`)
        return
      }
      yield msg
    }
  }
}

/** The messages (as strings) of a Connect streaming response; throws on an end-of-stream error. */
async function* connectMessages(body) {
  let buf = Buffer.alloc(0)
  for await (const chunk of body) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk)
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1)
      if (buf.length < 5 + len) break
      const flags = buf[0]
      const msg = buf.toString('utf8', 5, 5 + len)
      buf = buf.subarray(5 + len)
      if (flags & 2) {
        const end = JSON.parse(msg)
        if (end.error) throw new Error(`Connect error: ${JSON.stringify(end.error)}`)
        return
      }
      yield msg
    }
  }
}

async function rawCreate(conn) {
  const res = await fetch(`${conn.apiUrl}/sandboxes`, {
    method: 'POST',
    headers: { 'x-api-key': conn.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ templateID: 'base', timeout: LONG_MS / 1000 }),
  })
  if (res.status !== 201) throw new Error(`POST /sandboxes: HTTP ${res.status} ${await res.text()}`)
  return res.json()
}

/** Runs a short command over raw Connect; returns its stdout. */
async function rawRun(sandboxUrl, envd, cmd) {
  const res = await fetch(`${sandboxUrl}/process.Process/Start`, {
    method: 'POST',
    headers: { ...envd, 'content-type': 'application/connect+json', 'connect-protocol-version': '1' },
    body: connectEnvelope(cmd),
  })
  if (!res.ok) throw new Error(`Start: HTTP ${res.status}`)
  let out = ''
  let exit = null
  for await (const msg of connectMessages(res.body)) {
    const ev = JSON.parse(msg).event
    if (ev?.data?.stdout) out += Buffer.from(ev.data.stdout, 'base64').toString()
    if (ev?.end) exit = ev.end
  }
  if (!exit || (exit.exitCode ?? 0) !== 0) throw new Error(`${cmd}: ${JSON.stringify(exit)}`)
  return out.trim()
}

function vmKb(field, pid = 'self') {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (c) => (stdout += c))
    p.stderr.on('data', (c) => (stderr += c))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

// ── parent: one sandkitd, every row in its own process ────────────────────────────────────
async function parent() {
  const { sandkitdPath, startSandkitd } = await import('../tests/harness/sandkitd.mjs')
  const only = values.only ? values.only.split(',') : null
  const selected = ROWS.filter((r) => !only || only.some((o) => r === o || IMPL_OF(r) === o || OP_OF(r).startsWith(o)))
  const REPS = Number(values.reps)
  const haveCurl = (await run('sh', ['-c', 'command -v curl'])).code === 0

  const releaseBin = sandkitdPath('release')
  const bin = process.env.SANDKITD_BIN ?? (existsSync(releaseBin) ? releaseBin : sandkitdPath('debug'))
  const server = await startSandkitd({ bin })
  const serverProfile = bin.includes('/release/') ? 'release' : bin.includes('/debug/') ? 'debug' : 'custom'
  console.log(`sandkitd ${server.version} (${serverProfile}: ${bin}) at ${server.apiUrl}`)
  const isolation = server.output().split('\n').find((l) => l.startsWith('sandboxes:'))
  if (isolation) console.log(isolation)
  if (!process.env.SANDKITD_BIN && bin === releaseBin && existsSync(sandkitdPath('debug')) && statSync(sandkitdPath('debug')).mtimeMs > statSync(releaseBin).mtimeMs) {
    console.log('warning: target/release/sandkitd is older than target/debug/sandkitd; `cargo build --release -p sandkit-server` if rows fail')
  }
  const addon = (entry) => {
    try {
      const dir = new URL('native/', pathToFileURL(entry))
      const f = readFileSync(new URL('binding.cjs', dir), 'utf8') && statSync(new URL('sandkit.linux-x64-gnu.node', dir))
      return `${fileURLToPath(dir)}sandkit.linux-x64-gnu.node (${(f.size / MiB).toFixed(1)} MB${f.size > 30 * MiB ? ', looks like a debug build' : ''})`
    } catch {
      return 'unknown'
    }
  }
  console.log(`napi: ${values['napi-entry']} → ${addon(values['napi-entry'])}`)
  console.log(`wasm: ${values['wasm-entry']}`)
  console.log(`moving ${MB} MiB per row, ${REPS} run(s) per row\n`)

  let uploadFile = null
  if (selected.includes('curl-upload') && haveCurl) {
    uploadFile = `${os.tmpdir()}/sandkit-transfer-${process.pid}.bin`
    writeFileSync(uploadFile, payload(N))
  }
  const env = { ...process.env, ...server.env }
  const rowTimeoutMs = 120_000 + N / 1000 // ≥ 1 MB/s

  const results = {}
  for (const row of selected) {
    const runs = []
    for (let rep = 0; rep < REPS; rep++) {
      if (IMPL_OF(row) === 'curl' && !haveCurl) {
        runs.push({ na: 'n/a: no curl' })
        break
      }
      const r = await runRow(row)
      runs.push(r)
      if (r.na || r.error) break
    }
    const ok = runs.filter((r) => r.mbps)
    const res = ok.length
      ? {
          mbps: median(ok.map((r) => r.mbps)),
          ms: median(ok.map((r) => r.ms)),
          mem: ok[0].mem && Object.fromEntries(Object.keys(ok[0].mem).map((k) => [k, Math.max(...ok.map((r) => r.mem[k] ?? -Infinity))])),
          serverRssGrowthMB: Math.max(...ok.map((r) => r.serverRssGrowthMB)),
          runs: ok.map((r) => ({ ms: r.ms, mbps: r.mbps })),
        }
      : { na: runs[0].na, error: runs.find((r) => r.error)?.error }
    results[row] = res
    if (IMPL_OF(row) === 'curl') delete res.mem // the child only waits for curl; its memory says nothing
    const m = res.mem
    console.log(
      res.mbps
        ? `${row.padEnd(20)} ${f(res.mbps, 1).padStart(7)} MiB/s  ${f(res.ms / 1000, 2)} s` +
            (m ? `  rss +${f(m.rssGrowthMB, 1)} MB (VmHWM +${f(m.vmHwmGrowthMB, 1)})  heap +${f(m.heapUsedGrowthMB, 1)}  arrayBuffers +${f(m.arrayBuffersGrowthMB, 1)}` : '') +
            `  sandkitd rss +${f(res.serverRssGrowthMB, 1)} MB`
        : `${row.padEnd(20)} ${res.na ?? `error: ${res.error}`}`,
    )
  }
  await server.stop()
  if (uploadFile) rmSync(uploadFile, { force: true })

  // ── report ──
  // Output has floors in both codecs (JSON as e2b speaks it, binary as sandkit does); the
  // sandkit rows are compared with each.
  const groups = [
    ['stdout', 'stdout', ['curl-stdout', 'fetch-stdout', 'curl-stdout-proto', 'fetch-stdout-proto']],
    ['upload (ArrayBuffer)', 'upload-bytes', ['curl-upload', 'fetch-upload-stream']],
    ['upload (ReadableStream)', 'upload-stream', ['curl-upload', 'fetch-upload-stream']],
    ['download (stream)', 'download', ['curl-download', 'fetch-download']],
  ]
  const ratios = {}
  const table = [['transfer', 'implementation', 'MiB/s', '× e2b', '× curl', '× fetch', '× curl (proto)', '× fetch (proto)', 'RSS growth', 'heap / arrayBuffers growth', 'sandkitd RSS growth']]
  for (const [title, op, floors] of groups) {
    const e2b = results[`e2b-${op}`]
    const [curlRow, fetchRow] = floors
    const columns = [curlRow, fetchRow, floors[2], floors[3]]
    for (const row of [...IMPLS.map((i) => `${i}-${op}`), fetchRow, ...floors.slice(3), curlRow, ...floors.slice(2, 3)]) {
      const r = results[row]
      if (!r || (row === fetchRow && op === 'upload-bytes') || (row === curlRow && op === 'upload-stream')) continue
      const vsE2b = r.mbps && e2b?.mbps && IMPLS.includes(IMPL_OF(row)) && IMPL_OF(row) !== 'e2b' ? r.mbps / e2b.mbps : null
      // Floors are compared with the SDKs only (and the fetch floors with the curl floors).
      const vs = columns.map((c) => {
        const fl = c && results[c]
        const sameCodec = c && c.endsWith('-proto') === row.endsWith('-proto')
        const comparable = IMPLS.includes(IMPL_OF(row)) || (IMPL_OF(row) === 'fetch' && IMPL_OF(c) === 'curl' && sameCodec)
        return comparable && r.mbps && fl?.mbps ? r.mbps / fl.mbps : null
      })
      const vsFloor = vs[0]
      if (IMPL_OF(row) === 'napi' || IMPL_OF(row) === 'wasm') ratios[row] = { vsE2b, vsFloor, vsCurl: vs[0], vsFetch: vs[1], vsCurlProto: vs[2], vsFetchProto: vs[3] }
      table.push([
        title,
        IMPLS.includes(IMPL_OF(row)) ? LABEL[IMPL_OF(row)] : label(row),
        r.mbps ? f(r.mbps, 1) : r.na ?? `error: ${String(r.error).slice(0, 50)}`,
        vsE2b ? `${f(vsE2b, 2)}×` : '',
        ...vs.map((x) => (x ? `${f(x, 2)}×` : '')),
        r.mem ? `${f(Math.max(r.mem.rssGrowthMB, r.mem.vmHwmGrowthMB ?? 0), 1)} MB` : '',
        r.mem ? `${f(r.mem.heapUsedGrowthMB, 1)} / ${f(r.mem.arrayBuffersGrowthMB, 1)} MB` : '',
        r.mbps ? `${f(r.serverRssGrowthMB, 1)} MB` : '',
      ])
    }
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => String(r[c]).length)))
  console.log(`\n${MB} MiB per transfer; MiB/s of payload; × = throughput ratio (above 1 is faster); memory = peak minus before`)
  for (const [i, r] of table.entries()) {
    console.log(r.map((v, c) => (c < 2 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  '))
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  }

  const report = {
    when: new Date().toISOString(),
    machine: { node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpu: os.cpus()[0]?.model },
    sandkitd: { version: server.version, profile: serverProfile, bin },
    repoHead: (await run('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])).stdout.trim(),
    note: values.note ?? null,
    sandkit: { napiEntry: values['napi-entry'], napiAddon: addon(values['napi-entry']), wasmEntry: values['wasm-entry'] },
    params: { mib: MB, bytes: N, reps: REPS, stdoutCommand: stdoutCmd(N), sampleMs: 50 },
    results,
    ratios,
  }
  mkdirSync(new URL('.', pathToFileURL(values.out)), { recursive: true })
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`\nwrote ${values.out}`)

  /** Runs one row in a fresh node; samples sandkitd's RSS between its START and STOP. */
  function runRow(row) {
    return new Promise((resolve) => {
      const args = ['--expose-gc', fileURLToPath(import.meta.url), '--row', row, '--mb', String(MB),
        '--napi-entry', values['napi-entry'], '--wasm-entry', values['wasm-entry']]
      if (uploadFile) args.push('--upload-file', uploadFile)
      const p = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      let serverBase = null
      let serverPeak = 0
      let sampler = null
      const sampleServer = () => {
        const kb = vmKb('VmRSS', server.pid)
        if (kb !== null && kb > serverPeak) serverPeak = kb
      }
      p.stdout.setEncoding('utf8')
      p.stdout.on('data', (c) => {
        out += c
        if (!sampler && /^START$/m.test(out)) {
          serverBase = vmKb('VmRSS', server.pid)
          serverPeak = serverBase ?? 0
          sampler = setInterval(sampleServer, 50)
        }
        if (sampler && /^STOP$/m.test(out)) {
          clearInterval(sampler)
          sampleServer()
        }
      })
      p.stderr.on('data', (c) => (err = (err + c).slice(-4000)))
      const killer = setTimeout(() => {
        err += `\ntimed out after ${rowTimeoutMs / 1000} s`
        p.kill('SIGKILL')
      }, rowTimeoutMs)
      p.on('close', (code) => {
        clearTimeout(killer)
        clearInterval(sampler)
        const line = out.split('\n').find((l) => l.startsWith('RESULT '))
        if (code === 0 && line) {
          const r = JSON.parse(line.slice(7))
          if (serverBase !== null) r.serverRssGrowthMB = (serverPeak - serverBase) / 1024
          return resolve(r)
        }
        const lines = err.trim().split('\n')
        const msg = lines.find((l) => /^\w*(Error|Exception)\b|^timed out/.test(l)) ?? lines.at(-1)
        resolve({ error: `exit ${code}: ${msg ?? '(no output)'}`, stderr: err.trim().split('\n').slice(-15).join('\n') })
      })
    })
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
function f(x, d = 1) {
  return x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d)
}
