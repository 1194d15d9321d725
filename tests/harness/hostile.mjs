// Host fixtures for the isolation checks of the JS scenario: secrets planted where no sandbox
// may read them, and a marker directory no sandbox may change, checked after the scenario.
// Plant them before sandkitd starts: it builds its template's masks when it starts.
//
//   const host = plantHostFixtures()
//   … runCommandsScenario({ …, config: { isolation: host.isolation(server.pid) } })
//   for (const r of host.check()) printCheck(r)
//   host.cleanup()
import { createHash } from 'node:crypto'
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './sandkitd.mjs'

/** Names, modes, owners and contents of everything below `dir`, hashed. */
function fingerprint(dir) {
  const hash = createHash('sha256')
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      const st = lstatSync(p)
      hash.update(`${p} ${st.mode} ${st.uid}\n`)
      if (st.isDirectory()) walk(p)
      else if (st.isFile()) hash.update(readFileSync(p))
    }
  }
  walk(dir)
  return hash.digest('hex')
}

export function plantHostFixtures() {
  const tag = `${process.pid}-${Date.now().toString(36)}`
  const text = `sandkit-secret-${tag}`
  const home = `/home/sandkit-test-${tag}`
  const marker = `/var/tmp/sandkit-marker-${tag}`
  mkdirSync(join(marker, 'sub'), { recursive: true })
  writeFileSync(join(marker, 'a'), 'host file')
  writeFileSync(join(marker, 'sub/b'), 'host file')
  const before = fingerprint(marker)
  // Outside the template (root's home, a person's home), and inside it but kept from other
  // users (a 0600 file in /etc). Where this process may not write, that secret is left out.
  const secrets = []
  for (const [path, mode] of [[`/root/sandkit-secret-${tag}`, 0o600], [`${home}/secret`, 0o644], [`/etc/sandkit-secret-${tag}`, 0o600]]) {
    try {
      mkdirSync(join(path, '..'), { recursive: true })
      writeFileSync(path, text)
      chmodSync(path, mode)
      secrets.push(path)
    } catch {}
  }
  const cleanup = () => {
    for (const p of [...secrets, home, marker]) rmSync(p, { recursive: true, force: true })
  }
  // Also when the runner ends early: nothing planted outlives it.
  process.once('exit', cleanup)
  return {
    /** The `config.isolation` of the commands scenario. */
    isolation: (sandkitdPid) => ({
      script: readFileSync(join(REPO_ROOT, 'tests/hostile/escape-attempts.sh'), 'utf8'),
      env: {
        SECRET_PATHS: secrets.join(':'),
        SECRET_TEXT: text,
        MARKER_DIR: marker,
        HOST_ONLY: [REPO_ROOT.replace(/\/$/, ''), home].join(':'),
        SANDKITD_PID: String(sandkitdPid ?? ''),
      },
    }),
    /** The host's side: the marker and the secrets as they were. */
    check() {
      const after = fingerprint(marker)
      const intact = secrets.filter((p) => {
        try {
          return readFileSync(p, 'utf8') === text
        } catch {
          return false
        }
      })
      return [
        { name: 'isolation (host): a marker directory the sandboxes tried to change is unchanged', ok: after === before, ...(after === before ? {} : { error: 'its fingerprint changed' }) },
        {
          name: `isolation (host): the ${secrets.length} planted secrets are intact`,
          ok: secrets.length > 0 && intact.length === secrets.length,
          ...(intact.length === secrets.length && secrets.length ? {} : { error: `${intact.length} of ${secrets.length} intact` }),
        },
      ]
    },
    cleanup,
  }
}
