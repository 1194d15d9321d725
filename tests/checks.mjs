// Check plumbing shared by the scenarios: assertions, and a runner that times, reports and
// (for documented differences) excuses each named check. Plain JS, no Node APIs: the scenarios
// run in workerd and browsers too.

export const ERROR_NAMES_MOST_SPECIFIC_FIRST = [
  'SandboxNotFoundError',
  'FileNotFoundError',
  'NotFoundError',
  'TimeoutError',
  'InvalidArgumentError',
  'RateLimitError',
  'TemplateError',
  'NotEnoughSpaceError',
  'CommandExitError',
  'SandboxError',
  'AuthenticationError',
  'ServiceBusyError',
]
export const REQUIRED_ERRORS = [
  'SandboxError',
  'TimeoutError',
  'NotFoundError',
  'SandboxNotFoundError',
  'AuthenticationError',
  'InvalidArgumentError',
  'RateLimitError',
  'ServiceBusyError',
]

export class CheckFailed extends Error {
  constructor(message) {
    super(message)
    this.name = 'CheckFailed'
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export function fail(message) {
  throw new CheckFailed(message)
}
export function assert(cond, message) {
  if (!cond) fail(message)
}
export function show(v) {
  if (v instanceof Date) return `Date(${isNaN(v.getTime()) ? 'invalid' : v.toISOString()})`
  try {
    const s = JSON.stringify(v)
    return s === undefined ? String(v) : s.length > 200 ? `${s.slice(0, 200)}…` : s
  } catch {
    return String(v)
  }
}
export function assertEqual(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`)
}
export function assertDeepEqual(actual, expected, what) {
  if (canonical(actual) !== canonical(expected)) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`)
}
export function canonical(v) {
  if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`
  }
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  return JSON.stringify(v)
}
export function isValidDate(d) {
  return d instanceof Date && !isNaN(d.getTime())
}
export function assertNear(actualMs, expectedMs, toleranceMs, what) {
  if (!(Math.abs(actualMs - expectedMs) <= toleranceMs)) {
    fail(`${what}: expected ${new Date(expectedMs).toISOString()} ± ${toleranceMs} ms, got ${show(new Date(actualMs))}`)
  }
}

/** Compares a list of ids with the expected set: no duplicates, nothing missing, nothing extra. */
export function assertSameIds(actualIds, expectedIds, what) {
  const seen = new Map()
  for (const id of actualIds) seen.set(id, (seen.get(id) ?? 0) + 1)
  const expected = new Set(expectedIds)
  const dup = [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id}×${n}`)
  const missing = [...expected].filter((id) => !seen.has(id))
  const extra = [...seen.keys()].filter((id) => !expected.has(id))
  if (dup.length || missing.length || extra.length) {
    const part = (label, xs) => (xs.length ? ` ${label} ${xs.length} (${xs.slice(0, 5).join(', ')}${xs.length > 5 ? ', …' : ''})` : '')
    fail(`${what}: got ${actualIds.length} ids, expected ${expected.size};${part('duplicated', dup)}${part('missing', missing)}${part('unexpected', extra)}`)
  }
}

export function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(`${what}: no answer within ${ms} ms (hung)`)), ms)
    }),
  ])
}

export function describeError(err) {
  if (err instanceof Error || (err && typeof err === 'object' && 'message' in err)) {
    const status = err.statusCode !== undefined ? ` [status ${err.statusCode}]` : ''
    return `${err.name ?? 'Error'}: ${err.message}${status}`
  }
  return `non-Error thrown: ${show(err)}`
}

/**
 * The runner of one scenario: `step(name, fn)` runs and reports a check, `skip` reports one not
 * run, `expectError(fn, { Class, className })` asserts a failure of the right class.
 */
export function createRunner({ errors = {}, check = () => {}, config = {}, results = [] }) {
  /** The most specific of the SDK's error classes `err` is an instance of. */
  function errorClassName(err) {
    for (const name of ERROR_NAMES_MOST_SPECIFIC_FIRST) {
      const C = errors[name]
      if (typeof C === 'function' && err instanceof C) return name
    }
    return err instanceof Error ? `${err.name ?? 'Error'} (not an SDK error class)` : typeof err
  }

  // `config.steps`, a regular expression: run only the steps whose names match (a developer's
  // filter: the runners' --steps; steps that need fixtures of skipped ones then fail).
  const only = config.steps ? new RegExp(config.steps) : null
  async function step(name, fn, { timeoutMs = 30_000 } = {}) {
    if (only && !only.test(name)) return false
    const started = Date.now()
    let result
    try {
      const detail = await withTimeout(Promise.resolve().then(fn), timeoutMs, name)
      result = { name, ok: true }
      if (detail !== undefined) result.detail = String(detail)
    } catch (err) {
      result = { name, ok: false, error: describeError(err) }
      const reason = config.expectedFailures?.[name]
      if (reason) result = { name, ok: true, skipped: true, expectedFailure: true, detail: `${reason}; got ${result.error}` }
    }
    result.ms = Date.now() - started
    results.push(result)
    try {
      check(result)
    } catch {}
    return result.ok
  }
  function skip(name, reason) {
    const result = { name, ok: true, skipped: true, detail: reason, ms: 0 }
    results.push(result)
    try {
      check(result)
    } catch {}
  }

  /** Runs fn; it must throw or reject (within `within` ms) with an Error, of `Class` if given. */
  async function expectError(fn, { Class, className, within = 15_000, what = 'call' } = {}) {
    let value
    try {
      value = await withTimeout(Promise.resolve().then(fn), within, what)
    } catch (err) {
      if (err instanceof CheckFailed) throw err
      if (!(err instanceof Error)) fail(`${what}: threw a non-Error: ${show(err)}`)
      if (Class !== undefined) {
        if (typeof Class !== 'function') fail(`${what}: the SDK exports no ${className}`)
        if (!(err instanceof Class)) fail(`${what}: expected ${className}, got ${errorClassName(err)}: ${describeError(err)}`)
      }
      return err
    }
    fail(`${what}: expected an error${className ? ` (${className})` : ''}, but it succeeded with ${show(value)}`)
  }
  return { step, skip, expectError, errorClassName, results }
}
