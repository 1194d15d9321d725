// How every runner prints checks: one line per check, then `N passed, N failed` alone on the
// last line (run-all.mjs reads that line).

/** One line for a check result { name, ok, skipped?, error?, detail?, ms? }. */
export function formatCheck(r, prefix = '') {
  const oneLine = (s) => String(s).replace(/\s*\n\s*/g, ' ⏎ ')
  r = { ...r, detail: r.detail && oneLine(r.detail), error: r.error && oneLine(r.error) }
  const time = r.ms !== undefined && r.ms >= 1000 ? ` (${(r.ms / 1000).toFixed(1)} s)` : ''
  if (r.expectedFailure) return `${prefix}xfail ${r.name} — ${r.detail}`
  if (r.skipped) return `${prefix}skip  ${r.name}${r.detail ? ` — ${r.detail}` : ''}`
  if (r.ok) return `${prefix}ok    ${r.name}${r.detail ? ` — ${r.detail}` : ''}${time}`
  return `${prefix}FAIL  ${r.name} — ${r.error ?? 'failed'}${time}`
}

export function printCheck(r, prefix = '') {
  console.log(formatCheck(r, prefix))
}

/** The final line; exactly this shape. */
export function totalsLine(passed, failed) {
  return `${passed} passed, ${failed} failed`
}

export const TOTALS_RE = /^(\d+) passed, (\d+) failed$/

/** A result for a failure outside the scenario (the runner could not load or run it). */
export function runnerFailure(name, err) {
  return { name, ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }
}

/**
 * A runner's checks, counted: `check(name, fn)` runs `fn` (awaited), prints its line with its
 * result (what `fn` returned) or error and its time; `finish()` prints the totals and exits.
 */
export function createChecks() {
  let passed = 0
  let failed = 0
  async function check(name, fn) {
    const started = Date.now()
    try {
      const detail = await fn()
      printCheck({ name, ok: true, detail, ms: Date.now() - started })
      passed++
    } catch (err) {
      printCheck({ ...runnerFailure(name, err), ms: Date.now() - started })
      failed++
    }
  }
  return { check, finish: () => finish(passed, failed) }
}

/** Prints the final line and exits: status 1 if anything failed or nothing ran. */
export function finish(passed, failed) {
  console.log(totalsLine(passed, failed))
  process.exit(failed > 0 || passed === 0 ? 1 : 0)
}

/**
 * A runner's way out: `cleanups` run in reverse order (newest first) before `bail` reports
 * a runner failure and exits; the whole run is bailed out of after `timeoutS` seconds.
 * `setUp(name, make, undo)` gives what `make` gives (awaited) and queues `undo(it)` among the
 * cleanups; if `make` throws, the run bails out as `name` (a missing tool, a sandkitd that
 * would not start), undoing what was set up before.
 */
export function runGuard(runner, timeoutS) {
  const cleanups = []
  async function cleanup() {
    while (cleanups.length) {
      try {
        await cleanups.pop()()
      } catch {}
    }
  }
  async function bail(name, err) {
    printCheck(runnerFailure(name, err))
    await cleanup()
    finish(0, 1)
  }
  async function setUp(name, make, undo) {
    try {
      const made = await make()
      if (undo) cleanups.push(() => undo(made))
      return made
    } catch (err) {
      await bail(name, err)
    }
  }
  const overall = setTimeout(() => bail(`${runner}: whole run`, new Error(`did not finish within ${timeoutS} s`)), timeoutS * 1000)
  overall.unref()
  return { cleanups, cleanup, bail, setUp }
}
