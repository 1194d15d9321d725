// Part of the sandbox scenario (called from scenario-commands.mjs with its runner and a running
// sandbox `a`): terminals: sandbox.pty.
import { assert, assertEqual, sleep } from './checks.mjs'

export async function runPtyScenario({ Sandbox, errors, conn, config, log, a, create, step, skip, expectError, exitError }) {}
