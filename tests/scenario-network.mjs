// Network egress control (issue 14), in every runtime: sandboxes try to reach the test's own
// "outside world" (tests/harness/outside.mjs: a network namespace with HTTP on 80, HTTPS on 443
// with a test CA, a TCP banner on 7000 and a DNS server, on addresses of 198.18.0.0/15), with
// the rules of the E2B API — allowInternetAccess, network.allowOut / denyOut with addresses,
// CIDRs and domains (matched on the HTTP Host and the TLS SNI), updateNetwork — and nothing but
// the public E2B-compatible API, so the official `e2b` package runs it too.
//
//   await runNetworkScenario({ Sandbox, errors, conn, world, create, step, expectError })
//
// `world` is the world's description (startOutsideWorld) — the runner starts sandkitd with
// `--dns <world.dns>`, so that names resolve inside sandboxes — or { unavailable: reason } when
// the runner could not build it, in which case every step fails with that reason. `create(meta,
// more)` makes a sandbox tagged with the run (the scenario's cleanup kills what it made).
//
// Every connection attempt is bounded (curl --connect-timeout 4 --max-time 6, `timeout 6`,
// Python socket timeouts of 4 s), and a step's attempts run in parallel inside the sandbox, in
// one command. "Reached" means the world's own answer came back: its JSON line (HTTP, HTTPS)
// or its banner (TCP) — not merely a connection that something in between accepted.
import { assert, assertDeepEqual, assertEqual, fail, show } from './checks.mjs'

const CA_PATH = '/tmp/sandkit-world-ca.pem'
const PROBE_PATH = '/tmp/sandkit-world-probe.sh'
const CURL = "curl -sS --noproxy '*' --connect-timeout 4 --max-time 6"

