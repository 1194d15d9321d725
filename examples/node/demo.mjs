// The sandkit demo: sandboxes with metadata, filtered listing, pagination, connect, commands,
// files and a terminal in a real sandbox, sudo, an account made in it, pause and resume, metrics,
// the code interpreter, network egress rules, root confined to its own sandbox, and kill,
// against whatever
// E2B_API_URL / E2B_API_KEY point at (scripts/demo.sh starts a sandkitd, and a small test
// internet that answers api.example.test and other.test, since this demo must not need the
// real one). Only the import differs from a program written for the `e2b` package.
import { ALL_TRAFFIC, Sandbox, SandboxNotFoundError } from 'sandkit'

const run = `demo-${Date.now().toString(36)}`
/** @param {...unknown} args */
const say = (...args) => console.log('•', ...args)

say(`creating 3 sandboxes tagged run=${run}`)
const sandboxes = await Promise.all(
  ['alice', 'bob', 'alice'].map((user, i) =>
    Sandbox.create({ metadata: { run, user, n: String(i) }, envs: { GREETING: 'hi' }, timeoutMs: 120_000 }),
  ),
)
for (const s of sandboxes) say(`  created ${s.sandboxId} (domain ${s.sandboxDomain})`)

say("listing running sandboxes of user=alice in this run")
const alice = Sandbox.list({ query: { state: ['running'], metadata: { run, user: 'alice' } } })
for (const info of await alice.nextItems()) {
  say(`  ${info.sandboxId} user=${info.metadata.user} started ${info.startedAt.toISOString()} ends ${info.endAt.toISOString()}`)
}

say('paging through the whole run, 2 per page')
const pages = Sandbox.list({ query: { metadata: { run } }, limit: 2 })
let page = 0
while (pages.hasNext) {
  const items = await pages.nextItems()
  const more = pages.hasNext ? ` (next token ${String(pages.nextToken).slice(0, 12)}…)` : ''
  say(`  page ${++page}: ${items.map((i) => i.sandboxId).join(', ')}${more}`)
}

const [first] = sandboxes
say(`connecting to ${first.sandboxId} and extending it to 10 minutes`)
const again = await Sandbox.connect(first.sandboxId)
const before = (await again.getInfo()).endAt
await again.setTimeout(600_000)
const after = (await again.getInfo()).endAt
say(`  end time moved from ${before.toISOString()} to ${after.toISOString()}`)

say(`running commands in ${first.sandboxId}`)
const who = await again.commands.run('echo "$(whoami) in $PWD, $GREETING from sandbox $E2B_SANDBOX_ID"')
say(`  ${who.stdout.trim()}`)
await again.commands.run('for i in 1 2 3; do echo "tick $i"; sleep 0.1; done', {
  onStdout: (chunk) => say(`  streamed: ${chunk.trim()}`),
})
try {
  await again.commands.run('echo oops >&2; exit 3')
} catch (err) {
  const e = /** @type {Error & { exitCode?: number, stderr?: string }} */ (err)
  say(`  exit 3 → ${e.name} exitCode=${e.exitCode} stderr=${JSON.stringify(e.stderr)}`)
}

say('writing and reading files')
await again.files.write('notes/hello.txt', 'hello from the demo\n')
await again.files.write([
  { path: 'notes/data.bin', data: new Uint8Array([0, 1, 2, 255]) },
  { path: 'notes/sub/deep.txt', data: 'deep' },
])
for (const e of await again.files.list('notes', { depth: 2 })) say(`  ${String(e.type).padEnd(4)} ${e.path} (${e.size} B, ${e.permissions} ${e.owner})`)
say(`  read back: ${JSON.stringify(await again.files.read('notes/hello.txt'))}`)
say(`  a command sees it: ${(await again.commands.run('wc -c < notes/hello.txt')).stdout.trim()} bytes`)
say(`  download URL: ${(await again.downloadUrl('notes/hello.txt')).replace(/signature=[^&]+/, 'signature=…')}`)

