// The package as npm installs it in an app: `<app>/node_modules/sandkit` with the files it
// publishes and no `.node` file (addons come in their platform packages, or not at all).
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './sandkitd.mjs'

/** Copies the package into `app`'s node_modules; returns its directory there. */
export function copyPackage(app) {
  const dir = join(app, 'node_modules', 'sandkit')
  for (const path of ['package.json', 'index.d.ts', 'js', 'wasm']) {
    cpSync(join(REPO_ROOT, path), join(dir, path), { recursive: true, filter: (src) => !src.endsWith('.node') })
  }
  return dir
}