export async function runNetworkScenario({ Sandbox, errors, conn, world, create, step, expectError }) {
  const ALL = typeof errors.ALL_TRAFFIC === 'string' ? errors.ALL_TRAFFIC : '0.0.0.0/0'
  const need = () => {
    if (!world || world.unavailable) fail(`no outside world to test against: ${world?.unavailable ?? 'the runner built none'}`)
  }
  const W = world?.unavailable ? {} : world
  const made = []
  const make = async (meta, more = {}) => {
    const s = await create({ net: meta }, { timeoutMs: 300_000, ...more })
    made.push(s)
    return s
  }

  // ── probes: each one a shell command whose output says whether the world answered ───────
  const http = (url, want = {}) => ({ label: `GET ${url}`, cmd: `${CURL} '${url}'`, kind: 'json', want: { service: 'http', ...want } })
  const https = (url, want = {}) => ({ label: `GET ${url}`, cmd: `${CURL} --cacert ${CA_PATH} '${url}'`, kind: 'json', want: { service: 'https', ...want } })
  const tcp = (ip, port = W.ports?.tcp) => ({ label: `tcp ${ip}:${port}`, cmd: `timeout 6 bash -c 'exec 3<>/dev/tcp/${ip}/${port} && head -n1 <&3'`, kind: 'banner', want: { local: ip } })
  // A client that knows nothing of proxies: an empty environment, a socket to an address.
  const raw = (ip, port, hostHeader) => {
    const payload = hostHeader ? `GET /raw HTTP/1.0\\r\\nHost: ${hostHeader}\\r\\n\\r\\n` : ''
    const py = `import socket,sys
try:
    s=socket.create_connection(('${ip}',${port}),4); s.settimeout(4)
    if '${payload}': s.sendall(b'${payload}')
    print(s.recv(400).decode('latin1'))
except Exception as e:
    print('error', type(e).__name__, e); sys.exit(1)`
    return { label: `raw socket ${ip}:${port}${hostHeader ? ` (Host: ${hostHeader})` : ''}`, cmd: `env -i /usr/bin/python3 -c "${py}"`, kind: 'any' }
  }

  /** Runs the probes in parallel in `sbx`; returns [{ label, code, out, answer }]. */
  async function probe(sbx, probes) {
    const lines = ['#!/bin/bash', "p() { i=$1; shift; out=$(\"$@\" 2>&1); code=$?; printf '%s\\t%s\\t%s\\n' \"$i\" \"$code\" \"$(printf %s \"$out\" | head -c 1500 | base64 -w0)\"; }"]
    probes.forEach((p, i) => lines.push(`p ${i} ${p.cmd} &`))
    lines.push('wait')
    await sbx.files.write(PROBE_PATH, `${lines.join('\n')}\n`)
    const res = await sbx.commands.run(`bash ${PROBE_PATH}`, { timeoutMs: 40_000 })
    const got = new Map()
    for (const line of res.stdout.split('\n')) {
      const [i, code, b64] = line.split('\t')
      if (i === undefined || code === undefined) continue
      got.set(Number(i), { code: Number(code), out: b64 ? atob(b64) : '' })
    }
    return probes.map((p, i) => {
      const r = got.get(i) ?? { code: -1, out: '(no result)' }
      let answer = null
      if (r.code === 0 && p.kind === 'json') {
        try {
          answer = JSON.parse(r.out)
        } catch {}
      } else if (r.code === 0 && p.kind === 'banner') {
        const m = /^sandkit-world tcp (\S+)/.exec(r.out)
        if (m) answer = { local: m[1] }
      } else if (p.kind === 'any') {
        if (/"service":"http/.test(r.out) || /^sandkit-world tcp/.test(r.out)) answer = { raw: true }
      }
      return { ...p, ...r, answer }
    })
  }
  const short = (s) => show(s.trim().slice(0, 160))
  /**
   * Probes `sbx` and checks each probe against `reach` (true: the world must answer, with the
   * fields of `want`; false: it must not). Fails listing every mismatch.
   */
  async function expectReach(sbx, expected, what = '') {
    const results = await probe(sbx, expected.map(([p]) => p))
    const wrong = []
    results.forEach((r, i) => {
      const reach = expected[i][1]
      if (reach) {
        if (!r.answer) wrong.push(`${r.label}: not reached (exit ${r.code}: ${short(r.out)})`)
        else {
          for (const [k, v] of Object.entries(r.want ?? {})) {
            if (r.answer[k] !== v) wrong.push(`${r.label}: the world saw ${k} ${show(r.answer[k])}, not ${show(v)}`)
          }
        }
      } else if (r.answer) {
        wrong.push(`${r.label}: reached, but the rules forbid it (${short(r.out)})`)
      }
    })
    if (wrong.length) fail(`${what ? `${what}: ` : ''}${wrong.join('; ')}`)
    return `${results.filter((r) => r.answer).length} of ${results.length} reached, as expected`
  }
  const prepare = async (sbx) => {
    await sbx.files.write(CA_PATH, W.caPem)
    return sbx
  }

  const O = { timeoutMs: 90_000 }
  let offline
  let onlySecond
  let named
  let live
  try {
    await step('network: default access reaches the outside world (HTTP and HTTPS by name through DNS, the TCP port by address)', async () => {
      need()
      const s = await prepare(await make('default'))
      return expectReach(s, [
        [http('http://api.example.test/', { host: 'api.example.test', local: W.web }), true],
        [https('https://api.example.test/', { sni: 'api.example.test', local: W.web }), true],
        [https('https://www.github.test/', { sni: 'www.github.test' }), true],
        [http('http://second.test/', { local: W.second }), true],
        [http(`http://${W.web}/by-address`, { host: W.web }), true],
        [tcp(W.web), true],
        [tcp(W.second), true],
      ])
    }, O)

    await step('network: allowInternetAccess false reaches nothing outside the sandbox; loopback still works', async () => {
      need()
      offline = await prepare(await make('offline', { allowInternetAccess: false }))
      const loopback = {
        label: 'a server on 127.0.0.1 in the sandbox',
        cmd: "bash -c 'python3 -m http.server 8321 --bind 127.0.0.1 >/dev/null 2>&1 & for i in $(seq 50); do curl -s --max-time 2 -o /dev/null http://127.0.0.1:8321/ && { kill $!; echo sandkit-world tcp 127.0.0.1; exit 0; }; sleep 0.1; done; kill $!; exit 1'",
        kind: 'banner',
      }
      return expectReach(offline, [
        [loopback, true],
        [http('http://api.example.test/'), false],
        [http(`http://${W.web}/`), false],
        [https(`https://${W.web}/`), false],
        [tcp(W.web), false],
        [tcp(W.second), false],
        [raw(W.second, 80, 'second.test'), false],
      ])
    }, O)

    await step('network: deny-all plus an allowed address reaches only that address', async () => {
      need()
      onlySecond = await prepare(await make('only-second', { network: { denyOut: [ALL], allowOut: [W.second] } }))
      return expectReach(onlySecond, [
        [http(`http://${W.second}/`, { local: W.second }), true],
        [tcp(W.second), true],
        [http(`http://${W.web}/`), false],
        [https(`https://${W.web}/`), false],
        [tcp(W.web), false],
      ])
    }, O)

    await step('network: deny-all plus an allowed CIDR reaches what it covers; an allowed address wins over a denied CIDR', async () => {
      need()
      const cidr = await prepare(await make('cidr', { network: { denyOut: [ALL], allowOut: [W.subnet] } }))
      const covered = await expectReach(cidr, [
        [tcp(W.web), true],
        [tcp(W.second), true],
        [http(`http://${W.second}/`, { local: W.second }), true],
      ], `allowOut [${W.subnet}]`)
      const priority = await prepare(await make('allow-beats-deny', { network: { denyOut: [W.subnet], allowOut: [`${W.second}/32`] } }))
      const wins = await expectReach(priority, [
        [tcp(W.second), true],
        [tcp(W.web), false],
        [http(`http://${W.web}/`), false],
      ], `denyOut [${W.subnet}], allowOut [${W.second}/32]`)
      return `${covered}; ${wins}`
    }, O)

    await step('network: deny-all plus api.example.test and *.github.test reaches those names over HTTP and HTTPS, not other names on the same address (nor its TCP port)', async () => {
      need()
      named = await prepare(await make('named', { network: { denyOut: [ALL], allowOut: ['api.example.test', '*.github.test'] } }))
      const resolves = { label: 'getent ahostsv4 other.test (the nameserver stays allowed)', cmd: 'getent ahostsv4 other.test', kind: 'resolve' }
      const [r] = await probe(named, [resolves])
      assert(r.code === 0 && r.out.includes(W.web), `other.test does not resolve in a sandbox with domain rules (exit ${r.code}: ${short(r.out)})`)
      return expectReach(named, [
        [http('http://api.example.test/', { host: 'api.example.test', local: W.web }), true],
        [https('https://api.example.test/', { sni: 'api.example.test', local: W.web }), true],
        [http('http://www.github.test/', { host: 'www.github.test' }), true],
        [https('https://www.github.test/', { sni: 'www.github.test' }), true],
        [https('https://api.github.test/', { sni: 'api.github.test' }), true],
        [http('http://other.test/'), false],
        [https('https://other.test/'), false],
        [http('http://blocked.test/'), false],
        [https('https://blocked.test/'), false],
        [http('http://second.test/'), false],
        [http(`http://${W.web}/`), false],
        [tcp(W.web), false],
      ])
    }, O)

    await step('network: a process that ignores proxy variables and connects by raw IP to a denied address fails', async () => {
      need()
      assert(named && onlySecond, 'the sandboxes of the steps before were not made')
      const withDomains = await expectReach(named, [
        // The control: the same client, to an allowed name, gets through.
        [raw(W.web, 80, 'api.example.test'), true],
        [raw(W.web, W.ports.tcp), false],
        [raw(W.web, 80, W.web), false],
        [raw(W.web, 80, 'other.test'), false],
        [raw(W.second, 80, 'second.test'), false],
        [raw(W.second, W.ports.tcp), false],
      ], 'deny-all plus domains')
      const withAddress = await expectReach(onlySecond, [
        [raw(W.second, W.ports.tcp), true],
        [raw(W.web, 80, 'api.example.test'), false],
        [raw(W.web, W.ports.tcp), false],
      ], `deny-all plus ${W.second}`)
      return `${withDomains}; ${withAddress}`
    }, O)

    await step('network: sandbox.updateNetwork changes what is reachable without a restart, both ways', async () => {
      need()
      live = await prepare(await make('live'))
      const sleeper = await live.commands.run('sleep 600', { background: true })
      await expectReach(live, [[tcp(W.web), true], [http('http://other.test/'), true]], 'before any update')
      await live.updateNetwork({ denyOut: [ALL] })
      await expectReach(live, [[tcp(W.web), false], [tcp(W.second), false], [http('http://api.example.test/'), false]], 'after updateNetwork({ denyOut: [ALL_TRAFFIC] })')
      await live.updateNetwork({ denyOut: [ALL], allowOut: ['api.example.test'] })
      await expectReach(live, [
        [http('http://api.example.test/', { host: 'api.example.test' }), true],
        [https('https://api.example.test/', { sni: 'api.example.test' }), true],
        [http('http://other.test/'), false],
        [tcp(W.web), false],
      ], "after updateNetwork({ denyOut: [ALL_TRAFFIC], allowOut: ['api.example.test'] })")
      await live.updateNetwork({})
      await expectReach(live, [[tcp(W.web), true], [tcp(W.second), true], [http('http://other.test/'), true]], 'after updateNetwork({}) (the rules cleared)')
      const pids = (await live.commands.list()).map((p) => p.pid)
      assert(pids.includes(sleeper.pid), `the process started before the updates (pid ${sleeper.pid}) is gone: the sandbox was restarted (now: ${show(pids)})`)
      return 'open → deny-all → one name → open; the same processes throughout'
    }, O)

    await step('network: Sandbox.updateNetwork(id, …) (the static form) changes what is reachable', async () => {
      need()
      assert(live, 'the sandbox of the step before was not made')
      await Sandbox.updateNetwork(live.sandboxId, { allowInternetAccess: false }, conn)
      await expectReach(live, [[tcp(W.web), false], [tcp(W.second), false]], 'after allowInternetAccess: false')
      await Sandbox.updateNetwork(live.sandboxId, { denyOut: [ALL], allowOut: [W.web] }, conn)
      await expectReach(live, [[tcp(W.web), true], [tcp(W.second), false]], `after denyOut [ALL_TRAFFIC], allowOut [${W.web}]`)
      await Sandbox.updateNetwork(live.sandboxId, { allowInternetAccess: true }, conn)
      await expectReach(live, [[tcp(W.web), true], [tcp(W.second), true]], 'after allowInternetAccess: true')
      return 'offline → one address → open'
    }, O)

    await step("network: a sandbox cannot reach another sandbox's address, nor sandkitd's own port on the host", async () => {
      need()
      const a = await make('peer-a')
      const b = await make('peer-b')
      const addrOf = async (s) => {
        const out = (await s.commands.run('hostname -I || true')).stdout
        return out.split(/\s+/).find((x) => /^\d+\.\d+\.\d+\.\d+$/.test(x) && !x.startsWith('127.'))
      }
      const bAddr = await addrOf(b)
      assert(bAddr, 'sandbox B has no IPv4 address of its own (hostname -I shows none): no network interface')
      await b.commands.run('python3 -m http.server 8322 --bind 0.0.0.0', { background: true, cwd: '/tmp' })
      const listing = (label, url) => ({ label, cmd: `${CURL} -o /dev/null -w 'sandkit-world tcp %{http_code}' '${url}'`, kind: 'banner' })
      const self = {
        label: `B's own server at ${bAddr}:8322, from B`,
        cmd: `bash -c 'for i in $(seq 50); do curl -s --max-time 2 -o /dev/null http://${bAddr}:8322/ && { echo sandkit-world tcp up; exit 0; }; sleep 0.1; done; exit 1'`,
        kind: 'banner',
      }
      await expectReach(b, [[self, true]], 'B serves on its own address')
      // The host, at its address on the world's link (the gateway itself is on no host; a
      // server of the host's on every address is tried in tests/network.rs).
      const apiPort = new URL(conn.apiUrl).port || '80'
      const attempts = [
        [listing(`B's server at ${bAddr}:8322, from A`, `http://${bAddr}:8322/`), false],
        [listing(`sandkitd's port ${apiPort} at the host's address ${W.hostAddress}`, `http://${W.hostAddress}:${apiPort}/health`), false],
      ]
      return `${await expectReach(a, attempts, 'from A')} (B at ${bAddr})`
    }, O)

    await step('network: getInfo() reflects the rules (at create, after updateNetwork, allowInternetAccess false)', async () => {
      need()
      assert(named && onlySecond && offline, 'the sandboxes of the steps before were not made')
      const sorted = (xs) => (Array.isArray(xs) ? [...xs].sort() : xs)
      let info = await Sandbox.getInfo(named.sandboxId, conn)
      assertDeepEqual(sorted(info.network?.allowOut), ['*.github.test', 'api.example.test'], 'network.allowOut at create')
      assertDeepEqual(info.network?.denyOut, [ALL], 'network.denyOut at create')
      info = await onlySecond.getInfo()
      assertDeepEqual(info.network?.allowOut, [W.second], 'network.allowOut of the address sandbox')
      await named.updateNetwork({ denyOut: [W.subnet], allowOut: ['second.test', W.web] })
      const updated = await named.getInfo()
      assertDeepEqual(sorted(updated.network?.allowOut), sorted(['second.test', W.web]), 'network.allowOut after updateNetwork')
      assertDeepEqual(updated.network?.denyOut, [W.subnet], 'network.denyOut after updateNetwork')
      info = await offline.getInfo()
      assertEqual(info.allowInternetAccess, false, 'allowInternetAccess of a sandbox made with allowInternetAccess: false')
      return `after the update: ${show(updated.network)}`
    }, O)

    await step('network: bad rules are refused by the server with status 400 naming them (create and updateNetwork); the rules in force stay', async () => {
      need()
      assert(onlySecond, 'the sandbox of an earlier step was not made')
      const refused = async (what, bad, fn) => {
        const err = await expectError(fn, { Class: errors.SandboxError, className: 'SandboxError', what })
        assertEqual(err.statusCode, 400, `${what}: statusCode`)
        assert(err.message.includes(bad), `${what}: the message does not name ${bad}: ${err.message}`)
        return err.message
      }
      const msgs = [
        await refused("create with denyOut ['not-an-ip/99']", 'not-an-ip/99', () => make('bad-cidr', { network: { denyOut: ['not-an-ip/99'] } })),
        await refused("create with an IPv6 allowOut ['2001:db8::1']", '2001:db8::1', () => make('bad-v6', { network: { denyOut: [ALL], allowOut: ['2001:db8::1'] } })),
        await refused("updateNetwork with allowOut ['not-an-ip/99']", 'not-an-ip/99', () => onlySecond.updateNetwork({ denyOut: [ALL], allowOut: ['not-an-ip/99'] })),
      ]
      const info = await onlySecond.getInfo()
      assertDeepEqual(info.network?.allowOut, [W.second], 'network.allowOut after a refused update')
      await expectReach(onlySecond, [[tcp(W.second), true], [tcp(W.web), false]], 'after a refused update')
      return msgs.join(' | ')
    }, O)
  } finally {
    await Promise.allSettled(made.map((s) => s.kill()))
  }
}
