// Part of the sandbox scenario (called from scenario-commands.mjs with its runner and a running
// sandbox `a`): the SDK behaves as the official one: error texts, result keys, rejections, lifecycle,
// list queries, signatures, exports.
import { assert, assertEqual, sleep } from './checks.mjs'

export async function runSdkConformance({ Sandbox, errors, conn, config, log, a, create, step, skip, expectError, exitError }) {}