say('a terminal (pty): an interactive bash, typed into and resized')
let screen = ''
const term = await again.pty.create({
  cols: 80,
  rows: 24,
  onData: (bytes) => {
    screen += new TextDecoder().decode(bytes)
  },
})
/** Waits (at most 5 s) until the terminal has shown `re`. @param {RegExp} re */
const shown = async (re) => {
  for (let i = 0; i < 100 && !re.test(screen); i++) await new Promise((r) => setTimeout(r, 50))
  return screen.match(re)?.[0]
}
const keys = new TextEncoder()
await again.pty.sendInput(term.pid, keys.encode('stty size\n'))
const small = await shown(/^\d+ \d+(?=\r?$)/m)
await again.pty.resize(term.pid, { cols: 120, rows: 40 })
await again.pty.sendInput(term.pid, keys.encode('stty size; echo "term is $TERM"; exit\n'))
const big = await shown(/^40 120(?=\r?$)/m)
const ended = await term.wait()
say(`  pid ${term.pid}: rows/cols ${small} then ${big}, ${await shown(/term is [a-z][\w-]*/)}, exit ${ended.exitCode}`)

say('sudo: user becomes root without a password, as in E2B\'s sandboxes')
say(`  ${(await again.commands.run('sudo id -un && sudo -u user sh -c \'echo "back to $USER"\'')).stdout.trim().replace('\n', ', ')}`)

say('accounts: one made in the sandbox (as root) runs commands and owns files at once')
await again.commands.run('groupadd crew && useradd -m -G crew ada', { user: 'root' })
say(`  ${(await again.commands.run('id', { user: 'ada' })).stdout.trim()}`)
await again.files.write('plan.txt', 'ada was here', { user: 'ada' })
const plan = await again.files.getInfo('plan.txt', { user: 'ada' })
say(`  ${plan.path} (${plan.owner}:${plan.group} ${plan.permissions})`)

say('a public URL: a web server in the sandbox, reached with its traffic token')
const web = await Sandbox.create({ network: { allowPublicTraffic: false } })
await web.commands.run(`node -e "require('node:http').createServer((q, s) => s.end('hello from ' + process.env.E2B_SANDBOX_ID + ' at ' + q.url)).listen(3000)"`, { background: true })
let served = await web.fetch(3000, '/hi')
for (let i = 0; i < 50 && served.status !== 200; i++) {
  await new Promise((r) => setTimeout(r, 100))
  served = await web.fetch(3000, '/hi')
}
say(`  ${web.getUrl(3000, '/hi')} → ${served.status} ${await served.text()}`)
say(`  without the token: ${(await fetch(web.getUrl(3000, '/hi')).then((r) => r.status, (e) => `(${e.cause?.code ?? e.message}: *.localhost needs libnss-myhostname)`))}`)
await web.kill()

say('pause and resume: the processes stop where they are and go on')
await again.commands.run(`sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done'`, { background: true })
await new Promise((r) => setTimeout(r, 500))
const count = async () => Number((await again.files.read('/tmp/count')).trim())
const atPause = await count()
say(`  counter ${atPause}; pause → ${await again.pause()}, state ${(await again.getInfo()).state}`)
await new Promise((r) => setTimeout(r, 1000))
const back = await Sandbox.connect(again.sandboxId)
const atResume = await count()
await new Promise((r) => setTimeout(r, 500))
say(`  a second later, resumed: counter ${atResume} (stood still), then ${await count()} (counting again), state ${(await back.getInfo()).state}`)

say('pause without memory: the processes end, the files stay; the resume is a reboot')
await back.files.write('/home/user/notes.txt', 'kept across the reboot')
await back.pause({ keepMemory: false })
const rebooted = await Sandbox.connect(back.sandboxId)
const counting = (await rebooted.commands.list()).some((p) => (p.args ?? []).join(' ').includes('/tmp/count'))
say(`  ${await rebooted.files.read('/home/user/notes.txt')}; the counter still running: ${counting}`)

