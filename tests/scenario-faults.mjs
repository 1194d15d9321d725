// Faults, in every runtime: the SDK talks to sandkitd through a real proxy of the runner's
// (tests/harness/faults.mjs) that answers 30% of requests 429 (Retry-After in seconds or as an
// HTTP date, RateLimit-Reset), resets 10% of connections (before or after sandkitd answered),
// answers 5% 503 and stalls 2% past the request timeout.
// - 300 idempotent calls (getInfo, list pages, setTimeout, files.read, files.list, files.exists):
//   every one succeeds but those that met a stall, which reject with TimeoutError, one per stall;
// - 20 creates: an error may surface (ServiceBusyError, a connection SandboxError,
//   TimeoutError), a duplicate may not: sandkitd holds exactly the creates that reached it.
//
//   await runFaultsScenario({ Sandbox, errors, conn, faults, run, step, skip, track })
//
// `track(id)` hands each sandbox made to the scenario's final cleanup too: a step that hangs
// never reaches its own `finally`.
//
// `faults` is { url, controlUrl, seed?, concurrency?, skipStreams?: reason } (startFaultProxy). Every call names its connection
// options; the sandbox handle is made directly and reaches its daemon through the proxy.
import { assert, assertEqual, describeError } from './checks.mjs'

const CALLS = 300
const CREATES = 20
const RATES = { rateLimited: 0.3, reset: 0.1, busy: 0.05, stall: 0.02 }
// Long enough that no chain of retries reaches it, only a stall does: backoff doubles from
// 100 ms per attempt (429s count as attempts), and at a 45% failure rate one call in ~270 makes
// 7 failed attempts in a row, whose backoff alone can pass 15 s. `retries` is high enough that
// no call runs out of them.
const REQUEST_TIMEOUT_MS = 30_000

async function plan(faults, body) {
  const res = await fetch(`${faults.controlUrl}/plan`, { method: 'POST', body: JSON.stringify(body) })
  assertEqual(res.status, 200, `fault proxy plan: ${await res.text()}`)
}
async function counts(faults) {
  const res = await fetch(`${faults.controlUrl}/counts`)
  return res.json()
}

/** Runs `fns` with at most `limit` in flight; resolves to their settled results in order. */
async function pool(fns, limit) {
  const out = new Array(fns.length)
  let next = 0
  async function worker() {
    while (next < fns.length) {
      const i = next++
      try {
        out[i] = { ok: true, value: await fns[i]() }
      } catch (error) {
        out[i] = { ok: false, error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, fns.length) }, worker))
  return out
}

export const FAULT_CALLS_STEP = `faults: ${CALLS} idempotent calls through 30% 429 (Retry-After seconds and date, RateLimit-Reset), 10% resets, 5% 503, 2% stalls: all succeed but the stalled ones, TimeoutError one per stall`
export const FAULT_CREATES_STEP = `faults: ${CREATES} creates through the same faults make no sandbox twice; each error is typed; sandkitd holds exactly the creates that reached it`

export const FAULT_STREAMS_STEP = 'faults: streams cut mid-way (command output, file download whole and streamed, watchDir, runCode), by a reset or a clean end, reject with an SDK error, never a shorter result'

