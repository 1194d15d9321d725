// Part of the sandbox scenario (called from scenario-commands.mjs with its runner and a running
// sandbox `a`): terminals: sandbox.pty.
import { assert, assertEqual, fail, show, sleep } from './checks.mjs'

const encoder = new TextEncoder()
const keys = (text) => encoder.encode(text)

/**
 * A terminal's output as `onData` delivers it: the text so far, whether every piece was a
 * Uint8Array, and `waitFor(needle)`, which resolves once the text contains the needle. The
 * bound only turns a hang into a failure that shows what the terminal printed.
 */
function terminalOutput() {
  const decoder = new TextDecoder()
  const out = { text: '', pieces: 0, allBytes: true }
  let wake = () => {}
  out.onData = (data) => {
    out.pieces++
    if (!(data instanceof Uint8Array)) out.allBytes = false
    out.text += decoder.decode(data, { stream: true })
    wake()
  }
  out.waitFor = async (needle, boundMs = 20_000) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      wake()
    }, boundMs)
    try {
      while (!out.text.includes(needle)) {
        if (timedOut) fail(`no ${show(needle)} from the terminal; it showed ${show(out.text.slice(-400))}`)
        await new Promise((resolve) => (wake = resolve))
      }
    } finally {
      clearTimeout(timer)
    }
  }
  return out
}

