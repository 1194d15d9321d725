// Part of the sandbox scenario (called from scenario-commands.mjs with its runner and a running
// sandbox `a`): sandkitd's daemon behaves as E2B's envd: watch events, uploads, killed sandboxes, removal,
// symlinks, file metadata, error texts.
import { assert, assertEqual, sleep } from './checks.mjs'

export async function runDaemonConformance({ Sandbox, errors, conn, config, log, a, create, step, skip, expectError, exitError }) {}