export async function runFaultsScenario({ Sandbox, errors, conn, faults, run, step, skip, track = () => {} }) {
  // Calls in flight: no more than the runtime opens connections to one host at once (browsers
  // and workerd: 6), or the queued ones wait for stalled ones and miss their deadline.
  const concurrency = faults.concurrency ?? 24
  const seed = faults.seed ?? 0x5eedf417
  const tag = `faults-${Math.random().toString(36).slice(2, 10)}`
  const through = { ...conn, apiUrl: faults.url, sandboxUrl: faults.url, requestTimeoutMs: REQUEST_TIMEOUT_MS, retries: 40 }

  await step(FAULT_CALLS_STEP, async () => {
    const made = []
    try {
      for (let i = 0; i < 5; i++) {
        made.push(await Sandbox.create({ ...conn, metadata: { run, faults: tag } }))
        track(made.at(-1).sandboxId)
      }
      const first = made[0]
      await first.files.write('/home/user/fault.txt', 'fault data')
      for (const name of ['a', 'b', 'c']) await first.files.write(`/home/user/faultdir/${name}`, name)
      const paginator = Sandbox.list({ ...conn, query: { metadata: { run, faults: tag } }, limit: 2 })
      await paginator.nextItems()
      const token = paginator.nextToken
      assert(typeof token === 'string' && token.length > 0, 'a second page')
      const id = first.sandboxId
      // The handle is made directly; its daemon calls go through the proxy.
      const sbx = await Sandbox.connect(id, { ...through, apiUrl: conn.apiUrl })

      await plan(faults, { seed, rates: RATES })
      const calls = Array.from({ length: CALLS }, (_, i) => async () => {
        switch (i % 6) {
          case 0:
            assertEqual((await Sandbox.getInfo(id, through)).sandboxId, id, 'getInfo')
            break
          case 1:
          case 2: {
            const p = Sandbox.list({ ...through, query: { metadata: { run, faults: tag } }, limit: 2, ...(i % 6 === 2 ? { nextToken: token } : {}) })
            assertEqual((await p.nextItems()).length, 2, 'a page')
            break
          }
          case 3:
            await Sandbox.setTimeout(id, 600_000, through)
            break
          case 4:
            assertEqual(await sbx.files.read('/home/user/fault.txt'), 'fault data', 'files.read')
            break
          default:
            assertEqual((await sbx.files.list('/home/user/faultdir')).length, 3, 'files.list')
            assert(await sbx.files.exists('/home/user/fault.txt'), 'files.exists')
        }
      })
      const started = Date.now()
      // Each call's time, so that a TimeoutError that met no stall can be told apart.
      const timed = calls.map((call) => async () => {
        const t0 = Date.now()
        try {
          return await call()
        } catch (error) {
          error.callMs = Date.now() - t0
          error.callT0 = t0
          throw error
        }
      })
      const outcomes = await pool(timed, concurrency)
      const took = Date.now() - started
      const seen = await counts(faults)
      await plan(faults, {})
      const failed = outcomes.map((o, i) => ({ ...o, i })).filter((o) => !o.ok)
      const wrong = failed.filter((o) => !(o.error instanceof errors.TimeoutError))
      const byName = {}
      for (const o of wrong) byName[o.error?.name ?? typeof o.error] = (byName[o.error?.name ?? typeof o.error] ?? 0) + 1
      assert(wrong.length === 0, `${wrong.length} calls failed otherwise than with TimeoutError (${JSON.stringify(byName)}): ${wrong.slice(0, 3).map((o) => `call ${o.i}: ${describeError(o.error)}`).join('; ')}`)
      const stalls = seen.counts.stall ?? 0
      assertEqual(failed.length, stalls, `TimeoutErrors (one per stall; ${failed.map((o) => `call ${o.i} at ${o.error.callT0} after ${o.error.callMs} ms: ${o.error.message}`).join('; ')})`)
      const requests = Object.values(seen.counts).reduce((a, b) => a + b, 0)
      for (const kind of ['429 Retry-After seconds', '429 Retry-After date', '429 RateLimit-Reset', 'reset before the server', 'reset after the server', '503']) {
        assert((seen.counts[kind] ?? 0) > 0, `no request met "${kind}": ${JSON.stringify(seen.counts)}`)
      }
      return `seed ${seed}: ${CALLS} calls, ${requests} requests in ${took} ms; ${JSON.stringify(seen.counts)}; ${failed.length} TimeoutErrors`
    } finally {
      await plan(faults, {}).catch(() => {})
      for (const s of made) await Sandbox.kill(s.sandboxId, conn).catch(() => {})
    }
  }, { timeoutMs: 300_000 })

  await step(FAULT_CREATES_STEP, async () => {
    const createTag = `${tag}-creates`
    await plan(faults, { seed: seed + 1, rates: RATES })
    let outcomes
    let seen
    try {
      outcomes = await pool(Array.from({ length: CREATES }, (_, i) => () => Sandbox.create({ ...through, requestTimeoutMs: 10_000, metadata: { run, faults: createTag, i: String(i) } })), concurrency)
    } finally {
      seen = await counts(faults)
      await plan(faults, {})
    }
    const listed = []
    const p = Sandbox.list({ ...conn, query: { metadata: { run, faults: createTag } } })
    while (p.hasNext) listed.push(...(await p.nextItems()))
    for (const s of listed) track(s.sandboxId)
    try {
      const per = new Map()
      for (const s of listed) per.set(s.metadata.i, (per.get(s.metadata.i) ?? 0) + 1)
      const twice = [...per].filter(([, n]) => n > 1)
      assert(twice.length === 0, `sandboxes made twice: ${JSON.stringify(twice)}`)
      const errorsSeen = {}
      for (const [i, o] of outcomes.entries()) {
        if (o.ok) {
          assert(listed.some((s) => s.sandboxId === o.value.sandboxId), `create ${i} succeeded but sandkitd does not have it`)
          continue
        }
        const typed = o.error instanceof errors.ServiceBusyError || o.error instanceof errors.TimeoutError || o.error instanceof errors.SandboxError
        assert(typed, `create ${i}: ${describeError(o.error)}`)
        const name = o.error.name ?? 'Error'
        errorsSeen[name] = (errorsSeen[name] ?? 0) + 1
      }
      assertEqual(listed.length, seen.createsActed, 'sandboxes held (the creates that reached sandkitd)')
      const ok = outcomes.filter((o) => o.ok).length
      assert(ok > 0, 'no create succeeded')
      return `${ok} created, errors ${JSON.stringify(errorsSeen)}; sandkitd acted on ${seen.createsActed} and holds ${listed.length}`
    } finally {
      for (const s of listed) await Sandbox.kill(s.sandboxId, conn).catch(() => {})
    }
  }, { timeoutMs: 120_000 })

  if (faults.skipStreams) return skip(FAULT_STREAMS_STEP, faults.skipStreams)
  await step(FAULT_STREAMS_STEP, async () => {
    const sbx = await Sandbox.create({ ...conn, metadata: { run, faults: `${tag}-streams` } })
    track(sbx.sandboxId)
    const details = []
    try {
      const size = 1_000_000
      // Incompressible (xorshift), so that a client asking for gzip still gets a body the cut falls in.
      let x = 0x9e3779b9
      const data = new Uint8Array(size).map(() => {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        return x & 0xff
      })
      await sbx.files.write('/home/user/big.bin', data)
      await sbx.files.makeDir('/home/user/watched')
      const viaProxy = await Sandbox.connect(sbx.sandboxId, { ...conn, sandboxUrl: faults.url, requestTimeoutMs: 20_000 })
      const isSdkError = (e) => e instanceof errors.SandboxError && !(errors.CommandExitError && e instanceof errors.CommandExitError)
      // `what` is cut after `bytes` of its answer; `call` must reject with an SDK error.
      const cut = async (what, match, bytes, call) => {
        for (const reset of [true, false]) {
          await plan(faults, { cut: { match, bytes, reset } })
          let value
          try {
            value = await call()
          } catch (err) {
            assert(isSdkError(err), `${what} (${reset ? 'reset' : 'clean end'}): ${describeError(err)} is not an SDK error`)
            details.push(`${what} ${reset ? 'reset' : 'end'}: ${err.name}`)
            continue
          } finally {
            await plan(faults, {})
          }
          assert(false, `${what} (${reset ? 'reset' : 'clean end'}): a cut answer came back as ${typeof value === 'string' ? `${value.length} characters` : value?.length !== undefined ? `${value.length} bytes` : JSON.stringify(value)?.slice(0, 80)}`)
        }
      }
      // Uncut, through the same proxy, each is whole.
      assertEqual((await viaProxy.commands.run("head -c 300000 /dev/zero | tr '\\0' a")).stdout.length, 300_000, 'uncut output')
      assertEqual((await viaProxy.files.read('/home/user/big.bin', { format: 'bytes' })).length, size, 'uncut download')

      await cut('commands.run output', '/process.Process/Start', 20_000, () => viaProxy.commands.run("head -c 300000 /dev/zero | tr '\\0' a"))
      await cut('files.read', '/files', 300_000, () => viaProxy.files.read('/home/user/big.bin', { format: 'bytes' }))
      await cut('files.read stream', '/files', 300_000, async () => {
        const stream = await viaProxy.files.read('/home/user/big.bin', { format: 'stream' })
        const reader = stream.getReader()
        let n = 0
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return { length: n }
          n += value.length
        }
      })
      await cut('watchDir', '/filesystem.Filesystem/WatchDir', 1_500, async () => {
        let exited
        const ended = new Promise((resolve) => (exited = resolve))
        const events = []
        const handle = await viaProxy.files.watchDir('/home/user/watched', (e) => events.push(e), { onExit: (err) => exited(err) })
        for (let i = 0; i < 40; i++) await sbx.files.write(`/home/user/watched/f${i}-${Math.random()}`, 'x')
        const err = await Promise.race([ended, new Promise((resolve) => setTimeout(() => resolve('still watching'), 15_000))])
        await handle.stop()
        if (err instanceof Error) throw err
        return `${events.length} events, then ${err === undefined ? 'a clean end' : err}`
      })
      if (typeof viaProxy.runCode === 'function') {
        assertEqual((await viaProxy.runCode("print('x' * 60)")).logs.stdout.join(''), `${'x'.repeat(60)}\n`, 'uncut runCode')
        await cut('runCode', '/execute', 20_000, async () => {
          const execution = await viaProxy.runCode("for i in range(3000):\n    print('x' * 60, flush=True)")
          return execution.logs.stdout.join('')
        })
      } else details.push('runCode: not in this Sandbox')
      return details.join('; ')
    } finally {
      await plan(faults, {}).catch(() => {})
      await sbx.kill().catch(() => {})
    }
  }, { timeoutMs: 120_000 })
}
