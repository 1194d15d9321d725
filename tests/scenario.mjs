// The one JS scenario every runtime runs: Node (napi and wasm), workerd, headless Chromium, and
// the official `e2b` package for comparison. It uses nothing but the SDK under test and the
// web platform (fetch-free: every request goes through the SDK), so it runs unchanged in Node,
// workerd and browsers.
//
//   const summary = await runScenario({ Sandbox, errors, opts, log, check })
//
// - Sandbox: the SDK's Sandbox class.
// - errors: an object holding the SDK's error classes by name (the module namespace will do).
// - opts: { apiKey, apiUrl, sandboxUrl, otherTeamKey, redirectUrl, ...more connection options }.
//   Every call gets the connection options explicitly (browsers and workers have no
//   environment); otherTeamKey is a key of a second team, used for the isolation checks;
//   redirectUrl (optional) answers every request with a redirect to sandkitd
//   (tests/harness/redirector.mjs).
// - log(line): optional progress messages.
// - check(result): optional, called after every check with { name, ok, skipped?, error?, detail?, ms }.
// - config: optional { bulk: 260, batch: 26, expectedFailures: { [checkName]: reason },
//   limited: a sandkitd with small limits for the rate-limit steps (see scenario-limits.mjs),
//   restartable: a sandkitd with a state directory the runner restarts (scenario-restart.mjs),
//   network: the test's outside world, or { unavailable: reason } (scenario-network.mjs),
//   faults: a fault-injecting proxy in front of sandkitd (scenario-faults.mjs),
//   secrets: recording proxies in front of sandkitd's control plane and sandboxes
//   (scenario-secrets.mjs) }.
//   A check listed in expectedFailures that fails is reported as { ok: true, skipped: true,
//   expectedFailure: true } (a known, documented difference, e.g. of the official e2b package);
//   if it passes it is an ordinary pass.
//
// Resolves to { passed, failed, skipped, results }. It never rejects: a failure of the scenario
// itself is reported as a failed check. Every sandbox it creates is tagged with a unique run tag
// in its metadata (so concurrent runs cannot disturb each other) and killed at the end.

import {
  ERROR_NAMES_MOST_SPECIFIC_FIRST,
  REQUIRED_ERRORS,
  assert,
  assertDeepEqual,
  assertEqual,
  assertNear,
  assertSameIds,
  createRunner,
  describeError,
  fail,
  isValidDate,
  show,
  sleep,
} from './checks.mjs'
import { runLimitsScenario } from './scenario-limits.mjs'
import { runRestartScenario } from './scenario-restart.mjs'
import { runNetworkScenario } from './scenario-network.mjs'
import { runInterpreterScenario } from './scenario-interpreter.mjs'
import { runSnapshotsScenario } from './scenario-snapshots.mjs'
import { runBadInputScenario } from './scenario-badinput.mjs'
import { runFaultsScenario } from './scenario-faults.mjs'
import { runSecretsScenario } from './scenario-secrets.mjs'