say('snapshots and forks: its files copied at one moment, new sandboxes started on them')
const snapshot = await rebooted.createSnapshot({ name: 'demo-notes' })
const fromSnapshot = await Sandbox.create(snapshot.snapshotId)
say(`  ${snapshot.snapshotId} → ${fromSnapshot.sandboxId}: ${await fromSnapshot.files.read('/home/user/notes.txt')}`)
const [fork] = await rebooted.fork({ count: 1, timeoutMs: 60_000 })
if (fork instanceof Error) throw fork
await fork.files.write('/home/user/notes.txt', 'changed in the fork')
say(`  fork ${fork.sandboxId}: "${await fork.files.read('/home/user/notes.txt')}"; the source still "${await rebooted.files.read('/home/user/notes.txt')}"`)
const listed = []
for await (const s of Sandbox.listSnapshots({ sandboxId: rebooted.sandboxId })) listed.push(s.snapshotId)
say(`  snapshots of ${rebooted.sandboxId}: ${listed.join(', ')}; deleted: ${await Sandbox.deleteSnapshot(snapshot.snapshotId)}`)
await fromSnapshot.kill()
await fork.kill()

say('metrics: what a busy sandbox uses, sampled by sandkitd (every 5 s by default)')
await rebooted.commands.run(`timeout 3 sh -c 'while :; do :; done'`, { background: true })
let busiest
for (let i = 0; i < 60 && (busiest?.cpuUsedPct ?? 0) <= 20; i++) {
  await new Promise((r) => setTimeout(r, 250))
  busiest = (await rebooted.getMetrics()).sort((x, y) => y.cpuUsedPct - x.cpuUsedPct)[0]
}
if (busiest) {
  const mib = (/** @type {number} */ n) => `${(n / 2 ** 20).toFixed(1)} MiB`
  say(`  ${busiest.timestamp.toISOString()}: CPU ${busiest.cpuUsedPct}% of ${busiest.cpuCount}, memory ${mib(busiest.memUsed)} of ${mib(busiest.memTotal)}, disk ${mib(busiest.diskUsed)} of ${mib(busiest.diskTotal)}`)
}

say('its own disk: a sandbox that fills it gets ENOSPC, and the host keeps its space')
const avail = `df -h --output=avail / | tail -1`
const filled = await rebooted.commands.run(`fallocate -l 2G huge 2>&1; ${avail}; rm huge; ${avail}`, { cwd: '/home/user' })
const [error, full, freed] = filled.stdout.split('\n').map((l) => l.trim())
say(`  fallocate -l 2G → ${error}; ${full} left on its disk, ${freed} once the file is deleted`)

say('the code interpreter: runCode keeps state, streams output, returns rich results')
await rebooted.runCode('import math\nradius = 2')
const area = await rebooted.runCode('print("computing", flush=True)\nmath.pi * radius ** 2', {
  onStdout: (m) => say(`  stdout as it runs: ${m.line.trim()}`),
})
say(`  math.pi * radius ** 2 → ${area.text} (execution ${area.executionCount})`)
const failed = await rebooted.runCode('1 / 0')
say(`  1 / 0 → ${failed.error?.name}: ${failed.error?.value}`)
const js = await rebooted.runCode('[1, 2, 3].map((n) => n * 2)', { language: 'javascript' })
say(`  javascript [1, 2, 3].map(n => n * 2) → ${js.text}`)
const ts = await rebooted.runCode(
  "import { platform } from 'node:os'\nconst where: string = await Promise.resolve(platform());\n`typed, imported and awaited on ${where}`",
  { language: 'ts' },
)
say(`  typescript with an import and a top-level await → ${ts.text ?? `${ts.error?.name}: ${ts.error?.value}`}`)
// R and Java need their programs in the sandbox (scripts/setup.sh installs them); without
// them sandkitd refuses the context and says why, which is what the demo then shows.
try {
  const r = await rebooted.runCode('squares <- (1:5)^2\nplot(squares)\nmean(squares)', { language: 'r' })
  const rPlot = r.results.find((res) => res.png)
  say(`  r mean of squares, plotted → ${r.error ? `${r.error.name}: ${r.error.value.trim()}` : `${r.results[0]?.text}, and the plot as a ${rPlot?.png?.length ?? 0}-character base64 PNG`}`)
} catch (err) {
  say(`  r → refused: ${/** @type {Error} */ (err).message}`)
}
try {
  const java = await rebooted.runCode('record Point(int x, int y) {}\nnew Point(3, 4)', { language: 'java' })
  say(`  java record Point(int x, int y) → ${java.text ?? `${java.error?.name}: ${java.error?.value}`}`)
} catch (err) {
  say(`  java → refused: ${/** @type {Error} */ (err).message}`)
}

