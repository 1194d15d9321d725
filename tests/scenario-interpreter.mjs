// The code interpreter (`runCode` and code contexts), in every runtime and with the official
// `@e2b/code-interpreter` package: the checks the seeds' examples depend on.
//
//   await runInterpreterScenario({ Sandbox, errors, conn, step, expectError })
//
// `Sandbox` is one with `runCode` (sandkit's own, or the official code-interpreter package's).
import { assert, assertEqual, show } from './checks.mjs'

export async function runInterpreterScenario({ Sandbox, errors, conn, step, expectError }) {
  let sbx
  await step('runCode: state is kept between calls (x = 1, then x + 1 is 2); sum(data) is 15; executionCount counts', async () => {
    sbx = await Sandbox.create({ ...conn, envs: { SCOPE: 'global' } })
    const first = await sbx.runCode('x = 1')
    assertEqual(first.error, undefined, 'error of x = 1')
    const second = await sbx.runCode('x + 1')
    assertEqual(second.text, '2', 'text of x + 1')
    assert(second.executionCount > first.executionCount, `executionCount ${first.executionCount} then ${second.executionCount}`)
    const data = await sbx.runCode('data = [1, 2, 3, 4, 5]\nsum(data)')
    assertEqual(data.text, '15', 'sum(data)')
    assertEqual(data.results.length, 1, 'results')
    assertEqual(data.results[0].isMainResult, true, 'isMainResult')
    const json = JSON.parse(JSON.stringify(data))
    assertEqual(show(Object.keys(json).sort()), show(['logs', 'results']), 'toJSON keys (error undefined)')
  }, { timeoutMs: 60_000 })
  if (!sbx) return

  await step('runCode: stdout and stderr arrive in order, through the callbacks, as the code runs', async () => {
    const seen = []
    const execution = await sbx.runCode(
      [
        'import os, sys, time',
        "print('one', flush=True)",
        "print('two', file=sys.stderr, flush=True)",
        // Waits for a file the first callback writes: output held back to the end would never
        // let this execution finish.
        "while not os.path.exists('/tmp/go'): time.sleep(0.05)",
        "print('three', flush=True)",
      ].join('\n'),
      {
        timeoutMs: 30_000,
        onStdout: async (m) => {
          seen.push(`out:${m.line}`)
          if (m.line.includes('one')) await sbx.files.write('/tmp/go', 'go')
        },
        onStderr: (m) => {
          assertEqual(m.error, true, 'error flag of stderr')
          seen.push(`err:${m.line}`)
        },
      },
    )
    assertEqual(execution.logs.stdout.join(''), 'one\nthree\n', 'stdout')
    assertEqual(execution.logs.stderr.join(''), 'two\n', 'stderr')
    assertEqual(seen.join('|').replace(/\n/g, ''), 'out:one|err:two|out:three', 'callback order')
  }, { timeoutMs: 60_000 })

  await step('runCode: an exception gives error name, value and traceback, and onError', async () => {
    let called
    const execution = await sbx.runCode('1 / 0', { onError: (e) => (called = e) })
    assertEqual(execution.error?.name, 'ZeroDivisionError', 'name')
    assertEqual(execution.error?.value, 'division by zero', 'value')
    assert(execution.error?.traceback.includes('ZeroDivisionError'), `traceback ${show(execution.error?.traceback)}`)
    assertEqual(called?.name, 'ZeroDivisionError', 'onError')
    assertEqual(execution.text, undefined, 'no main result')
  })

  await step('runCode: rich results: an object with _repr_html_, and a matplotlib chart as a base64 PNG with its chart data', async () => {
    const html = await sbx.runCode("class Card:\n    def _repr_html_(self):\n        return '<b>card</b>'\nCard()")
    const card = html.results.find((r) => r.isMainResult)
    assertEqual(card?.html, '<b>card</b>', 'html')
    assert(card.formats().includes('html'), `formats ${show(card.formats())}`)
    const chart = await sbx.runCode(
      "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9], label='squares')\nplt.title('Squares')\nplt.xlabel('Count (n)')\nplt.show()",
    )
    assertEqual(chart.error, undefined, `error ${show(chart.error)}`)
    const png = chart.results.find((r) => r.png)
    assert(png, `no PNG among ${chart.results.length} results`)
    assert(png.png.startsWith('iVBORw0KGgo'), 'a base64 PNG')
    assert(png.formats().includes('png'), 'formats has png')
    // The `chart` E2B's template gives a shown figure (its extractor, e2b-charts).
    const { type, title, x_label, x_unit, elements } = png.chart ?? {}
    assertEqual(show({ type, title, x_label, x_unit }), show({ type: 'line', title: 'Squares', x_label: 'Count (n)', x_unit: 'n' }), 'chart')
    assertEqual(show(elements), show([{ label: 'squares', points: [[1, 1], [2, 4], [3, 9]] }]), 'chart elements')
    const bars = await sbx.runCode("plt.bar(['a', 'b'], [3, 5])\nplt.title('Bars')\nplt.show()")
    assertEqual(bars.results.find((r) => r.png)?.chart?.type, 'bar', 'a bar chart')
  }, { timeoutMs: 60_000 })

  // A string's text is its repr without the quotes, as the official server makes it.
  await step('runCode: envs for one call win over the create-time ones, and only for that call; E2B_* are visible', async () => {
    const env = (name, opts) => sbx.runCode(`import os\nos.environ.get(${JSON.stringify(name)})`, opts).then((e) => e.text)
    assertEqual(await env('SCOPE', { envs: { SCOPE: 'local' } }), 'local', 'with envs')
    assertEqual(await env('SCOPE'), 'global', 'without envs, after')
    assertEqual(await env('E2B_SANDBOX'), 'true', 'E2B_SANDBOX')
  })

  await step('contexts: python and javascript defaults listed first; two made are isolated, listed last in order; restart clears one; a removed one is gone (NotFoundError)', async () => {
    const defaults = (await sbx.listCodeContexts()).slice(0, 2).map((c) => `${c.language} ${c.cwd}`)
    assertEqual(show(defaults), show(['python /home/user', 'javascript /home/user']), 'the default contexts')
    const a = await sbx.createCodeContext()
    const b = await sbx.createCodeContext({ cwd: '/tmp' })
    assertEqual(show([a.language, a.cwd, b.cwd]), show(['python', '/home/user', '/tmp']), 'context fields')
    assertEqual(show((await sbx.listCodeContexts()).slice(-2).map((c) => c.id)), show([a.id, b.id]), 'the last two listed')
    await sbx.runCode('v = "a"', { context: a })
    await sbx.runCode('v = "b"', { context: b })
    assertEqual((await sbx.runCode('v', { context: a })).text, 'a', 'v in a')
    assertEqual((await sbx.runCode('import os\nos.getcwd()', { context: b })).text, '/tmp', 'cwd of b')
    const listed = (await sbx.listCodeContexts()).map((c) => c.id)
    assert(listed.includes(a.id) && listed.includes(b.id), `listed ${show(listed)}`)
    await sbx.restartCodeContext(a)
    assertEqual((await sbx.runCode('v', { context: a })).error?.name, 'NameError', 'v after restart')
    await sbx.removeCodeContext(b.id)
    assert(!(await sbx.listCodeContexts()).some((c) => c.id === b.id), 'removed context listed')
    await expectError(() => sbx.runCode('1', { context: b }), { Class: errors.NotFoundError, className: 'NotFoundError', what: 'a removed context' })
    await sbx.removeCodeContext(a)
  }, { timeoutMs: 60_000 })

  await step('runCode: a timeout ends a runaway execution (TimeoutError) and the context stays usable', async () => {
    const ctx = await sbx.createCodeContext()
    await sbx.runCode('kept = 7', { context: ctx })
    const err = await expectError(() => sbx.runCode('while True: pass', { context: ctx, timeoutMs: 1_500 }), {
      Class: errors.TimeoutError,
      className: 'TimeoutError',
      what: 'a runaway execution',
    })
    assert(err.message.includes('timeoutMs'), err.message)
    assertEqual((await sbx.runCode('kept', { context: ctx })).text, '7', 'the context after the timeout')
    await sbx.removeCodeContext(ctx)
  }, { timeoutMs: 60_000 })

  // sandkit's own option: the official package has no `signal`.
  if (typeof Sandbox.prototype?.codeRun === 'function') {
    await step('runCode: an AbortSignal ends the execution (runCode rejects with its reason) and the context stays usable', async () => {
      const ctx = await sbx.createCodeContext()
      await sbx.runCode('kept = 3', { context: ctx })
      const controller = new AbortController()
      const reason = new Error('stop now')
      let rejected
      try {
        await sbx.runCode("print('started', flush=True)\nimport time\ntime.sleep(60)", {
          context: ctx,
          signal: controller.signal,
          timeoutMs: 30_000,
          onStdout: () => controller.abort(reason),
        })
      } catch (err) {
        rejected = err
      }
      assertEqual(rejected, reason, 'the rejection is the signal\'s reason')
      assertEqual((await sbx.runCode('kept', { context: ctx })).text, '3', 'the context after the abort')
      await sbx.removeCodeContext(ctx)
    }, { timeoutMs: 60_000 })
  }

  await step('runCode: JavaScript and Bash contexts keep their state', async () => {
    const js = await sbx.runCode('const a = 2\na * 21', { language: 'javascript' })
    assertEqual(js.text, '42', 'javascript')
    assertEqual((await sbx.runCode('a + 1', { language: 'js' })).text, '3', 'javascript state (js)')
    const sh = await sbx.runCode('X=5\necho $X', { language: 'bash' })
    assertEqual(sh.logs.stdout.join(''), '5\n', 'bash')
    assertEqual((await sbx.runCode('echo $((X + 1))', { language: 'bash' })).logs.stdout.join(''), '6\n', 'bash state')
  }, { timeoutMs: 60_000 })

  await step('runCode: JavaScript imports and awaits at top level, TypeScript loses its types (E2B\'s own kernel tests)', async () => {
    const imported = await sbx.runCode("\nimport { readFileSync } from 'fs'\nconsole.log(typeof readFileSync)\n", { language: 'js' })
    assertEqual(imported.error, undefined, 'error of a static import')
    assertEqual(imported.logs.stdout.join(''), 'function\n', 'stdout of a static import')
    const awaited = await sbx.runCode("\nawait Promise.resolve('Hello World!')\n", { language: 'js' })
    assertEqual(awaited.text, 'Hello World!', 'a top-level await')
    await sbx.runCode('const late = await new Promise((r) => setTimeout(() => r(6), 10))', { language: 'js' })
    assertEqual((await sbx.runCode('late * 7', { language: 'js' })).text, '42', 'what an awaiting cell declared')
    const typed = await sbx.runCode('const message: string = "Hello World!"; console.log(message)', { language: 'ts' })
    assertEqual(typed.error, undefined, 'error of a typed cell')
    assertEqual(typed.logs.stdout.join(''), 'Hello World!\n', 'stdout of a typed cell')
    const bad = await sbx.runCode('let x: = 1', { language: 'typescript' })
    assertEqual(bad.error?.name, 'SyntaxError', 'a TypeScript syntax error')
  }, { timeoutMs: 60_000 })

  await step('runCode: R and Java contexts as E2B\'s R and Java kernels give them: output, values, state, plots, envs (E2B\'s own kernel tests)', async () => {
    const hello = await sbx.runCode('print("Hello, World!")', { language: 'r' })
    assertEqual(show(hello.logs.stdout), show(['[1] "Hello, World!"\n']), 'R stdout')
    const env = await sbx.runCode("Sys.getenv('FOO')", { language: 'r', envs: { FOO: 'bar' } })
    assertEqual(env.results[0]?.text, '[1] "bar"', 'R value with an execution variable')
    assertEqual(env.results[0]?.isMainResult, false, 'an R value is not the main result (IRkernel)')
    await sbx.runCode('kept <- 20', { language: 'r' })
    const plotted = await sbx.runCode('plot(1:3)\nkept * 2 + 2', { language: 'r' })
    assertEqual(plotted.results.map((r) => r.text).join(' | '), '[1] 42 | plot without title', 'R state, a value, then the plot')
    assert(plotted.results[1]?.png?.startsWith('iVBORw0KGgo'), 'the plot is a base64 PNG')
    const failed = await sbx.runCode("stop('no')", { language: 'r' })
    assertEqual(show([failed.error?.name, failed.error?.value]), show(['ERROR', 'Error: no\n']), 'an R error')

    const println = await sbx.runCode('System.out.println("Hello, World!")', { language: 'java' })
    assertEqual(println.logs.stdout[0], 'Hello, World!', 'Java stdout[0]')
    const property = await sbx.runCode('System.getProperty("FOO")', { language: 'java', envs: { FOO: 'bar' } })
    assertEqual(property.results[0]?.text, 'bar', 'a Java execution variable, as a system property')
    await sbx.runCode('int kept = 20;', { language: 'java' })
    const value = await sbx.runCode('kept * 2 + 2', { language: 'java' })
    assertEqual(show([value.text, value.results[0]?.isMainResult]), show(['42', true]), 'Java state and main result')
    const thrown = await sbx.runCode('Integer.parseInt("x")', { language: 'java' })
    assertEqual(thrown.error?.name, 'java.lang.NumberFormatException', 'a Java exception')
  }, { timeoutMs: 90_000 })

  await step('runCode: 1 MB of output in one execution arrives whole', async () => {
    const big = await sbx.runCode("print('x' * 1_000_000)")
    const out = big.logs.stdout.join('')
    assertEqual(out.length, 1_000_001, 'stdout length')
  }, { timeoutMs: 60_000 })

  await step('runCode: bad input: context and language together (InvalidArgumentError), an unknown context (NotFoundError), an unknown language', async () => {
    const ctx = { id: 'sandkit-no-such-context', language: 'python', cwd: '/' }
    await expectError(() => sbx.runCode('1', { context: ctx, language: 'python' }), { Class: errors.InvalidArgumentError, className: 'InvalidArgumentError', what: 'context and language' })
    await expectError(() => sbx.runCode('1', { context: ctx }), { Class: errors.NotFoundError, className: 'NotFoundError', what: 'an unknown context' })
    await expectError(() => sbx.runCode('1', { language: 'cobol-from-mars' }), { Class: errors.SandboxError, className: 'SandboxError', what: 'an unknown language' })
  })

  await sbx.kill()
}