export async function runScenario({ Sandbox, errors = {}, opts, log = () => {}, check = () => {}, config = {} }) {
  const BULK = config.bulk ?? 260
  const BATCH = config.batch ?? 26
  const { otherTeamKey, redirectUrl, ...conn } = opts
  const otherConn = { ...conn, apiKey: otherTeamKey }
  const badConn = { ...conn, apiKey: 'sk_wrong_key_for_sandkit_tests' }
  const run = `run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`
  const createdA = new Set()
  const createdB = new Set()
  const results = []

  const { step, skip, expectError, errorClassName } = createRunner({ errors, check, config, results })
  const notFound = { Class: errors.SandboxNotFoundError, className: 'SandboxNotFoundError' }
  const authError = { Class: errors.AuthenticationError, className: 'AuthenticationError' }

  async function create(meta, more = {}, c = conn, template) {
    const o = { ...c, metadata: { run, ...meta }, ...more }
    const sbx = template === undefined ? await Sandbox.create(o) : await Sandbox.create(template, o)
    ;(c === otherConn ? createdB : createdA).add(sbx.sandboxId)
    return sbx
  }
  /** Every item of a listing, page by page, with a cap so a broken paginator cannot loop forever. */
  async function listAll(listOpts, { maxPages = 1000, pages } = {}) {
    const p = Sandbox.list(listOpts)
    const items = []
    let n = 0
    while (p.hasNext) {
      if (++n > maxPages) fail(`more than ${maxPages} pages: the paginator does not end`)
      const page = await p.nextItems()
      if (!Array.isArray(page)) fail(`nextItems() returned ${show(page)}, not an array`)
      pages?.push(page.length)
      items.push(...page)
    }
    return items
  }
  const ids = (items) => items.map((i) => i.sandboxId)
  const inRun = (meta = {}) => ({ metadata: { run, ...meta } })

  log(`run tag ${run}`)
  try {
    // ── exports ────────────────────────────────────────────────────────────────────────────
    await step('exports: Sandbox and the error classes', () => {
      assert(typeof Sandbox === 'function', 'Sandbox is not a class')
      for (const m of ['create', 'connect', 'list', 'kill', 'setTimeout', 'getInfo']) {
        assert(typeof Sandbox[m] === 'function', `Sandbox.${m} is missing`)
      }
      const missing = REQUIRED_ERRORS.filter((n) => typeof errors[n] !== 'function')
      assert(missing.length === 0, `missing error classes: ${missing.join(', ')}`)
      if ('ALL_TRAFFIC' in errors) assertEqual(errors.ALL_TRAFFIC, '0.0.0.0/0', 'ALL_TRAFFIC')
    })
    await step('errors: class hierarchy as in e2b', () => {
      const { SandboxError, NotFoundError, SandboxNotFoundError, TimeoutError, InvalidArgumentError, RateLimitError } = errors
      assert(SandboxNotFoundError.prototype instanceof NotFoundError, 'SandboxNotFoundError does not extend NotFoundError')
      assert(NotFoundError.prototype instanceof SandboxError, 'NotFoundError does not extend SandboxError')
      for (const [n, C] of Object.entries({ TimeoutError, InvalidArgumentError, RateLimitError })) {
        assert(C.prototype instanceof SandboxError, `${n} does not extend SandboxError`)
      }
      assert(SandboxError.prototype instanceof Error, 'SandboxError does not extend Error')
      assert(errors.AuthenticationError.prototype instanceof Error, 'AuthenticationError does not extend Error')
      assert(!(errors.AuthenticationError.prototype instanceof SandboxError), 'AuthenticationError extends SandboxError (e2b: it does not)')
      assert(!(errors.ServiceBusyError.prototype instanceof SandboxError), 'ServiceBusyError extends SandboxError (e2b: it does not)')
    })

    // ── create ─────────────────────────────────────────────────────────────────────────────
    const mainMeta = { role: 'main', 'Key With Space': 'v&a=l/ü%20', Team: 'A' }
    let main
    let mainCreatedAt
    await step('create: with metadata and envs', async () => {
      mainCreatedAt = Date.now()
      main = await create(mainMeta, { envs: { GREETING: 'hello', EMPTY: '' }, timeoutMs: 120_000 })
      assert(main instanceof Sandbox, 'create() did not return a Sandbox instance')
      assert(typeof main.sandboxId === 'string' && main.sandboxId.length > 0, `sandboxId is ${show(main.sandboxId)}`)
      assert(typeof main.sandboxDomain === 'string' && main.sandboxDomain.length > 0, `sandboxDomain is ${show(main.sandboxDomain)}`)
      // Public traffic is allowed by default, so there is no token to show (as with E2B).
      assert(main.trafficAccessToken == null, `trafficAccessToken is ${show(main.trafficAccessToken)}`)
      return `id ${main.sandboxId}, domain ${main.sandboxDomain}`
    })
    const needMain = () => assert(main, 'no sandbox: "create: with metadata and envs" failed')

    await step('create: ids are unique, template given positionally', async () => {
      const a = await create({ role: 'tpl' }, { timeoutMs: 120_000 }, conn, 'base')
      needMain()
      assert(a.sandboxId !== main.sandboxId, 'two sandboxes got the same id')
      const info = await Sandbox.getInfo(a.sandboxId, conn)
      assertEqual(info.templateId, 'base', 'templateId')
    })

    await step('create: an unknown template is a SandboxError with statusCode 404 naming it', async () => {
      const err = await expectError(() => create({ role: 'no-template' }, {}, conn, 'sandkit-no-such-template'), {
        Class: errors.SandboxError,
        className: 'SandboxError',
        what: 'create from an unknown template',
      })
      assertEqual(err.statusCode, 404, 'statusCode')
      assert(err.message.includes("template 'sandkit-no-such-template' not found"), `message: ${err.message}`)
    })

    if (typeof main?.getHost === 'function') {
      await step('sandbox: getHost(port)', () => {
        assertEqual(main.getHost(49983), `49983-${main.sandboxId}.${main.sandboxDomain}`, 'getHost(49983)')
      })
    }

    // ── getInfo ────────────────────────────────────────────────────────────────────────────
    await step('getInfo: fields, Dates, metadata round-trip', async () => {
      needMain()
      const info = await Sandbox.getInfo(main.sandboxId, conn)
      assertEqual(info.sandboxId, main.sandboxId, 'sandboxId')
      assertEqual(info.templateId, 'base', 'templateId (default template)')
      assertDeepEqual(info.metadata, { run, ...mainMeta }, 'metadata')
      assertEqual(info.state, 'running', 'state')
      assert(isValidDate(info.startedAt), `startedAt is not a Date: ${show(info.startedAt)}`)
      assert(isValidDate(info.endAt), `endAt is not a Date: ${show(info.endAt)}`)
      assertNear(info.startedAt.getTime(), mainCreatedAt, 5_000, 'startedAt')
      assertNear(info.endAt.getTime() - info.startedAt.getTime(), 120_000, 1_500, 'endAt - startedAt (timeoutMs 120 000)')
      assert(Number.isInteger(info.cpuCount) && info.cpuCount > 0, `cpuCount is ${show(info.cpuCount)}`)
      assert(Number.isInteger(info.memoryMB) && info.memoryMB > 0, `memoryMB is ${show(info.memoryMB)}`)
      assert(typeof info.envdVersion === 'string' && info.envdVersion.length > 0, `envdVersion is ${show(info.envdVersion)}`)
      return `cpu ${info.cpuCount}, mem ${info.memoryMB} MB, envd ${info.envdVersion}`
    })
    await step('getInfo: instance method', async () => {
      needMain()
      const info = await main.getInfo()
      assertEqual(info.sandboxId, main.sandboxId, 'sandboxId')
      assertDeepEqual(info.metadata, { run, ...mainMeta }, 'metadata')
    })
    await step('getInfo: the deprecated Sandbox.getFullInfo is the same call', async () => {
      needMain()
      const [info, full] = await Promise.all([Sandbox.getInfo(main.sandboxId, conn), Sandbox.getFullInfo(main.sandboxId, conn)])
      assertDeepEqual(full, info, 'getFullInfo against getInfo')
      await expectError(() => Sandbox.getFullInfo(`nonexistent${run}`, conn), { ...notFound, what: 'getFullInfo' })
    })
    await step('getInfo: unknown id → SandboxNotFoundError', async () => {
      const err = await expectError(() => Sandbox.getInfo(`nonexistent${run}`, conn), { ...notFound, what: 'getInfo' })
      assertEqual(err.name, 'SandboxNotFoundError', 'error.name')
      assert(err instanceof errors.NotFoundError && err instanceof errors.SandboxError, 'not a NotFoundError/SandboxError')
    })

    // ── list: filters ──────────────────────────────────────────────────────────────────────
    const fx = {}
    const filt = { grp: 'filt' }
    await step('list fixtures: create sandboxes with case-sensitive metadata', async () => {
      const specs = {
        upperA: { Team: 'A' },
        lowerA: { team: 'a' },
        upperKeyLowerValue: { Team: 'a' },
        upperAprod: { Team: 'A', env: 'prod' },
        weird: { 'we ird': 'a&b=c/d ü%' },
      }
      await Promise.all(
        Object.entries(specs).map(async ([k, meta]) => {
          fx[k] = (await create({ ...filt, ...meta }, { timeoutMs: 300_000 })).sandboxId
        }),
      )
    })
    const needFx = () => assert(Object.keys(fx).length === 5, 'fixtures missing')
    await step('list: by metadata {Team:A} (case-sensitive)', async () => {
      needFx()
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ ...filt, Team: 'A' }) })), [fx.upperA, fx.upperAprod], '{Team:A}')
    })
    await step('list: by metadata {team:a} (keys case-sensitive)', async () => {
      needFx()
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ ...filt, team: 'a' }) })), [fx.lowerA], '{team:a}')
    })
    await step('list: by metadata {Team:a} (values case-sensitive)', async () => {
      needFx()
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ ...filt, Team: 'a' }) })), [fx.upperKeyLowerValue], '{Team:a}')
    })
    await step('list: by metadata, several pairs are ANDed', async () => {
      needFx()
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ ...filt, Team: 'A', env: 'prod' }) })), [fx.upperAprod], '{Team:A, env:prod}')
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ ...filt, Team: 'A', env: 'dev' }) })), [], '{Team:A, env:dev}')
    })
    await step('list: by metadata with spaces, &, =, /, % and non-ASCII', async () => {
      needFx()
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ 'we ird': 'a&b=c/d ü%' }) })), [fx.weird], 'weird key/value')
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ 'we ird': 'a&b=c/d ü' }) })), [], 'prefix of the value')
    })
    await step('list: items carry metadata and the same info as getInfo', async () => {
      needFx()
      const items = await listAll({ ...conn, query: inRun({ ...filt, Team: 'A', env: 'prod' }) })
      assertEqual(items.length, 1, 'items')
      const [item] = items
      const info = await Sandbox.getInfo(fx.upperAprod, conn)
      assertDeepEqual(item.metadata, { run, ...filt, Team: 'A', env: 'prod' }, 'metadata')
      assert(isValidDate(item.startedAt) && isValidDate(item.endAt), 'startedAt/endAt are not Dates')
      assertEqual(item.startedAt.getTime(), info.startedAt.getTime(), 'startedAt (list vs getInfo)')
      assertEqual(item.endAt.getTime(), info.endAt.getTime(), 'endAt (list vs getInfo)')
      for (const k of ['templateId', 'state', 'cpuCount', 'memoryMB', 'envdVersion']) assertEqual(item[k], info[k], `${k} (list vs getInfo)`)
    })
    await step('list: by state running', async () => {
      needFx()
      const items = await listAll({ ...conn, query: { state: ['running'] } })
      const bad = items.filter((i) => i.state !== 'running')
      assert(bad.length === 0, `${bad.length} items are not running (${show(bad[0]?.state)})`)
      const got = new Set(ids(items))
      const missing = Object.values(fx).filter((id) => !got.has(id))
      assert(missing.length === 0, `running sandboxes missing from the list: ${missing.join(', ')}`)
      return `${items.length} running in team`
    })
    await step('list: by state and metadata', async () => {
      needFx()
      assertSameIds(ids(await listAll({ ...conn, query: { state: ['running'], ...inRun(filt) } })), Object.values(fx), 'running + run tag')
      assertSameIds(ids(await listAll({ ...conn, query: { state: ['paused'], ...inRun(filt) } })), [], 'paused + run tag')
      assertSameIds(
        ids(await listAll({ ...conn, query: { state: ['running', 'paused'], ...inRun(filt) } })),
        Object.values(fx),
        'running,paused + run tag',
      )
    })
    await step('list: an empty result has one empty page', async () => {
      const p = Sandbox.list({ ...conn, query: inRun({ grp: 'nothing-has-this' }) })
      assertEqual(p.hasNext, true, 'hasNext before the first page')
      const page = await p.nextItems()
      assertDeepEqual(page, [], 'page')
      assertEqual(p.hasNext, false, 'hasNext after it')
      assert(!p.nextToken, `nextToken after it is ${show(p.nextToken)}`)
    })

    // ── list: pagination over many sandboxes ──────────────────────────────────────────────
    const bulk = []
    await step(`pagination fixtures: create ${BULK} sandboxes in batches of ${BATCH}`, async () => {
      // Every create must succeed, in Chromium too: a browser fails its requests in flight
      // when the host's addresses change (Chromium: ERR_NETWORK_CHANGED, "Failed to fetch"),
      // so sandkitd gives the host side of each sandbox's link no address at all, IPv6
      // link-local included, and neither does the tests' outside world. A connection error
      // here means one of them did.
      for (let k = 0; k < BULK; k += BATCH) {
        const batch = Array.from({ length: Math.min(BATCH, BULK - k) }, (_, j) => k + j)
        const made = await Promise.all(batch.map((j) => create({ grp: 'bulk', i: String(j) }, { timeoutMs: 600_000 })))
        bulk.push(...made.map((s) => s.sandboxId))
      }
      return `${bulk.length} created`
    }, { timeoutMs: 240_000 })
    const needBulk = () => assert(bulk.length === BULK, `only ${bulk.length} of ${BULK} pagination fixtures exist`)
    const bulkQuery = { ...conn, query: inRun({ grp: 'bulk' }) }

    let order100 = []
    await step('pagination: limit 100, hasNext/nextToken on every page', async () => {
      needBulk()
      const p = Sandbox.list({ ...bulkQuery, limit: 100 })
      assertEqual(p.hasNext, true, 'hasNext before the first page')
      assert(!p.nextToken, `nextToken before the first page is ${show(p.nextToken)}`)
      const sizes = []
      const items = []
      while (p.hasNext) {
        if (sizes.length > 10) fail('more than 10 pages of 100 for 260 sandboxes')
        const page = await p.nextItems()
        sizes.push(page.length)
        items.push(...page)
        if (p.hasNext) assert(typeof p.nextToken === 'string' && p.nextToken.length > 0, `hasNext but nextToken is ${show(p.nextToken)}`)
        else assert(!p.nextToken, `no next page but nextToken is ${show(p.nextToken)}`)
      }
      const expected = []
      for (let left = BULK; left > 0; left -= 100) expected.push(Math.min(100, left))
      assertDeepEqual(sizes, expected, 'page sizes')
      assertSameIds(ids(items), bulk, 'limit 100')
      order100 = ids(items)
      return `pages ${sizes.join('+')}`
    }, { timeoutMs: 60_000 })
    await step('pagination: newest first (startedAt descending)', async () => {
      needBulk()
      const items = await listAll({ ...bulkQuery, limit: 100 })
      for (let k = 1; k < items.length; k++) {
        const a = items[k - 1].startedAt.getTime()
        const b = items[k].startedAt.getTime()
        assert(a >= b, `item ${k - 1} started ${show(items[k - 1].startedAt)}, before item ${k} at ${show(items[k].startedAt)}`)
      }
    }, { timeoutMs: 60_000 })
    await step('pagination: limit 7 sees each exactly once, in the same order', async () => {
      needBulk()
      const sizes = []
      const items = await listAll({ ...bulkQuery, limit: 7 }, { pages: sizes })
      assertSameIds(ids(items), bulk, 'limit 7')
      assertEqual(sizes.length, Math.ceil(BULK / 7), 'number of pages')
      assert(sizes.slice(0, -1).every((n) => n === 7), `page sizes ${sizes.join(',')}`)
      if (order100.length === BULK) assertDeepEqual(ids(items), order100, 'order (limit 7 vs limit 100)')
      return `${sizes.length} pages`
    }, { timeoutMs: 90_000 })
    await step('pagination: a new paginator resumes from a nextToken', async () => {
      needBulk()
      const p = Sandbox.list({ ...bulkQuery, limit: 100 })
      const first = await p.nextItems()
      const second = await p.nextItems()
      const token = Sandbox.list({ ...bulkQuery, limit: 100 })
      await token.nextItems()
      const resumed = Sandbox.list({ ...bulkQuery, limit: 100, nextToken: token.nextToken })
      const again = await resumed.nextItems()
      assertDeepEqual(ids(again), ids(second), 'first page after resuming')
      assert(!ids(again).some((id) => ids(first).includes(id)), 'resumed page repeats items of the first page')
    })
    await step('pagination: nextItems() after the end throws', async () => {
      needBulk()
      const p = Sandbox.list({ ...bulkQuery, limit: 100 })
      while (p.hasNext) await p.nextItems()
      const err = await expectError(() => p.nextItems(), { what: 'nextItems() after the last page' })
      return `${errorClassName(err)}: ${err.message}`
    }, { timeoutMs: 60_000 })
    {
      const probe = Sandbox.list({ ...bulkQuery, limit: 100 })
      if (typeof probe[Symbol.asyncIterator] === 'function') {
        await step('pagination: for await over the paginator (limit 100 and 7)', async () => {
          needBulk()
          for (const limit of [100, 7]) {
            const seen = []
            for await (const item of Sandbox.list({ ...bulkQuery, limit })) {
              assert(item && typeof item.sandboxId === 'string', `for await yielded ${show(item)}, not a SandboxInfo`)
              seen.push(item.sandboxId)
              if (seen.length > BULK * 2) fail('for await does not end')
            }
            assertSameIds(seen, bulk, `for await, limit ${limit}`)
          }
        }, { timeoutMs: 90_000 })
      } else {
        skip('pagination: for await over the paginator (limit 100 and 7)', 'the paginator is not async-iterable')
      }
    }

    // ── list under churn (issue 15 §2; sandkit-server/tests/list_churn.rs does 10,000) ───
    // Real sandboxes here, so fewer: CHURN of them paged 10 at a time while a fifth are killed
    // and a tenth more are made, each round's kills and creates running alongside its page.
    const CHURN = config.churn ?? 100
    const churnPool = []
    await step(`list under churn: fixtures, ${CHURN} sandboxes`, async () => {
      for (let i = 0; i < CHURN; i += BATCH) {
        const n = Math.min(BATCH, CHURN - i)
        const made = await Promise.all(Array.from({ length: n }, () => create({ grp: 'churn' }, { timeoutMs: 600_000 })))
        churnPool.push(...made.map((s) => s.sandboxId))
      }
      return `${churnPool.length} created`
    }, { timeoutMs: 240_000 })
    for (const [order, state] of [['desc', undefined], ['asc', undefined], ['desc', ['running']], ['asc', ['running']]]) {
      const what = `order ${order}${state ? `, state ${state}` : ''}, metadata filter`
      await step(`list under churn: ${what}: none twice, no survivor skipped, while a fifth are killed and more made`, async () => {
        assert(churnPool.length >= CHURN, `only ${churnPool.length} of ${CHURN} fixtures`)
        const before = new Set(churnPool)
        // Every fifth, spread over the listing: some already listed when killed, some not.
        const victims = churnPool.filter((_, i) => i % 5 === 2)
        const adds = Math.ceil(churnPool.length / 10)
        const limit = 10
        const rounds = Math.max(1, Math.floor(churnPool.length / limit / 2))
        const p = Sandbox.list({ ...conn, query: { ...inRun({ grp: 'churn' }), ...(state ? { state } : {}) }, limit, order })
        const seen = []
        const killed = new Set()
        const added = new Set()
        let pages = 0
        while (p.hasNext) {
          if (++pages > 100) fail('more than 100 pages: the paginator does not end')
          const kills = victims.splice(0, Math.ceil(victims.length / Math.max(1, rounds - pages + 1)))
          const n = Math.min(adds - added.size, Math.ceil(adds / rounds))
          const [page, , made] = await Promise.all([
            p.nextItems(),
            Promise.all(kills.map(async (id) => assertEqual(await Sandbox.kill(id, conn), true, `kill ${id}`))),
            Promise.all(Array.from({ length: n }, () => create({ grp: 'churn' }, { timeoutMs: 600_000 }))),
          ])
          seen.push(...ids(page))
          for (const id of kills) killed.add(id)
          for (const s of made) added.add(s.sandboxId)
        }
        assert(victims.length === 0, `the listing ended (${pages} pages) before the kills did`)
        const unique = new Set(seen)
        assertEqual(seen.length - unique.size, 0, 'sandboxes listed twice')
        const skipped = [...before].filter((id) => !killed.has(id) && !unique.has(id))
        assertSameIds(skipped, [], 'survivors skipped')
        const strangers = seen.filter((id) => !before.has(id) && !added.has(id))
        assertSameIds(strangers, [], 'listed but neither a fixture nor made meanwhile')
        // The next round starts from what is left, topped up to CHURN again.
        churnPool.splice(0, churnPool.length, ...[...before].filter((id) => !killed.has(id)), ...added)
        const top = Math.max(0, CHURN - churnPool.length)
        const more = await Promise.all(Array.from({ length: top }, () => create({ grp: 'churn' }, { timeoutMs: 600_000 })))
        churnPool.push(...more.map((s) => s.sandboxId))
        return `${pages} pages, ${seen.length} listed, ${before.size - killed.size} survivors all seen, ${killed.size} killed and ${added.size} made meanwhile`
      }, { timeoutMs: 180_000 })
    }

    // ── setTimeout, connect ────────────────────────────────────────────────────────────────
    await step('setTimeout: static call moves endAt', async () => {
      needMain()
      const t0 = Date.now()
      await Sandbox.setTimeout(main.sandboxId, 600_000, conn)
      const info = await Sandbox.getInfo(main.sandboxId, conn)
      assertNear(info.endAt.getTime(), t0 + 600_000, 3_000, 'endAt after setTimeout(600 000)')
    })
    await step('setTimeout: instance call can shorten it', async () => {
      needMain()
      const t0 = Date.now()
      await main.setTimeout(60_000)
      const info = await main.getInfo()
      assertNear(info.endAt.getTime(), t0 + 60_000, 3_000, 'endAt after setTimeout(60 000)')
    })
    await step('connect: static, returns a Sandbox with the same id', async () => {
      needMain()
      const s = await Sandbox.connect(main.sandboxId, conn)
      assert(s instanceof Sandbox, 'connect() did not return a Sandbox')
      assertEqual(s.sandboxId, main.sandboxId, 'sandboxId')
      assert(typeof s.sandboxDomain === 'string' && s.sandboxDomain.length > 0, `sandboxDomain is ${show(s.sandboxDomain)}`)
    })
    await step('connect: extends the lifetime, never shortens it', async () => {
      needMain()
      await Sandbox.setTimeout(main.sandboxId, 60_000, conn)
      const t0 = Date.now()
      await Sandbox.connect(main.sandboxId, { ...conn, timeoutMs: 400_000 })
      const longer = await Sandbox.getInfo(main.sandboxId, conn)
      assertNear(longer.endAt.getTime(), t0 + 400_000, 3_000, 'endAt after connect(timeoutMs 400 000)')
      await Sandbox.connect(main.sandboxId, { ...conn, timeoutMs: 10_000 })
      const same = await Sandbox.getInfo(main.sandboxId, conn)
      assert(same.endAt.getTime() >= longer.endAt.getTime() - 1_000, `connect(timeoutMs 10 000) shortened endAt to ${show(same.endAt)}`)
    })
    await step('connect: instance method', async () => {
      needMain()
      const s = await main.connect()
      assert(s instanceof Sandbox, 'connect() did not return a Sandbox')
      assertEqual(s.sandboxId, main.sandboxId, 'sandboxId')
    })
    await step('connect: unknown id → SandboxNotFoundError', async () => {
      await expectError(() => Sandbox.connect(`nonexistent${run}`, conn), { ...notFound, what: 'connect' })
    })

    // ── teams ──────────────────────────────────────────────────────────────────────────────
    await step('teams: another team cannot see the sandbox (getInfo, list)', async () => {
      needMain()
      await expectError(() => Sandbox.getInfo(main.sandboxId, otherConn), { ...notFound, what: 'getInfo by team B' })
      const items = await listAll({ ...otherConn, query: inRun() })
      assertSameIds(ids(items), [], 'team B listing team A run')
    })
    await step('teams: another team cannot kill, setTimeout or connect it', async () => {
      needMain()
      assertEqual(await Sandbox.kill(main.sandboxId, otherConn), false, 'kill by team B')
      await expectError(() => Sandbox.setTimeout(main.sandboxId, 30_000, otherConn), { ...notFound, what: 'setTimeout by team B' })
      await expectError(() => Sandbox.connect(main.sandboxId, otherConn), { ...notFound, what: 'connect by team B' })
      const info = await Sandbox.getInfo(main.sandboxId, conn)
      assertEqual(info.state, 'running', 'state for team A afterwards')
    })
    await step("teams: team A does not see team B's sandboxes", async () => {
      const b = await create({ grp: 'teamb' }, { timeoutMs: 120_000 }, otherConn)
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ grp: 'teamb' }) })), [], 'team A listing')
      assertSameIds(ids(await listAll({ ...otherConn, query: inRun({ grp: 'teamb' }) })), [b.sandboxId], 'team B listing')
      await expectError(() => Sandbox.getInfo(b.sandboxId, conn), { ...notFound, what: 'getInfo by team A' })
    })

    // ── authentication ─────────────────────────────────────────────────────────────────────
    await step('auth: a wrong API key → AuthenticationError (list, getInfo, create, kill)', async () => {
      needMain()
      const e1 = await expectError(() => Sandbox.list({ ...badConn, query: inRun() }).nextItems(), { ...authError, what: 'list' })
      await expectError(() => Sandbox.getInfo(main.sandboxId, badConn), { ...authError, what: 'getInfo' })
      await expectError(() => create({ grp: 'badkey' }, {}, badConn), { ...authError, what: 'create' })
      await expectError(() => Sandbox.kill(main.sandboxId, badConn), { ...authError, what: 'kill' })
      assertEqual(e1.name, 'AuthenticationError', 'error.name')
      assert(!(e1 instanceof errors.SandboxError), 'AuthenticationError is a SandboxError (e2b: it is not)')
      return e1.message
    })

    // ── redirects ──────────────────────────────────────────────────────────────────────────
    // Credentials travel in custom headers, which fetch and HTTP clients keep when they follow
    // a redirect to another host. The redirector points at the real server: a client that
    // followed would succeed there.
    const redirectName = 'redirects: refused, so the API key and access token are not sent on (API and sandbox)'
    if (!redirectUrl) skip(redirectName, 'the runner started no redirector')
    else await step(redirectName, async () => {
      needMain()
      const sandboxError = { Class: errors.SandboxError, className: 'SandboxError' }
      const e1 = await expectError(() => Sandbox.getInfo(main.sandboxId, { ...conn, apiUrl: redirectUrl }), { ...sandboxError, what: 'getInfo through a redirecting apiUrl' })
      assert(/redirect/.test(e1.message), `the message does not say redirect: ${e1.message}`)
      assert(!e1.message.includes('redirected=1'), `the message shows the target's query: ${e1.message}`)
      const through = await Sandbox.connect(main.sandboxId, { ...conn, sandboxUrl: redirectUrl })
      const e2 = await expectError(() => through.files.read('/etc/hostname'), { ...sandboxError, what: 'files.read through a redirecting sandboxUrl' })
      assert(/redirect/.test(e2.message), `the message does not say redirect: ${e2.message}`)
      return e1.message
    })

    // ── secrets ────────────────────────────────────────────────────────────────────────────
    // Objects get printed and serialized (logs, error reports, JSON): neither the API key nor a
    // sandbox's access token may show there.
    await step('secrets: the API key and the access token show in no String, JSON.stringify or (Node) util.inspect of a sandbox, its parts, its info or an error', async () => {
      needMain()
      const res = await fetch(`${conn.apiUrl}/sandboxes/${main.sandboxId}`, { headers: { 'X-API-Key': conn.apiKey } })
      const token = (await res.json()).envdAccessToken
      assert(typeof token === 'string' && token.length > 8, 'sandkitd gave no access token to look for')
      let inspect = null
      if (globalThis.process?.versions?.node && !globalThis.navigator?.userAgent?.includes('Cloudflare')) {
        inspect = await import('node:util').then((m) => m.inspect, () => null)
      }
      let authError
      try {
        await Sandbox.list(badConn).nextItems()
      } catch (err) {
        authError = err
      }
      assert(authError, 'a wrong API key was accepted')
      const subjects = { sandbox: main, commands: main.commands, files: main.files, pty: main.pty, info: await main.getInfo(), error: authError }
      const texts = []
      for (const [name, value] of Object.entries(subjects)) {
        texts.push([`String(${name})`, String(value)])
        texts.push([`JSON.stringify(${name})`, JSON.stringify(value) ?? ''])
        if (inspect) texts.push([`util.inspect(${name})`, inspect(value, { depth: 6, showHidden: true })])
      }
      for (const [what, text] of texts) {
        assert(!text.includes(conn.apiKey), `${what} shows the API key`)
        assert(!text.includes(badConn.apiKey), `${what} shows the wrong API key it was given`)
        assert(!text.includes(token), `${what} shows the access token`)
      }
      return `${texts.length} renderings${inspect ? ', util.inspect among them' : ''}`
    })

    // Which host gets which secret, through recording proxies of the runner's.
    await runSecretsScenario({ Sandbox, errors, conn, secrets: config.secrets, run, step, skip, track: (id) => createdA.add(id) })

    // ── kill ───────────────────────────────────────────────────────────────────────────────
    await step('kill: static → true, again → false', async () => {
      const s = await create({ grp: 'kill' }, { timeoutMs: 120_000 })
      assertEqual(await Sandbox.kill(s.sandboxId, conn), true, 'first kill')
      assertEqual(await Sandbox.kill(s.sandboxId, conn), false, 'second kill')
      await expectError(() => Sandbox.getInfo(s.sandboxId, conn), { ...notFound, what: 'getInfo after kill' })
      await expectError(() => Sandbox.setTimeout(s.sandboxId, 30_000, conn), { ...notFound, what: 'setTimeout after kill' })
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ grp: 'kill' }) })), [], 'list after kill')
    })
    await step('kill: instance → true, again → false', async () => {
      const s = await create({ grp: 'kill2' }, { timeoutMs: 120_000 })
      assertEqual(await s.kill(), true, 'first kill')
      assertEqual(await s.kill(), false, 'second kill')
      await expectError(() => s.getInfo(), { ...notFound, what: 'instance getInfo after kill' })
    })
    await step('kill: getInfo on a killed sandbox → SandboxNotFoundError (instanceof)', async () => {
      const s = await create({ grp: 'kill3' }, { timeoutMs: 120_000 })
      await Sandbox.kill(s.sandboxId, conn)
      const err = await expectError(() => Sandbox.getInfo(s.sandboxId, conn), { ...notFound, what: 'getInfo' })
      assert(err instanceof errors.SandboxError, 'not a SandboxError')
      return err.message
    })

    // ── expiry ─────────────────────────────────────────────────────────────────────────────
    await step('expiry: a sandbox with timeoutMs 1000 disappears within a few seconds', async () => {
      const s = await create({ grp: 'expire' }, { timeoutMs: 1_000 })
      const t0 = Date.now()
      const info = await Sandbox.getInfo(s.sandboxId, conn)
      assertNear(info.endAt.getTime() - info.startedAt.getTime(), 1_000, 500, 'endAt - startedAt')
      let gone = false
      while (Date.now() - t0 < 8_000) {
        await sleep(200)
        try {
          await Sandbox.getInfo(s.sandboxId, conn)
        } catch (err) {
          if (!(err instanceof errors.SandboxNotFoundError)) throw err
          gone = true
          break
        }
      }
      assert(gone, 'still there 8 s after its 1 s timeout')
      const after = Date.now() - t0
      assertSameIds(ids(await listAll({ ...conn, query: inRun({ grp: 'expire' }) })), [], 'list after expiry')
      assertEqual(await Sandbox.kill(s.sandboxId, conn), false, 'kill after expiry')
      return `gone after ≈${after} ms`
    }, { timeoutMs: 20_000 })

    // ── bad input ─────────────────────────────────────────────────────────────────────────
    // Each must fail with an Error, promptly; `sdkClass`: with one of the SDK's error classes.
    // `mentions`: the message must name the offending field.
    const badInput = (name, fn, { sdkClass = false, mentions } = {}) =>
      step(`bad input: ${name} → ${sdkClass ? 'an SDK error' : 'an error'}${mentions ? ` naming ${mentions}` : ''}`, async () => {
        const err = await expectError(fn, { what: name })
        if (sdkClass && !ERROR_NAMES_MOST_SPECIFIC_FIRST.some((n) => typeof errors[n] === 'function' && err instanceof errors[n])) {
          fail(`${name}: threw ${describeError(err)}, which is none of the SDK's error classes`)
        }
        if (mentions && !err.message.includes(mentions)) fail(`${name}: the message does not name ${mentions}: ${err.message}`)
        return `${errorClassName(err)}${err.statusCode !== undefined ? ` [${err.statusCode}]` : ''}: ${err.message}`
      })
    await badInput('list limit 0', () => Sandbox.list({ ...conn, query: inRun(), limit: 0 }).nextItems(), { sdkClass: true })
    await badInput('list limit 101', () => Sandbox.list({ ...conn, query: inRun(), limit: 101 }).nextItems(), { sdkClass: true })
    await badInput('metadata value that is not a string', () => create({ grp: 'bad', n: 42 }, { timeoutMs: 60_000 }), { mentions: 'metadata.n' })
    await badInput('timeoutMs that is a string', () => create({ grp: 'bad' }, { timeoutMs: '60000' }), { sdkClass: true, mentions: 'timeoutMs' })
    await badInput('list metadata filter value that is not a string', () => Sandbox.list({ ...conn, query: { metadata: { run, n: 1 } } }).nextItems(), { sdkClass: true, mentions: 'query.metadata.n' })
    await badInput('envs that is not an object', () => create({ grp: 'bad' }, { envs: 'A=1' }), { sdkClass: true, mentions: 'envs' })
    await badInput('timeoutMs NaN on create', () => create({ grp: 'bad' }, { timeoutMs: NaN }), { sdkClass: true })
    await badInput('absurd timeoutMs on create (1e15)', () => create({ grp: 'bad' }, { timeoutMs: 1e15 }), { sdkClass: true })
    await badInput('setTimeout(Infinity)', async () => {
      needMain()
      await main.setTimeout(Infinity)
    }, { sdkClass: true })
    await badInput("getInfo of a malformed id ('../../v2/sandboxes')", () => Sandbox.getInfo('../../v2/sandboxes', conn), { sdkClass: true })
    await badInput("getInfo('')", () => Sandbox.getInfo('', conn))
    await badInput("kill('')", () => Sandbox.kill('', conn))
    await badInput('negative timeoutMs on create', () => create({ grp: 'bad' }, { timeoutMs: -5_000 }))
    // updateNetwork reaches sandkitd, both forms (what it changes: scenario-network.mjs).
    await step('updateNetwork: sandbox and static forms are answered 204', async () => {
      needMain()
      await main.updateNetwork({})
      await Sandbox.updateNetwork(main.sandboxId, { allowInternetAccess: true }, conn)
    })
    // Network options: refused before anything is sent, with InvalidArgumentError naming the
    // field (the official words where the official SDK checks too); a password never shown.
    const badNetwork = (name, fn, mentions) =>
      step(`bad input: ${name} → InvalidArgumentError naming ${mentions}`, async () => {
        const err = await expectError(fn, { Class: errors.InvalidArgumentError, className: 'InvalidArgumentError', what: name })
        if (!err.message.includes(mentions)) fail(`${name}: the message does not name ${mentions}: ${err.message}`)
        if (err.message.includes('hunter2')) fail(`${name}: the message shows the proxy password`)
        return err.message
      })
    const net = (network) => create({ grp: 'bad' }, { timeoutMs: 60_000, network })
    await badNetwork('network.allowOut that is a string', () => net({ allowOut: '1.1.1.1' }), 'network.allowOut')
    await badNetwork('network.denyOut callback returning a number', () => net({ denyOut: () => 5 }), 'network.denyOut')
    await badNetwork('network.denyOut holding a number', () => net({ denyOut: ['10.0.0.0/8', 1] }), 'network.denyOut')
    await badNetwork('network.httpsPorts with the envd port', () => net({ httpsPorts: [49983] }), 'network.httpsPorts')
    await badNetwork('network.rules host whose rules are not an array', () => net({ rules: { 'a.test': {} } }), 'network.rules')
    await badNetwork('network.rules header value that is not a string', () => net({ rules: { 'a.test': [{ transform: { headers: { A: 1 } } }] } }), 'headers.A')
    await badNetwork('network.rules transform callback that is async', () => net({ rules: { 'a.test': [{ transform: async () => ({}) }] } }), 'transform')
    await badNetwork('network.rules transform callback returning a string', () => net({ rules: new Map([['a.test', [{ transform: () => 'x' }]]]) }), 'transform')
    await badNetwork('network.egressProxy without an address', () => net({ egressProxy: { username: 'u', password: 'hunter2' } }), 'egressProxy')
    await badNetwork('network.egressProxy that is a string', () => net({ egressProxy: 'proxy.test:1080' }), 'egressProxy')
    await badNetwork('network.egressProxy password that is a number', () => net({ egressProxy: { address: 'p:1080', password: 7 } }), 'egressProxy.password')
    await badNetwork('updateNetwork with an egressProxy without an address', () => Sandbox.updateNetwork('no-such-sandbox', { egressProxy: { password: 'hunter2' } }, conn), 'egressProxy')
    await badNetwork('updateNetwork with rules that are a string', () => Sandbox.updateNetwork('no-such-sandbox', { rules: 'a.test' }, conn), 'network.rules')
    await badNetwork('updateNetwork with a network that is a string', () => Sandbox.updateNetwork('no-such-sandbox', 'deny all', conn), 'network')
    await badInput('forged nextToken (garbage)', () => Sandbox.list({ ...conn, query: inRun(), nextToken: 'not-a-token!!' }).nextItems())
    await badInput('forged nextToken (base64 of garbage)', () =>
      Sandbox.list({ ...conn, query: inRun(), nextToken: 'Zm9yZ2VkLWN1cnNvcg' }).nextItems(),
    )
    // The wider matrix: every option of every call, each named in its message.
    if (main) await runBadInputScenario({ Sandbox, errors, conn, main, run, step, expectError, listAll })
    else skip('bad input: the matrix of every option', 'the main sandbox was not created')

    // ── rate limits (a second sandkitd with small ones) ──────────────────────────────────
    if (config.limited) await runLimitsScenario({ Sandbox, errors, conn, limited: config.limited, run, step, expectError })
    else skip('rate limits: bursts over small limits', 'the runner started no sandkitd with small limits')

    // ── faults (a fault-injecting proxy of the runner's in front of sandkitd) ─────────────
    if (config.faults) await runFaultsScenario({ Sandbox, errors, conn, faults: config.faults, run, step, skip, track: (id) => createdA.add(id) })
    else skip('faults: calls and creates through a fault-injecting proxy', 'the runner started no fault proxy')

    // ── the code interpreter (the official package's own Sandbox class in the e2b run) ───
    const Interpreter = config.interpreterSandbox ?? (typeof Sandbox.prototype?.runCode === 'function' ? Sandbox : null)
    if (Interpreter) await runInterpreterScenario({ Sandbox: Interpreter, errors, conn, step, expectError })
    else skip('runCode: the code interpreter', 'this Sandbox has no runCode')

    // ── snapshots and forks (the official package's methods; sandkit's SDK lacks them yet) ──
    if (typeof Sandbox.createSnapshot === 'function' && typeof Sandbox.fork === 'function') {
      await runSnapshotsScenario({ Sandbox, errors, conn, step, expectError, track: (id) => createdA.add(id) })
    } else skip('snapshots and forks', 'this Sandbox has no createSnapshot or fork')

    // ── network egress, against the outside world the runner built (sandkitd --dns at it) ───
    if (config.network) {
      await runNetworkScenario({ Sandbox, errors, conn, world: config.network, create: (meta, more) => create(meta, more), step, expectError })
    } else skip('network: egress rules against the test\'s outside world', 'the runner built no outside world')

    // ── restarts (a second sandkitd with a state directory, restarted by the runner) ─────
    if (config.restartable) await runRestartScenario({ Sandbox, errors, conn, restartable: config.restartable, step, expectError })
    else skip('restart: sandkitd keeps paused sandboxes across restarts', 'the runner started no restartable sandkitd')
  } catch (err) {
    // A bug in the scenario itself: report it rather than reject.
    results.push({ name: 'scenario: ran to the end', ok: false, error: describeError(err), ms: 0 })
    try {
      check(results.at(-1))
    } catch {}
  } finally {
    // ── cleanup ───────────────────────────────────────────────────────────────────────────
    await step('cleanup: kill every sandbox this run created', async () => {
      let killed = 0
      for (const [set, c] of [[createdA, conn], [createdB, otherConn]]) {
        const all = [...set]
        for (let i = 0; i < all.length; i += 25) {
          const res = await Promise.allSettled(all.slice(i, i + 25).map((id) => Sandbox.kill(id, c)))
          killed += res.filter((r) => r.status === 'fulfilled' && r.value === true).length
          const failed = res.find((r) => r.status === 'rejected')
          if (failed) throw failed.reason
        }
      }
      const left = await listAll({ ...conn, query: inRun() })
      const leftB = await listAll({ ...otherConn, query: inRun() })
      assertSameIds([...ids(left), ...ids(leftB)], [], 'sandboxes of this run left')
      return `${killed} killed of ${createdA.size + createdB.size} created`
    }, { timeoutMs: 120_000 })
  }

  const counted = results.filter((r) => !r.skipped)
  return {
    run,
    passed: counted.filter((r) => r.ok).length,
    failed: counted.filter((r) => !r.ok).length,
    skipped: results.length - counted.length,
    results,
  }
}

