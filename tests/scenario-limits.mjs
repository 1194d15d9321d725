// Rate limits, against a second sandkitd with small ones (tests/harness/sandkitd.mjs,
// startLimitedSandkitd), so that the other steps never meet them:
// - a burst over the control-plane limit: every call succeeds, the refused ones after the SDK
//   waited the server's Retry-After (at least a second, whole seconds);
// - a call whose Retry-After is beyond the request's deadline: RateLimitError at once, with
//   the server's message.
//
//   await runLimitsScenario({ Sandbox, errors, conn, limited, run, step, expectError })
//
// `limited` is { apiUrl, sandboxUrl, apiKey, otherTeamKey, rateLimit: { requests, seconds },
// createRate: { requests, seconds } } (limitedOptions in the harness).

import { assert, assertEqual } from './checks.mjs'

export async function runLimitsScenario({ Sandbox, errors, conn, limited, run, step, expectError }) {
  const at = (apiKey) => ({ ...conn, apiUrl: limited.apiUrl, sandboxUrl: limited.sandboxUrl, apiKey })
  const teamA = at(limited.apiKey)
  const teamB = at(limited.otherTeamKey)

  await step('rate limits: a burst over the control-plane limit succeeds, the refused calls retried after Retry-After', async () => {
    const { requests, seconds } = limited.rateLimit
    // More than two windows can admit, even if the burst straddles two: some call is refused.
    const burst = 2 * requests + 1
    const started = Date.now()
    const pages = await Promise.all(Array.from({ length: burst }, () => Sandbox.list({ ...teamA, limit: 1 }).nextItems()))
    const took = Date.now() - started
    assertEqual(pages.length, burst, 'answered calls')
    for (const page of pages) assert(Array.isArray(page), 'a listing is an array')
    // A refused call waits Retry-After (whole seconds, at least 1) before it goes again.
    assert(took >= 1000, `${burst} calls over ${requests}/${seconds}s took ${took} ms: no Retry-After was waited`)
    return `${burst} calls over ${requests} per ${seconds} s: ${took} ms`
  }, { timeoutMs: 30_000 })

  await step('rate limits: a Retry-After beyond the request deadline gives RateLimitError with the server\'s message', async () => {
    const { requests, seconds } = limited.createRate
    const made = []
    try {
      for (let i = 0; i < requests; i++) made.push(await Sandbox.create({ ...teamB, metadata: { run } }))
      // The next creation waits `seconds`, longer than the call's deadline allows: no retry.
      const err = await expectError(() => Sandbox.create({ ...teamB, metadata: { run }, requestTimeoutMs: (seconds - 1) * 1000 }), {
        Class: errors.RateLimitError,
        className: 'RateLimitError',
        what: 'a creation over --create-rate',
      })
      assert(err.message.includes('--create-rate'), `the server's message is not in: ${err.message}`)
      return err.message
    } finally {
      for (const s of made) await Sandbox.kill(s.sandboxId, teamB).catch(() => {})
    }
  })
}
