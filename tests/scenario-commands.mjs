// The sandbox scenario: real processes and files in real sandboxes, driven through an SDK's
// `sandbox.commands` and `sandbox.files` APIs. It runs with every SDK that has them (today the
// official `e2b` package, as the conformance check of sandkitd's daemon; sandkit's bindings as
// they gain them).
//
//   const summary = await runCommandsScenario({ Sandbox, errors, opts, log, check, config })
//
// Same conventions as scenario.mjs. `config.hostChecks` (Node only) adds the checks that look
// at the host: that no process of a killed or expired sandbox is left behind, that what root
// writes in a sandbox is not on the host. `config.isolation` ({ script, env }, from
// tests/harness/hostile.mjs) runs the escape attempts as root and as user.
import { assert, assertEqual, createRunner, describeError, fail, show, sleep } from './checks.mjs'
import { runDaemonConformance } from './scenario-daemon.mjs'
import { runSdkConformance } from './scenario-sdk.mjs'
import { runPtyScenario } from './scenario-pty.mjs'
import { runPublicScenario } from './scenario-public.mjs'

export async function runCommandsScenario({ Sandbox, errors = {}, opts, log = () => {}, check = () => {}, config = {} }) {
  const { otherTeamKey, ...conn } = opts
  const results = []
  const { step, skip, expectError } = createRunner({ errors, check, config, results })
  const created = []
  const create = async (more = {}) => {
    const sbx = await Sandbox.create({ ...conn, ...more })
    created.push(sbx)
    return sbx
  }
  const exitError = { Class: errors.CommandExitError, className: 'CommandExitError' }

  try {
    let a
    await step('commands: create a sandbox with envs', async () => {
      a = await create({ envs: { GLOBAL_VAR: 'global', OVERRIDE_ME: 'from-create' } })
    })
    if (!a) throw new Error('no sandbox to run commands in')

    await step('commands: echo $E2B_SANDBOX_ID prints the id', async () => {
      const r = await a.commands.run('echo $E2B_SANDBOX_ID')
      assertEqual(r.stdout.trim(), a.sandboxId, 'stdout')
      assertEqual(r.exitCode, 0, 'exitCode')
    })

    await step('commands: default variables, user, home and /run/e2b', async () => {
      const r = await a.commands.run('echo "$E2B_SANDBOX|$E2B_TEMPLATE_ID|$(whoami)|$PWD|$HOME|$(cat /run/e2b/.E2B_SANDBOX_ID)"')
      assertEqual(r.stdout.trim(), `true|base|user|/home/user|/home/user|${a.sandboxId}`, 'stdout')
    })

    await step('commands: create-time envs are global; a command\'s envs override them for that command only', async () => {
      const g = await a.commands.run('echo $GLOBAL_VAR $OVERRIDE_ME')
      assertEqual(g.stdout.trim(), 'global from-create', 'global envs')
      const o = await a.commands.run('echo $OVERRIDE_ME $ONLY_HERE', { envs: { OVERRIDE_ME: 'from-command', ONLY_HERE: 'x' } })
      assertEqual(o.stdout.trim(), 'from-command x', 'per-command envs')
      const after = await a.commands.run('echo "$OVERRIDE_ME|$ONLY_HERE"')
      assertEqual(after.stdout.trim(), 'from-create|', 'after the command')
    })

    await step('commands: cwd and user options', async () => {
      const r = await a.commands.run('pwd; whoami', { cwd: '/tmp', user: 'root' })
      assertEqual(r.stdout, '/tmp\nroot\n', 'stdout')
    })

    await step('commands: ps aux lists only the sandbox\'s own processes', async () => {
      const r = await a.commands.run('ps -e -o pid=,comm=')
      const lines = r.stdout.trim().split('\n')
      // The sandbox's first process (PID 1), the shell, ps.
      assert(lines.length <= 4, `ps shows ${lines.length} processes:\n${r.stdout}`)
      assert(lines.some((l) => l.trim().startsWith('1 ')), `no PID 1 in:\n${r.stdout}`)
    })

    await step('commands: a non-zero exit throws CommandExitError with exitCode, stdout and stderr', async () => {
      const err = await expectError(() => a.commands.run('echo out; echo err >&2; exit 3'), { ...exitError, what: 'exit 3' })
      assertEqual(err.exitCode, 3, 'exitCode')
      assertEqual(err.stdout, 'out\n', 'stdout')
      assertEqual(err.stderr, 'err\n', 'stderr')
    })

    await step('commands: onStdout/onStderr stream chunks as they come', async () => {
      const out = []
      const err = []
      await a.commands.run('for i in 1 2 3; do echo $i; echo e$i >&2; sleep 0.05; done', {
        onStdout: (d) => out.push(d),
        onStderr: (d) => err.push(d),
      })
      assertEqual(out.join(''), '1\n2\n3\n', 'stdout')
      assertEqual(err.join(''), 'e1\ne2\ne3\n', 'stderr')
      assert(out.length >= 2, `stdout came in ${out.length} chunk(s), not streamed`)
    })

    await step('commands: 10 MB of stdout arrives complete and in order', async () => {
      const n = 1_000_000 // 11-byte lines: 11 MB
      // Written first, then read by cat as fast as it can: the output crosses in large
      // batches where the binding reads ahead (the addon) and in small pieces elsewhere.
      const r = await a.commands.run(`seq -f '%08.0f..' 1 ${n} > /tmp/lines.txt && cat /tmp/lines.txt`, { timeoutMs: 120_000 })
      const lines = r.stdout.split('\n')
      assertEqual(lines.length, n + 1, 'line count')
      // Every line, in order: the pieces are kept as they came (small ones joined, large
      // ones as they are), and a piece out of place would show here.
      for (let i = 0; i < n; i++) {
        const want = `${String(i + 1).padStart(8, '0')}..`
        if (lines[i] !== want) assertEqual(lines[i], want, `line ${i + 1}`)
      }
      assert(r.stdout.length >= 10_000_000, `only ${r.stdout.length} bytes`)
      return `${(r.stdout.length / 1e6).toFixed(1)} MB`
    }, { timeoutMs: 120_000 })

    await step('commands: output cut inside characters, and bytes that are not UTF-8, read as one TextDecoder reads them whole', async () => {
      // 1 MB of 1- to 4-byte characters among broken sequences: the output arrives in pieces
      // of up to 32 KiB, cut wherever they fall.
      const unit = [...new TextEncoder().encode('aé€😀'), 0xe2, 0x82, 0x62, 0xf0, 0x9f, 0x0a, 0xc3, 0xff, 0x80, 0xed, 0xa0, 0x80]
      const bytes = new Uint8Array(unit.length * 50_000)
      for (let i = 0; i < bytes.length; i++) bytes[i] = unit[i % unit.length]
      await a.files.write('/tmp/utf8-mix.bin', bytes)
      const chunks = []
      const r = await a.commands.run('cat /tmp/utf8-mix.bin', { onStdout: (d) => chunks.push(d), timeoutMs: 60_000 })
      const expected = new TextDecoder().decode(bytes)
      assert(r.stdout === expected, `stdout differs from TextDecoder's reading: ${r.stdout.length} vs ${expected.length} characters, first difference at ${[...expected].findIndex((c, i) => c !== r.stdout[i])}`)
      assert(chunks.join('') === expected, 'the onStdout pieces joined differ from the whole')
      return `${bytes.length} bytes in ${chunks.length} pieces`
    }, { timeoutMs: 90_000 })

    await step('commands: stdin of a background command (sendStdin, closeStdin)', async () => {
      const h = await a.commands.run('cat', { background: true, stdin: true })
      await a.commands.sendStdin(h.pid, 'hello ')
      await a.commands.sendStdin(h.pid, 'stdin\n')
      await a.commands.closeStdin(h.pid)
      const r = await h.wait()
      assertEqual(r.stdout, 'hello stdin\n', 'stdout')
    })

    await step('commands: list shows a background command; kill (SIGKILL) ends it', async () => {
      const h = await a.commands.run('sleep 100', { background: true })
      const listed = await a.commands.list()
      const mine = listed.find((p) => p.pid === h.pid)
      assert(mine, `pid ${h.pid} not in ${JSON.stringify(listed)}`)
      assertEqual(mine.args.at(-1), 'sleep 100', 'listed args')
      assertEqual(await a.commands.kill(h.pid), true, 'kill')
      const err = await expectError(() => h.wait(), { ...exitError, what: 'wait after kill' })
      assertEqual(err.exitCode, -1, 'exitCode')
      assertEqual(await a.commands.kill(h.pid), false, 'kill again')
    })

    // setTimeout holds at most 2^31 - 1 ms (24.8 days); a longer delay fires at once in every
    // runtime, and once made such a command (or request) a TimeoutError at its start.
    await step('commands: a timeoutMs or requestTimeoutMs past 24.8 days is waited out, not a timeout at once', async () => {
      const month = 30 * 24 * 3600 * 1000
      const r = await a.commands.run('sleep 0.3; echo done', { timeoutMs: month })
      assertEqual(r.stdout.trim(), 'done', 'stdout')
      // A request that takes a while: 8 MiB up.
      await a.files.write('/tmp/month.txt', 'x'.repeat(8 << 20), { requestTimeoutMs: month })
      assertEqual((await a.commands.run('stat -c %s /tmp/month.txt')).stdout.trim(), String(8 << 20), 'size')
      return 'a 0.3 s command and an 8 MiB upload, each with 30 days to go'
    })

    // The official SDK takes `requestTimeoutMs` in the options of each filesystem and command
    // call too, over the connection's (60 s by default here).
    await step('commands and files: a call\'s own requestTimeoutMs bounds its request, and a start only', async () => {
      // 8 MiB take some milliseconds to cross and be written, in every runtime.
      const big = 'y'.repeat(8 << 20)
      await expectError(() => a.files.write('/tmp/call-timeout.txt', big, { requestTimeoutMs: 1 }), {
        Class: errors.TimeoutError,
        className: 'TimeoutError',
        what: 'an 8 MiB write given 1 ms',
      })
      await a.files.write('/tmp/call-timeout.txt', big, { requestTimeoutMs: 0 })
      assertEqual((await a.files.getInfo('/tmp/call-timeout.txt', { requestTimeoutMs: 30_000 })).size, 8 << 20, 'size')
      await a.files.remove('/tmp/call-timeout.txt', { requestTimeoutMs: 30_000 })
      // A command's requestTimeoutMs ends at its start: the command itself may run longer.
      const r = await a.commands.run('sleep 0.5; echo done', { requestTimeoutMs: 200 })
      assertEqual(r.stdout.trim(), 'done', 'stdout')
      return 'a write given 1 ms timed out, with 0 it was written; a 0.5 s command with 200 ms ran'
    })

    await step('commands: handle.kill() of a background command', async () => {
      const h = await a.commands.run('sleep 100', { background: true })
      assertEqual(await h.kill(), true, 'kill')
    })

    await step('commands: timeoutMs ends a command', async () => {
      const started = Date.now()
      await expectError(() => a.commands.run('sleep 30', { timeoutMs: 500 }), {
        Class: errors.TimeoutError,
        className: 'TimeoutError',
        what: 'sleep 30 with timeoutMs 500',
      })
      assert(Date.now() - started < 10_000, 'the timeout did not end the command')
      // The daemon's clock for the timeout starts when the request reaches it, a little after
      // the client's: give it a moment to end the process.
      let left
      for (let i = 0; i < 30; i++) {
        left = (await a.commands.run('pgrep -x sleep || echo none')).stdout.trim()
        if (left === 'none') break
        await sleep(100)
      }
      assertEqual(left, 'none', 'sleep still running in the sandbox 3 s after its timeout')
    })

    await step('commands: connect to a running command and see its output', async () => {
      const h = await a.commands.run('sleep 0.3; echo later', { background: true })
      const out = []
      const again = await a.commands.connect(h.pid, { onStdout: (d) => out.push(d) })
      const r = await again.wait()
      assertEqual(r.stdout, 'later\n', 'stdout')
      assertEqual(out.join(''), 'later\n', 'onStdout')
    })

    await step('commands: sudo runs a command as root without a password, as E2B\'s user has it', async () => {
      assertEqual((await a.commands.run('sudo whoami')).stdout, 'root\n', 'sudo whoami')
      assertEqual((await a.commands.run('sudo -u user sh -c "whoami; echo $HOME"')).stdout, 'user\n/home/user\n', 'sudo -u user')
      const r = await a.commands.run('sudo sh -c "echo mine > /root/by-sudo.txt" && sudo cat /root/by-sudo.txt && ls /root 2>&1 | head -1')
      assertEqual(r.stdout, 'mine\nls: cannot open directory \'/root\': Permission denied\n', 'root\'s file, then user\'s own rights again')
      await expectError(() => a.commands.run('sudo sh -c "exit 3"'), { Class: errors.CommandExitError, className: 'CommandExitError', what: 'the exit code through sudo' })
    })

    await step('commands: disconnect() stops the callbacks at once and fails wait(); the command goes on and connect() follows it', async () => {
      const seen = []
      const h = await a.commands.run('echo first; read line; echo "got $line"; sleep 0.2; echo last', {
        background: true,
        stdin: true,
        onStdout: (d) => seen.push(d),
      })
      for (let i = 0; i < 200 && !seen.join('').includes('first'); i++) await sleep(25)
      assertEqual(seen.join(''), 'first\n', 'output before disconnect')
      // The command is idle (it reads stdin): disconnect() must not wait for an event.
      await h.disconnect()
      await expectError(() => h.wait(), { Class: errors.SandboxError, className: 'SandboxError', what: 'wait after disconnect' })
      const listed = (await a.commands.list()).some((p) => p.pid === h.pid)
      assertEqual(listed, true, 'the command is still listed after disconnect')
      const again = []
      const h2 = await a.commands.connect(h.pid, { onStdout: (d) => again.push(d) })
      await a.commands.sendStdin(h.pid, 'x\n')
      const r = await h2.wait()
      assertEqual(r.exitCode, 0, 'exitCode through the new handle')
      assertEqual(again.join(''), 'got x\nlast\n', 'output through the new handle')
      assertEqual(seen.join(''), 'first\n', 'what the disconnected handle\'s callback got')
    })

    await step('commands: disconnect() after the end keeps the result', async () => {
      const h = await a.commands.run('echo over', { background: true })
      const r = await h.wait()
      await h.disconnect()
      assertEqual((await h.wait()).stdout, r.stdout, 'wait after the end and a disconnect')
    })

    await step('isolation: sandbox B cannot read A\'s files or see or signal A\'s processes', async () => {
      const b = await create()
      await a.commands.run('echo secret > ~/a-secret.txt && echo t > /tmp/a-tmp')
      const h = await a.commands.run('sleep 100', { background: true })
      const r = await b.commands.run('ls -A /home/user; cat /tmp/a-tmp 2>&1; ps -e -o pid= | wc -l')
      assert(!r.stdout.includes('a-secret'), `B sees A's home: ${r.stdout}`)
      assert(r.stdout.includes('No such file'), `B sees A's /tmp: ${r.stdout}`)
      assertEqual(await b.commands.kill(h.pid), false, 'B killing A\'s pid')
      const still = await a.commands.list()
      assert(still.some((p) => p.pid === h.pid), 'A\'s process died')
      await a.commands.kill(h.pid)
    })

    await step('isolation: root writes /etc, /root and /usr/local in its own sandbox only; the next one has none of it', async () => {
      const tag = Math.random().toString(36).slice(2, 10)
      const paths = [`/etc/sandkit-${tag}`, `/root/${tag}`, `/usr/local/bin/sandkit-tool-${tag}`]
      const r = await a.commands.run(`echo x > ${paths[0]} && mkdir ${paths[1]} && cp /bin/true ${paths[2]} && sandkit-tool-${tag} && echo ok`, { user: 'root' })
      assertEqual(r.stdout, 'ok\n', 'root writes and runs what it installed')
      const b = await create()
      const seen = await b.commands.run(`ls -d ${paths.join(' ')} 2>/dev/null | wc -l`, { user: 'root' })
      assertEqual(seen.stdout.trim(), '0', 'what the next sandbox sees of them')
      if (config.hostChecks?.pathExists) {
        for (const p of paths) assertEqual(await config.hostChecks.pathExists(p), false, `${p} on the host`)
      }
    })

    // tests/hostile/escape-attempts.sh, as root and as user: every way out the isolation
    // issue lists must fail. The runner checks the host's side afterwards.
    if (config.isolation) {
      for (const user of ['root', 'user']) {
        await step(`isolation: every escape attempt as ${user} fails`, async () => {
          await a.files.write('/tmp/escape-attempts.sh', config.isolation.script)
          const r = await a.commands.run('bash /tmp/escape-attempts.sh', { user, envs: config.isolation.env, timeoutMs: 180_000 })
          const lines = r.stdout.split('\n')
          const escaped = lines.filter((l) => l.startsWith('ESCAPED'))
          assert(escaped.length === 0, escaped.join('\n'))
          const held = lines.filter((l) => l.startsWith('HELD')).length
          const count = (prefix) => Number(lines.find((l) => l.startsWith(prefix))?.slice(prefix.length))
          const expected = count('DONE ') + count('COUNT ')
          assert(held > 40 && held === expected, `${held} attempts reported, ${expected} made:\n${r.stdout}${r.stderr}`)
          return `${held} attempts held`
        }, { timeoutMs: 200_000 })
      }
    }

    await step('bad input: a missing cwd, an unknown user, a missing command, a huge command', async () => {
      await expectError(() => a.commands.run('true', { cwd: '/no/such/dir' }), { what: 'missing cwd' })
      await expectError(() => a.commands.run('true', { user: 'nobody-here' }), { what: 'unknown user' })
      const missing = await expectError(() => a.commands.run('no-such-command-xyz'), { ...exitError, what: 'missing command' })
      assertEqual(missing.exitCode, 127, 'exit code of a missing command')
      await expectError(() => a.commands.run(`echo ${'x'.repeat(2_000_000)}`), { what: 'a 2 MB command' })
      const r = await a.commands.run('echo still working')
      assertEqual(r.stdout, 'still working\n', 'after bad input')
    })

    const filesSteps = async () => {
    await step('files: write and read text, relative paths resolve against the home', async () => {
      const info = await a.files.write('/home/user/notes/a.txt', 'hello files')
      assertEqual(info.path, '/home/user/notes/a.txt', 'written path')
      assertEqual(await a.files.read('notes/a.txt'), 'hello files', 'read back')
      const r = await a.commands.run('cat ~/notes/a.txt; echo; stat -c %U ~/notes/a.txt')
      assertEqual(r.stdout, 'hello files\nuser\n', 'seen by a command, owned by user')
    })

    await step('files: bytes that are not UTF-8 survive in bytes mode', async () => {
      const bytes = new Uint8Array([0, 1, 0xfe, 0xff, 0x80, 0xc3, 0x28, 10])
      await a.files.write('bin.dat', bytes)
      const back = await a.files.read('bin.dat', { format: 'bytes' })
      assertEqual(Array.from(back).join(','), Array.from(bytes).join(','), 'bytes')
      const r = await a.commands.run('od -An -tx1 bin.dat')
      assertEqual(r.stdout.trim().replace(/\s+/g, ' '), '00 01 fe ff 80 c3 28 0a', 'seen by od')
    })

    await step('files: a 50 MB file round-trips byte-exact', async () => {
      const size = 50 * 1024 * 1024
      const data = new Uint8Array(size)
      let x = 0x12345678
      for (let i = 0; i < size; i += 4) {
        x ^= x << 13
        x ^= x >>> 17
        x ^= x << 5
        data[i] = x & 255
        data[i + 1] = (x >>> 8) & 255
        data[i + 2] = (x >>> 16) & 255
        data[i + 3] = (x >>> 24) & 255
      }
      await a.files.write('big.bin', data)
      const back = await a.files.read('big.bin', { format: 'bytes' })
      assertEqual(back.length, size, 'size')
      for (let i = 0; i < size; i++) if (back[i] !== data[i]) fail(`byte ${i} differs`)
      const r = await a.commands.run('stat -c %s big.bin')
      assertEqual(r.stdout.trim(), String(size), 'size in the sandbox')
      await a.files.remove('big.bin')
    }, { timeoutMs: 120_000 })

    await step('files: several files in one write, list with depth, exists, getInfo', async () => {
      await a.files.write([
        { path: 'tree/x.txt', data: 'x' },
        { path: 'tree/sub/y.txt', data: 'yy' },
      ])
      const one = (await a.files.list('tree')).map((e) => `${e.name}:${e.type}`).sort()
      assertEqual(one.join(' '), 'sub:dir x.txt:file', 'depth 1')
      const two = (await a.files.list('tree', { depth: 2 })).map((e) => e.path).sort()
      assertEqual(two.join(' '), '/home/user/tree/sub /home/user/tree/sub/y.txt /home/user/tree/x.txt', 'depth 2')
      assertEqual(await a.files.exists('tree/sub/y.txt'), true, 'exists')
      assertEqual(await a.files.exists('tree/nope'), false, 'exists (missing)')
      const info = await a.files.getInfo('tree/sub/y.txt')
      assertEqual(info.size, 2, 'size')
      assertEqual(info.type, 'file', 'type')
      assertEqual(info.owner, 'user', 'owner')
    })

    await step('files: makeDir, rename, remove', async () => {
      assertEqual(await a.files.makeDir('made/deep'), true, 'makeDir')
      assertEqual(await a.files.makeDir('made/deep'), false, 'makeDir again')
      await a.files.write('made/f.txt', 'f')
      const moved = await a.files.rename('made/f.txt', 'made/deep/g.txt')
      assertEqual(moved.path, '/home/user/made/deep/g.txt', 'renamed path')
      assertEqual(await a.files.read('made/deep/g.txt'), 'f', 'content after rename')
      await a.files.remove('made')
      assertEqual(await a.files.exists('made'), false, 'removed recursively')
    })

    await step('files: missing files and directories where files are expected get typed errors', async () => {
      await expectError(() => a.files.read('no/such/file.txt'), { Class: errors.NotFoundError, className: 'NotFoundError', what: 'read a missing file' })
      await expectError(() => a.files.read('/home/user'), { what: 'read a directory' })
      await expectError(() => a.files.list('notes/a.txt'), { what: 'list a file' })
      await expectError(() => a.files.write('/home/user', 'x'), { what: 'write over a directory' })
      await expectError(() => a.files.read('notes/a.txt', { user: 'nobody-here' }), {
        Class: errors.AuthenticationError,
        className: 'AuthenticationError',
        what: 'read as an unknown user',
      })
      await expectError(() => a.files.list('notes', { user: 'nobody-here' }), { what: 'list as an unknown user' })
    })

    await step('files: paths that try to escape stay inside the sandbox', async () => {
      const host = await a.files.read('../../../../../etc/hostname')
      assertEqual(host.trim(), a.sandboxId, '../.. stops at the sandbox\'s /')
      await a.commands.run('ln -sf /etc/passwd ~/pw-link && ln -sfn / ~/root-link')
      const pw = await a.files.read('pw-link')
      assert(pw.includes('user:x:1000:'), `a symlink out reads the sandbox's passwd: ${pw.slice(0, 80)}`)
      const viaRoot = await a.files.list('root-link/home')
      assertEqual(viaRoot.map((e) => e.name).join(','), 'user', 'a symlink to / stays in the sandbox')
    })

    await step('files: sandbox B cannot read A\'s files', async () => {
      const b = await create()
      await a.files.write('only-a.txt', 'a')
      await expectError(() => b.files.read('/home/user/only-a.txt'), { Class: errors.NotFoundError, className: 'NotFoundError', what: 'B reads A\'s file' })
    })

    await step('files: concurrent writes to one file leave one whole version', async () => {
      const versions = Array.from({ length: 8 }, (_, i) => String(i).repeat(100_000))
      await Promise.all(versions.map((v) => a.files.write('race.txt', v)))
      const final = await a.files.read('race.txt')
      assert(versions.includes(final), `the file is a mix of writes (${final.length} bytes)`)
      assertEqual((await a.commands.run('echo ok')).stdout, 'ok\n', 'the sandbox still works')
    })


    await step('files: write a ReadableStream and a Blob; read as a stream and as a Blob', async () => {
      const chunkCount = 48
      const chunk = (i) => new Uint8Array(65_536).fill(i & 255)
      let sent = 0
      const source = new ReadableStream({
        pull(controller) {
          if (sent === chunkCount) return controller.close()
          controller.enqueue(chunk(sent++))
        },
      })
      const info = await a.files.write('streamed.bin', source)
      assertEqual(info.path, '/home/user/streamed.bin', 'written path')
      const stream = await a.files.read('streamed.bin', { format: 'stream' })
      const reader = stream.getReader()
      let total = 0
      let pieces = 0
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        for (let j = 0; j < value.length; j += 4099) {
          const expected = Math.floor((total + j) / 65_536) & 255
          if (value[j] !== expected) fail(`byte ${total + j} is ${value[j]}, not ${expected}`)
        }
        total += value.length
        pieces++
      }
      assertEqual(total, chunkCount * 65_536, 'bytes streamed back')
      await a.files.write('blob.txt', new Blob(['from ', 'a blob']))
      const blob = await a.files.read('blob.txt', { format: 'blob' })
      assertEqual(await blob.text(), 'from a blob', 'blob read back')
      return `${total / 1_048_576} MiB in ${pieces} piece(s)`
    }, { timeoutMs: 60_000 })

    await step('files: a cancelled read stream leaves the sandbox working', async () => {
      await a.files.write('cancel.bin', new Uint8Array(4 * 1024 * 1024))
      const stream = await a.files.read('cancel.bin', { format: 'stream' })
      const reader = stream.getReader()
      const first = await reader.read()
      assert(!first.done && first.value.length > 0, 'no first chunk')
      await reader.cancel()
      assertEqual(await a.files.read('notes/a.txt'), 'hello files', 'a read after the cancel')
    })

    await step('files: watchDir reports creates, writes and removes until stopped; recursive with entries', async () => {
      const waitFor = async (events, pred, what) => {
        for (let i = 0; i < 100 && !events.some(pred); i++) await sleep(50)
        assert(events.some(pred), `no ${what} event in ${JSON.stringify(events.map((e) => `${e.type}:${e.name}`))}`)
      }
      await a.files.makeDir('watched')
      const events = []
      let exited = false
      const handle = await a.files.watchDir('watched', (e) => events.push(e), { onExit: () => (exited = true) })
      await a.commands.run('echo one > ~/watched/a.txt && echo two >> ~/watched/a.txt && rm ~/watched/a.txt')
      await waitFor(events, (e) => e.type === 'remove' && e.name === 'a.txt', 'remove')
      const types = new Set(events.filter((e) => e.name === 'a.txt').map((e) => e.type))
      for (const t of ['create', 'write', 'remove']) assert(types.has(t), `no ${t} event for a.txt: ${[...types]}`)
      await handle.stop()
      for (let i = 0; i < 40 && !exited; i++) await sleep(50)
      assert(exited, 'onExit was not called after stop()')
      const seen = events.length
      await a.commands.run('touch ~/watched/late.txt')
      await sleep(300)
      assertEqual(events.length, seen, 'events after stop()')

      const deep = []
      const recursive = await a.files.watchDir('watched', (e) => deep.push(e), { recursive: true, includeEntry: true })
      await a.commands.run('mkdir ~/watched/sub')
      await waitFor(deep, (e) => e.name === 'sub' && e.type === 'create', 'create of sub')
      await a.commands.run('echo x > ~/watched/sub/f.txt')
      await waitFor(deep, (e) => e.name === 'sub/f.txt' && e.type === 'create', 'create of sub/f.txt')
      const entry = deep.find((e) => e.name === 'sub/f.txt' && e.entry)?.entry
      assertEqual(entry?.path, '/home/user/watched/sub/f.txt', 'the event\'s entry')
      await recursive.stop()
      await expectError(() => a.files.watchDir('no/such/dir', () => {}), {
        Class: errors.NotFoundError,
        className: 'NotFoundError',
        what: 'watching a missing directory',
      })
    })
    }
    if (a.files) await filesSteps()
    else skip('files: sandbox.files', 'this SDK has no files API yet')

    if (config.rawFetch && a.files) {
      await step('files: signed download and upload URLs work with no headers; forged and expired signatures get 401', async () => {
        await a.files.write('signed.txt', 'signed content')
        const down = await a.downloadUrl('signed.txt')
        const res = await config.rawFetch(down)
        assertEqual(res.status, 200, 'download status')
        assertEqual(await res.text(), 'signed content', 'download body')
        const up = await a.uploadUrl('uploaded.txt')
        const form = new FormData()
        form.append('file', new Blob(['via url']), 'uploaded.txt')
        const posted = await config.rawFetch(up, { method: 'POST', body: form })
        assertEqual(posted.status, 200, 'upload status')
        assertEqual(await a.files.read('uploaded.txt'), 'via url', 'uploaded content')
        const forged = down.replace(/signature=[^&]+/, 'signature=v1_forged')
        const bad = await config.rawFetch(`${conn.sandboxUrl}/files?${forged.split('?')[1]}`, {
          headers: { 'e2b-sandbox-id': a.sandboxId },
        })
        assertEqual(bad.status, 401, 'forged signature status')
        const lasting = await a.downloadUrl('signed.txt', { useSignatureExpiration: 60 })
        assert(/signature_expiration=\d+/.test(lasting), `no expiration in ${lasting}`)
        assertEqual((await config.rawFetch(lasting)).status, 200, 'status within the expiration')
        const brief = await a.downloadUrl('signed.txt', { useSignatureExpiration: 1 })
        await sleep(2_100)
        assertEqual((await config.rawFetch(brief)).status, 401, 'status after the expiration')
      })
    }

    if (config.rawFetch) {
      await step('bad input: a wrong or missing access token gets 401', async () => {
        const url = `${conn.sandboxUrl}/process.Process/List`
        for (const token of [undefined, 'wrong-token']) {
          const res = await config.rawFetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'e2b-sandbox-id': a.sandboxId, 'e2b-sandbox-port': '49983', ...(token ? { 'x-access-token': token } : {}) },
            body: '{}',
          })
          assertEqual(res.status, 401, `status with token ${token}`)
        }
      })
    }

    // Conformance with E2B's daemon and SDK, terminals and public URLs: one module each. The
    // terminals come after the daemon steps on purpose: a stream the SDK dropped (a stopped
    // watch) once kept its connection busy in Chromium, and two terminal streams then waited
    // on the six-connections-per-host limit.
    const ctx = { Sandbox, errors, conn, config, log, a, create, step, skip, expectError, exitError }
    await runDaemonConformance(ctx)
    await runPtyScenario(ctx)
    await runPublicScenario(ctx)
    await runSdkConformance(ctx)

    await step('pause: a paused sandbox\'s counter stands still (a second pause is false, state paused); connect resumes it and it counts on', async () => {
      const s = await create()
      await s.commands.run(`sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'`, { background: true })
      const count = async () => Number((await s.files.read('/tmp/count').catch(() => '0')).trim() || 0)
      for (let i = 0; i < 100 && (await count()) < 3; i++) await sleep(50)
      const before = await count()
      assert(before >= 3, `the counter did not count: ${before}`)
      assertEqual(await s.pause(), true, 'pause')
      assertEqual(await s.pause(), false, 'a second pause')
      assertEqual((await Sandbox.getInfo(s.sandboxId, conn)).state, 'paused', 'state while paused')
      const paused = await Sandbox.list({ ...conn, query: { state: ['paused'] } }).nextItems()
      assert(paused.some((p) => p.sandboxId === s.sandboxId), 'not listed as paused')
      await sleep(1_500)
      const resumed = await Sandbox.connect(s.sandboxId, conn)
      const after = await count()
      // Running, it would have counted about 30 times in 1.5 s.
      assert(after - before < 15, `counted ${after - before} times while paused`)
      let later = after
      for (let i = 0; i < 100 && later <= after; i++) {
        await sleep(50)
        later = await count()
      }
      assert(later > after, 'the counter did not go on after the resume')
      assertEqual((await resumed.getInfo()).state, 'running', 'state after connect')
      await s.kill()
    }, { timeoutMs: 30_000 })

    await step('pause: onTimeout \'pause\' pauses at the timeout, files and processes kept; traffic resumes it (autoResume)', async () => {
      const s = await create({ timeoutMs: 2_000, lifecycle: { onTimeout: 'pause', autoResume: true } })
      await s.files.write('/tmp/kept', 'kept')
      await s.commands.run('sleep 600', { background: true })
      let state
      for (let i = 0; i < 100 && state !== 'paused'; i++) {
        if (i) await sleep(100)
        state = (await Sandbox.getInfo(s.sandboxId, conn)).state
      }
      assertEqual(state, 'paused', 'state past the timeout')
      assertEqual(await s.files.read('/tmp/kept'), 'kept', 'a read, which resumes it')
      assertEqual((await Sandbox.getInfo(s.sandboxId, conn)).state, 'running', 'state after the read')
      const listed = await s.commands.list()
      assert(listed.some((p) => `${p.cmd} ${(p.args ?? []).join(' ')}`.includes('sleep 600')), `processes after the resume: ${JSON.stringify(listed)}`)
      await s.kill()
    }, { timeoutMs: 30_000 })

    await step('pause: without memory (keepMemory false) the processes end and the files stay; the resume reboots; onResume \'reboot\' reboots a frozen one', async () => {
      const s = await create()
      const started = async () => {
        await s.files.write('/home/user/kept', 'kept')
        await s.commands.run('sleep 600', { background: true })
      }
      const rebooted = async (what) => {
        assertEqual(await s.files.read('/home/user/kept'), 'kept', `files after ${what}`)
        const left = (await s.commands.list()).filter((p) => `${p.cmd} ${(p.args ?? []).join(' ')}`.includes('sleep 600'))
        assertEqual(left.length, 0, `processes after ${what}`)
        assertEqual((await s.commands.run('echo again')).stdout, 'again\n', `a command after ${what}`)
      }
      await started()
      assertEqual(await s.pause({ keepMemory: false }), true, 'pause without memory')
      assertEqual((await Sandbox.getInfo(s.sandboxId, conn)).state, 'paused', 'state')
      await Sandbox.connect(s.sandboxId, conn)
      await rebooted('a resume of a sandbox paused without memory')
      await started()
      assertEqual(await Sandbox.pause(s.sandboxId, conn), true, 'pause with memory')
      await s.connect({ onResume: 'reboot' })
      await rebooted("connect({ onResume: 'reboot' })")
      const bad = await expectError(() => Sandbox.connect(s.sandboxId, { ...conn, onResume: 'thaw' }), { Class: errors.InvalidArgumentError, className: 'InvalidArgumentError', what: 'onResume thaw' })
      assertEqual(bad.message, 'onResume must be one of: restore, reboot (got "thaw").', 'onResume message')
      await s.kill()
    }, { timeoutMs: 30_000 })

    await step('metrics: a busy sandbox\'s samples show its CPU, memory and disk; an idle one\'s stay low; getMetrics static and instance', async () => {
      const busy = await create()
      const idle = await create()
      await busy.commands.run('head -c 8388608 /dev/urandom > /home/user/blob')
      await busy.commands.run("timeout 20 sh -c 'while :; do :; done'", { background: true })
      let sample
      for (let i = 0; i < 150 && !sample; i++) {
        if (i) await sleep(100)
        const all = await busy.getMetrics()
        sample = all.find((m) => m.cpuUsedPct > 20 && m.diskUsed >= 8 * 2 ** 20)
      }
      assert(sample, 'no sample shows the busy loop and the file')
      assert(sample.timestamp instanceof Date && Math.abs(sample.timestamp.getTime() - Date.now()) < 60_000, `timestamp ${sample.timestamp}`)
      assertEqual(show([sample.cpuCount, sample.memTotal]), show([2, 512 * 2 ** 20]), 'cpuCount, memTotal')
      assert(sample.memUsed > 0 && sample.memUsed < sample.memTotal, `memUsed ${sample.memUsed}`)
      const keys = Object.keys(sample).sort()
      assertEqual(show(keys), show(['cpuCount', 'cpuUsedPct', 'diskTotal', 'diskUsed', 'memCache', 'memTotal', 'memUsed', 'timestamp']), 'keys')
      let quiet = []
      for (let i = 0; i < 100 && !quiet.length; i++) {
        if (i) await sleep(100)
        quiet = await Sandbox.getMetrics(idle.sandboxId, conn)
      }
      assert(quiet.length > 0, 'the idle sandbox was sampled too')
      assert(quiet[quiet.length - 1].cpuUsedPct < 10, `idle cpuUsedPct ${quiet[quiet.length - 1].cpuUsedPct}`)
      const future = await busy.getMetrics({ start: new Date(Date.now() + 3_600_000) })
      assertEqual(future.length, 0, 'samples from an hour ahead')
      // Whole seconds on the wire (rounded): a span of a second either side holds the sample.
      const at = sample.timestamp.getTime()
      const span = await busy.getMetrics({ start: new Date(at - 1_000), end: new Date(at + 1_000) })
      assert(span.some((m) => m.timestamp.getTime() === at), 'the sample is in the span around it')
      assert(span.every((m) => Math.abs(m.timestamp - at) < 2_000), `a span of seconds: ${span.map((m) => m.timestamp.toISOString())}`)
      await expectError(() => Sandbox.getMetrics('sandkit-no-such-sandbox', conn), { Class: errors.SandboxNotFoundError, className: 'SandboxNotFoundError', what: 'metrics of no sandbox' })
      await Promise.all([busy.kill(), idle.kill()])
    }, { timeoutMs: 30_000 })

    if (typeof Sandbox.betaCreate === 'function') {
      await step('pause: Sandbox.betaCreate({ autoPause: true }) is create with onTimeout \'pause\'; betaPause pauses', async () => {
        const s = await Sandbox.betaCreate({ ...conn, autoPause: true })
        assertEqual((await s.getInfo()).lifecycle?.onTimeout, 'pause', 'lifecycle.onTimeout')
        assertEqual(await s.betaPause(), true, 'betaPause')
        const contradicting = await expectError(() => Sandbox.betaCreate({ ...conn, autoPause: true, lifecycle: { onTimeout: 'kill' } }), { Class: errors.InvalidArgumentError, className: 'InvalidArgumentError', what: 'autoPause against onTimeout kill' })
        assert(contradicting.message.includes('autoPause'), contradicting.message)
        await s.kill()
      })
    } else {
      skip("pause: Sandbox.betaCreate({ autoPause: true })", 'the seeds\' name, not in e2b 2.51')
    }

    await step('lifecycle: kill ends the sandbox and every process in it', async () => {
      const c = await create()
      await c.commands.run('sleep 100', { background: true })
      assertEqual(await c.isRunning(), true, 'isRunning before')
      await c.kill()
      assertEqual(await c.isRunning(), false, 'isRunning after kill')
      if (config.hostChecks) {
        const left = await config.hostChecks.processesOf(c.sandboxId)
        assertEqual(left, 0, 'processes left on the host')
      }
    })

    await step('lifecycle: an expired sandbox\'s processes end too', async () => {
      const d = await create({ timeoutMs: 1_000 })
      await d.commands.run('sleep 100', { background: true })
      await sleep(2_500)
      assertEqual(await d.isRunning(), false, 'isRunning after expiry')
      if (config.hostChecks) {
        const left = await config.hostChecks.processesOf(d.sandboxId)
        assertEqual(left, 0, 'processes left on the host')
      }
    }, { timeoutMs: 15_000 })
  } catch (err) {
    results.push({ name: 'commands scenario: ran to the end', ok: false, error: describeError(err), ms: 0 })
    try {
      check(results.at(-1))
    } catch {}
  }
  for (const s of created) {
    try {
      await s.kill()
    } catch {}
  }
  const counted = results.filter((r) => !r.skipped)
  return {
    passed: counted.filter((r) => r.ok).length,
    failed: counted.filter((r) => !r.ok).length,
    skipped: results.length - counted.length,
    results,
  }
}