/**
 * A panic inside the binding (through the hidden test entry point `Sandbox.__testPanic`): the
 * caller gets a SandboxError carrying the panic's message. Afterwards the napi addon (and
 * Node) go on; a wasm instance has ended (`endsInstance`), and every later call is refused
 * with SandboxError code 'wasm_ended'. Runners call this last: after it, a wasm instance is
 * of no use to any other step. Resolves to { passed, failed, skipped, results }.
 */
export async function runPanicScenario({ Sandbox, errors = {}, opts, endsInstance, check = () => {}, config = {} }) {
  const results = []
  const { step, skip, expectError } = createRunner({ errors, check, config, results })
  const { otherTeamKey, redirectUrl, ...conn } = opts
  const tag = `sandkit-test-panic-${Math.random().toString(36).slice(2, 10)}`
  const sandboxError = { Class: errors.SandboxError, className: 'SandboxError' }
  if (typeof Sandbox.__testPanic !== 'function') {
    skip('panic: a panic inside the binding is a SandboxError carrying its message', 'this SDK has no test entry point that panics')
  } else {
    const forms = [['a call', Sandbox.__testPanic]]
    if (!endsInstance && typeof Sandbox.__testPanicAsync === 'function') forms.push(['an async call, inside its future', Sandbox.__testPanicAsync])
    for (const [where, fn] of forms) {
      await step(`panic: a panic inside the binding (${where}) is a SandboxError carrying its message`, async () => {
        const err = await expectError(() => fn(`${tag} ${where}`), { ...sandboxError, what: `__testPanic in ${where}` })
        if (!err.message.includes(`${tag} ${where}`)) fail(`the message does not carry the panic's: ${err.message}`)
        if (!err.message.includes('internal error in sandkit')) fail(`the message does not say it is an internal error: ${err.message}`)
        return err.message
      })
    }
    if (endsInstance) {
      await step("panic: afterwards the wasm instance refuses every call with SandboxError 'wasm_ended' naming the panic", async () => {
        const err = await expectError(() => Sandbox.list({ ...conn, limit: 1 }).nextItems(), { ...sandboxError, what: 'list after the panic' })
        if (err.code !== 'wasm_ended') fail(`code ${err.code}, not wasm_ended: ${err.message}`)
        if (!err.message.includes(tag)) fail(`the message does not name the panic: ${err.message}`)
        return err.message
      })
    } else {
      await step('panic: afterwards the process goes on and the SDK works', async () => {
        const page = await Sandbox.list({ ...conn, limit: 1 }).nextItems()
        assert(Array.isArray(page), `list gave ${show(page)}`)
      })
    }
  }
  const passed = results.filter((r) => r.ok && !r.skipped).length
  return { passed, failed: results.filter((r) => !r.ok).length, skipped: results.filter((r) => r.skipped).length, results }
}