export async function runPtyScenario({ errors, a, step, expectError, exitError }) {
  const invalid = { Class: errors.InvalidArgumentError, className: 'InvalidArgumentError' }
  const notFound = { Class: errors.NotFoundError, className: 'NotFoundError' }

  // The echoed command line shows `$((…))` and `$VAR` as typed; only the output has values.
  await step('pty: create a terminal; input typed with sendInput is run and its output streams to onData as bytes; exit ends it with code 0', async () => {
    const out = terminalOutput()
    const h = await a.pty.create({ cols: 80, rows: 24, onData: out.onData })
    assert(Number.isInteger(h.pid) && h.pid > 0, `pid ${show(h.pid)}`)
    await a.pty.sendInput(h.pid, keys('echo "hi-$((6*7))|$TERM|$LANG|$LC_ALL"\n'))
    // Arrives while the shell still runs: streamed, not held until the end.
    await out.waitFor('hi-42|xterm-256color|C.UTF-8|C.UTF-8')
    assert(out.allBytes, 'onData got something that is not a Uint8Array')
    await a.pty.sendInput(h.pid, keys('exit\n'))
    const r = await h.wait()
    assertEqual(r.exitCode, 0, 'exitCode')
    assertEqual(r.stdout, '', 'stdout of a terminal (its output is in onData)')
  })

  await step('pty: the terminal has the size asked for; resize changes it and the program in the foreground gets SIGWINCH', async () => {
    const out = terminalOutput()
    const h = await a.pty.create({ cols: 91, rows: 27, onData: out.onData })
    try {
      await a.pty.sendInput(h.pid, keys('echo "S=$(stty size)"\n'))
      await out.waitFor('S=27 91')
      await a.pty.sendInput(h.pid, keys(`sh -c 'trap "echo WINCH-\\$(stty size); exit 0" WINCH; echo ARM$((1+1)); while :; do sleep 0.1; done'\n`))
      await out.waitFor('ARM2')
      await a.pty.resize(h.pid, { cols: 120, rows: 40 })
      await out.waitFor('WINCH-40 120')
      await a.pty.sendInput(h.pid, keys('echo "T=$(stty size)"\n'))
      await out.waitFor('T=40 120')
    } finally {
      await a.pty.kill(h.pid)
    }
  })

  await step('pty: envs, cwd and user options; envs override the TERM default', async () => {
    const out = terminalOutput()
    const h = await a.pty.create({ cols: 80, rows: 24, onData: out.onData, user: 'root', cwd: '/tmp', envs: { PTY_VAR: 'v1', TERM: 'vt100' } })
    await a.pty.sendInput(h.pid, keys('echo "W=$(whoami)|$(pwd)|$PTY_VAR|$TERM"; exit\n'))
    await out.waitFor('W=root|/tmp|v1|vt100')
    assertEqual((await h.wait()).exitCode, 0, 'exitCode')
  })

  await step('pty: listed as bash -i -l; a second handle from connect gets the output; a terminal handle has no stdin; kill ends it', async () => {
    const first = terminalOutput()
    const h = await a.pty.create({ cols: 80, rows: 24, onData: first.onData })
    const listed = (await a.commands.list()).find((p) => p.pid === h.pid)
    assert(listed, `pid ${h.pid} not listed`)
    assertEqual(listed.cmd, '/bin/bash', 'cmd')
    assertEqual(listed.args.join(' '), '-i -l', 'args')
    const second = terminalOutput()
    const h2 = await a.pty.connect(h.pid, { onData: second.onData })
    assertEqual(h2.pid, h.pid, 'pid of the second handle')
    await a.pty.sendInput(h.pid, keys('echo "B$((2+3))B"\n'))
    await second.waitFor('B5B')
    await first.waitFor('B5B')
    await expectError(() => h.sendStdin('x'), { Class: errors.SandboxError, className: 'SandboxError', what: 'sendStdin on a terminal handle' })
    assertEqual(await a.pty.kill(h.pid), true, 'kill')
    const err = await expectError(() => h.wait(), { ...exitError, what: 'wait after kill' })
    assertEqual(err.exitCode, -1, 'exitCode')
    await expectError(() => h2.wait(), { ...exitError, what: 'wait of the second handle after kill' })
    assertEqual(await a.pty.kill(h.pid), false, 'kill again')
  })

  await step('pty: disconnect() leaves the terminal running; connect() follows it again', async () => {
    const first = terminalOutput()
    const h = await a.pty.create({ cols: 80, rows: 24, onData: first.onData, envs: { PTY_FOO: 'bar' } })
    await a.pty.sendInput(h.pid, keys('echo "A=$PTY_FOO"\n'))
    await first.waitFor('A=bar')
    await h.disconnect()
    const before = first.text
    const second = terminalOutput()
    const h2 = await a.pty.connect(h.pid, { onData: second.onData })
    await a.pty.sendInput(h.pid, keys('echo "B=$PTY_FOO"; exit\n'))
    await second.waitFor('B=bar')
    assertEqual((await h2.wait()).exitCode, 0, 'exitCode through the new handle')
    assertEqual(first.text, before, 'what the disconnected handle got after disconnect')
  })

  await step('pty: the daemon refuses stdin calls for a terminal and terminal calls for a plain command, with envd\'s words', async () => {
    const sandboxError = { Class: errors.SandboxError, className: 'SandboxError' }
    const h = await a.pty.create({ cols: 80, rows: 24, onData: () => {} })
    const plain = await a.commands.run('sleep 30', { background: true })
    try {
      const close = await expectError(() => a.commands.closeStdin(h.pid), { ...sandboxError, what: 'closeStdin of a terminal' })
      assert(close.message.includes('cannot close stdin for PTY process'), `closeStdin: ${close.message}`)
      assert(!(close instanceof errors.InvalidArgumentError), 'closeStdin of a terminal is not a bad argument')
      const stdin = await expectError(() => a.commands.sendStdin(h.pid, 'x'), { ...sandboxError, what: 'sendStdin to a terminal' })
      assert(stdin.message.includes('tty assigned to process'), `sendStdin: ${stdin.message}`)
      const input = await expectError(() => a.pty.sendInput(plain.pid, keys('x')), { ...sandboxError, what: 'sendInput to a plain command' })
      assert(input.message.includes('tty not assigned to process'), `sendInput: ${input.message}`)
      const resize = await expectError(() => a.pty.resize(plain.pid, { cols: 10, rows: 10 }), { ...sandboxError, what: 'resize of a plain command' })
      assert(resize.message.includes('tty not assigned to process'), `resize: ${resize.message}`)
    } finally {
      await a.pty.kill(h.pid)
      await plain.kill()
    }
  })

  await step('pty: timeoutMs ends the terminal', async () => {
    const h = await a.pty.create({ cols: 80, rows: 24, onData: () => {}, timeoutMs: 1000 })
    await expectError(() => h.wait(), { what: 'wait past timeoutMs' })
    // The daemon's clock starts when the request reaches it, a little after the client's:
    // give it a moment to end the shell.
    let listed = true
    for (let i = 0; i < 30 && listed; i++) {
      listed = (await a.commands.list()).some((p) => p.pid === h.pid)
      if (listed) await sleep(100)
    }
    assert(!listed, `the terminal (pid ${h.pid}) still runs after its timeout`)
  })

  await step('pty: a size that is not a whole number from 1 to 65535 rejects with InvalidArgumentError', async () => {
    for (const size of [{ cols: 0, rows: 24 }, { cols: 80, rows: -1 }, { cols: 80.5, rows: 24 }, { cols: 70_000, rows: 24 }, { rows: 24 }]) {
      await expectError(() => a.pty.create({ ...size, onData: () => {} }), { ...invalid, what: `create with ${show(size)}` })
    }
    const h = await a.pty.create({ cols: 80, rows: 24, onData: () => {} })
    try {
      await expectError(() => a.pty.resize(h.pid, { cols: 0, rows: 0 }), { ...invalid, what: 'resize to 0×0' })
    } finally {
      await a.pty.kill(h.pid)
    }
  })

  await step('pty: sendInput, resize and connect of a pid that does not exist reject with NotFoundError', async () => {
    const pid = 999_999
    await expectError(() => a.pty.sendInput(pid, keys('x')), { ...notFound, what: 'sendInput' })
    await expectError(() => a.pty.resize(pid, { cols: 80, rows: 24 }), { ...notFound, what: 'resize' })
    await expectError(() => a.pty.connect(pid, { onData: () => {} }), { ...notFound, what: 'connect' })
    assertEqual(await a.pty.kill(pid), false, 'kill')
  })
}