say('network egress: rules enforced by sandkitd, outside the sandbox, changed live')
/** An HTTP request from inside a sandbox, by a process that knows nothing of the rules. */
const fetchFrom = (/** @type {Sandbox} */ s, /** @type {string} */ url) =>
  s.commands.run(`curl -s --max-time 5 -o /dev/null -w '%{http_code}' ${url}`).then(
    (r) => `HTTP ${r.stdout}`,
    (/** @type {any} */ e) => `refused (curl exit ${e.exitCode})`,
  )
const guarded = await Sandbox.create({
  metadata: { run },
  network: { denyOut: [ALL_TRAFFIC], allowOut: ['api.example.test'] },
})
sandboxes.push(guarded)
// scripts/with-sandkitd.mjs says so when it could not build the test internet.
const noInternet = /** @type {any} */ (globalThis).process.env.DEMO_NO_INTERNET
if (noInternet) {
  say(`  skipped: ${noInternet}`)
} else {
  say(`  deny all, allow api.example.test: http://api.example.test → ${await fetchFrom(guarded, 'http://api.example.test/')}, http://other.test (the same address) → ${await fetchFrom(guarded, 'http://other.test/')}`)
  await guarded.updateNetwork({ denyOut: [ALL_TRAFFIC], allowOut: ['other.test'] })
  say(`  after updateNetwork: other.test → ${await fetchFrom(guarded, 'http://other.test/')}, api.example.test → ${await fetchFrom(guarded, 'http://api.example.test/')}`)
  const offline = await Sandbox.create({ metadata: { run }, allowInternetAccess: false })
  sandboxes.push(offline)
  say(`  allowInternetAccess: false → ${await fetchFrom(offline, 'http://api.example.test/')}; getInfo().network of the first: ${JSON.stringify((await guarded.getInfo()).network)}`)
}

say('root in a sandbox: its own machine, not the host')
const rooted = await again.commands.run(
  'read -r _ host _ < /proc/self/uid_map; echo "uid $(id -u) inside is host uid $host"; ' +
    'apt-get --version | head -1; echo "demo" > /etc/demo-marker && echo "wrote /etc/demo-marker"; ' +
    'mount -o remount,rw /proc/sys 2>&1 | head -1',
  { user: 'root' },
)
for (const line of rooted.stdout.trim().split('\n')) say(`  ${line}`)
const other = sandboxes[1]
const seen = await other.commands.run('ls /etc/demo-marker 2>&1 || true', { user: 'root' })
say(`  another sandbox: ${seen.stdout.trim()}`)

say('killing every sandbox of the run')
for (const s of sandboxes) say(`  kill ${s.sandboxId} → ${await s.kill()}`)
say(`  killing ${first.sandboxId} again → ${await Sandbox.kill(first.sandboxId)}`)
try {
  await Sandbox.getInfo(first.sandboxId)
} catch (err) {
  const e = /** @type {Error} */ (err)
  say(`  getInfo after kill → ${e.name}${err instanceof SandboxNotFoundError ? ' (instanceof SandboxNotFoundError)' : ''}: ${e.message}`)
}
let left = 0
for await (const _ of Sandbox.list({ query: { metadata: { run } } })) left++
say(`sandboxes left in the run: ${left}`)
