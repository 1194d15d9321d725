// A reader of just what the tests check in a 64-bit Mach-O file (a macOS addon or Node): its
// header, the libraries it links, its build version, the symbols it exports, the library each
// symbol it imports is bound to (as dyld reads it: the bind opcodes or the chained fixups'
// imports, not the symbol table), and its ad-hoc code signature, verified page by page.
import { createHash } from 'node:crypto'

const MH_MAGIC_64 = 0xfeedfacf
export const CPU = { x86_64: 0x01000007, arm64: 0x0100000c }
export const FILETYPE = { 2: 'executable', 6: 'dylib', 8: 'bundle' }
const LC = {
  SYMTAB: 0x2,
  LOAD_DYLIB: 0xc,
  ID_DYLIB: 0xd,
  CODE_SIGNATURE: 0x1d,
  LOAD_WEAK_DYLIB: 0x80000018,
  REEXPORT_DYLIB: 0x8000001f,
  LOAD_UPWARD_DYLIB: 0x80000023,
  BUILD_VERSION: 0x32,
  DYLD_INFO: 0x22,
  DYLD_INFO_ONLY: 0x80000022,
  DYLD_CHAINED_FIXUPS: 0x80000034,
}
const PLATFORM_MACOS = 1
// The special library ordinals of a bind: this image, the main executable, every loaded image.
const SPECIAL_ORDINAL = { 0: 'self', [-1]: 'main executable', [-2]: 'dynamic lookup', [-3]: 'weak lookup' }

const version = (v) => `${v >>> 16}.${(v >> 8) & 0xff}${v & 0xff ? `.${v & 0xff}` : ''}`
const cString = (buf, at, end = buf.length) => {
  const nul = buf.indexOf(0, at)
  return buf.toString('latin1', at, nul < 0 || nul > end ? end : nul)
}

/**
 * { cpu, filetype, flags, dylibs: [paths in ordinal order], id, macos: { minos, sdk },
 *   defined: Set of exported names, imports: Map name → library path or 'dynamic lookup',
 *   signature: { offset, size } | null }
 */
export function readMachO(buf) {
  if (buf.length < 32 || buf.readUInt32LE(0) !== MH_MAGIC_64) throw new Error('not a 64-bit little-endian Mach-O file')
  const out = {
    cpu: buf.readUInt32LE(4),
    filetype: FILETYPE[buf.readUInt32LE(12)] ?? `type ${buf.readUInt32LE(12)}`,
    flags: buf.readUInt32LE(24),
    dylibs: [],
    id: null,
    macos: null,
    defined: new Set(),
    imports: new Map(),
    signature: null,
  }
  const ncmds = buf.readUInt32LE(16)
  let symtab = null
  const binds = []
  let fixups = null
  let at = 32
  for (let i = 0; i < ncmds; i++) {
    const cmd = buf.readUInt32LE(at)
    const size = buf.readUInt32LE(at + 4)
    if (size < 8 || at + size > buf.length) throw new Error(`load command ${i} runs past the file`)
    const dylibName = () => cString(buf, at + buf.readUInt32LE(at + 8), at + size)
    if (cmd === LC.LOAD_DYLIB || cmd === LC.LOAD_WEAK_DYLIB || cmd === LC.REEXPORT_DYLIB || cmd === LC.LOAD_UPWARD_DYLIB) out.dylibs.push(dylibName())
    else if (cmd === LC.ID_DYLIB) out.id = dylibName()
    else if (cmd === LC.SYMTAB) symtab = { symoff: buf.readUInt32LE(at + 8), nsyms: buf.readUInt32LE(at + 12), stroff: buf.readUInt32LE(at + 16) }
    else if (cmd === LC.CODE_SIGNATURE) out.signature = { offset: buf.readUInt32LE(at + 8), size: buf.readUInt32LE(at + 12) }
    else if (cmd === LC.DYLD_INFO || cmd === LC.DYLD_INFO_ONLY) {
      // bind, weak bind (coalesced by name across images: no library) and lazy bind.
      for (const [f, ordinal] of [[16, 0], [24, -3], [32, 0]]) binds.push([buf.readUInt32LE(at + f), buf.readUInt32LE(at + f + 4), ordinal])
    } else if (cmd === LC.DYLD_CHAINED_FIXUPS) fixups = buf.subarray(buf.readUInt32LE(at + 8), buf.readUInt32LE(at + 8) + buf.readUInt32LE(at + 12))
    else if (cmd === LC.BUILD_VERSION && buf.readUInt32LE(at + 8) === PLATFORM_MACOS) {
      out.macos = { minos: version(buf.readUInt32LE(at + 12)), sdk: version(buf.readUInt32LE(at + 16)) }
    }
    at += size
  }
  if (symtab) {
    for (let i = 0; i < symtab.nsyms; i++) {
      const s = symtab.symoff + i * 16
      const type = buf[s + 4]
      if (!(type & 0x01) || type & 0xe0) continue // external symbols only, no debugger entries
      const name = cString(buf, symtab.stroff + buf.readUInt32LE(s))
      if ((type & 0x0e) === 0x0e) out.defined.add(name)
    }
  }
  const library = (ordinal) => (ordinal > 0 ? (out.dylibs[ordinal - 1] ?? `ordinal ${ordinal}`) : SPECIAL_ORDINAL[ordinal])
  for (const [offset, size, ordinal] of binds) readBinds(buf.subarray(offset, offset + size), ordinal, (name, o) => out.imports.set(name, library(o)))
  if (fixups) readChainedImports(fixups, (name, ordinal) => out.imports.set(name, library(ordinal)))
  return out
}

function leb(buf, at, signed) {
  let value = 0n
  let shift = 0n
  let byte
  do {
    if (at.i >= buf.length) throw new Error('a LEB128 number runs past its table')
    byte = buf[at.i++]
    value |= BigInt(byte & 0x7f) << shift
    shift += 7n
  } while (byte & 0x80)
  if (signed && byte & 0x40) value -= 1n << shift
  return Number(value)
}

/** dyld's bind opcodes: calls bound(name, library ordinal) for each symbol bound. */
function readBinds(ops, ordinal, bound) {
  const at = { i: 0 }
  let name = null
  while (at.i < ops.length) {
    const byte = ops[at.i++]
    const op = byte & 0xf0
    const imm = byte & 0x0f
    if (op === 0x00) continue // DONE: the end of one lazy bind, or padding
    else if (op === 0x10) ordinal = imm
    else if (op === 0x20) ordinal = leb(ops, at, false)
    else if (op === 0x30) ordinal = imm ? imm - 16 : 0
    else if (op === 0x40) {
      const nul = ops.indexOf(0, at.i)
      if (nul < 0) throw new Error('a bind symbol name runs past its table')
      name = ops.toString('latin1', at.i, nul)
      at.i = nul + 1
    } else if (op === 0x50 || op === 0xb0) {
      if (op === 0xb0) bound(name, ordinal)
    } else if (op === 0x60) leb(ops, at, true)
    else if (op === 0x70 || op === 0x80) leb(ops, at, false)
    else if (op === 0x90) bound(name, ordinal)
    else if (op === 0xa0) {
      leb(ops, at, false)
      bound(name, ordinal)
    } else if (op === 0xc0) {
      leb(ops, at, false)
      leb(ops, at, false)
      bound(name, ordinal)
    } else throw new Error(`unknown bind opcode 0x${byte.toString(16)}`)
  }
}

/** The imports table of LC_DYLD_CHAINED_FIXUPS: calls bound(name, library ordinal) for each. */
function readChainedImports(fx, bound) {
  const importsOffset = fx.readUInt32LE(8)
  const symbolsOffset = fx.readUInt32LE(12)
  const count = fx.readUInt32LE(16)
  const format = fx.readUInt32LE(20)
  const width = { 1: 4, 2: 8, 3: 16 }[format]
  if (!width) throw new Error(`unknown chained imports format ${format}`)
  for (let i = 0; i < count; i++) {
    const at = importsOffset + i * width
    // format 1 and 2: ordinal in the low 8 bits; format 3: the low 16.
    const raw = format === 3 ? fx.readUInt16LE(at) : fx[at]
    const ordinal = format === 3 ? (raw >= 0xfff0 ? raw - 0x10000 : raw) : raw >= 0xf0 ? raw - 0x100 : raw
    const nameOffset = format === 3 ? fx.readUInt32LE(at + 4) : fx.readUInt32LE(at) >>> 9
    bound(cString(fx, symbolsOffset + nameOffset), ordinal)
  }
}

/**
 * Checks the code signature the way the kernel does when it maps a page: the code directory's
 * hash of every page up to the signature must match the file. Returns { pages, hash, adhoc,
 * identifier }; throws on the first mismatch.
 */
export function verifyCodeSignature(buf, macho) {
  if (!macho.signature) throw new Error('no code signature (LC_CODE_SIGNATURE)')
  const { offset, size } = macho.signature
  const blob = buf.subarray(offset, offset + size)
  if (blob.readUInt32BE(0) !== 0xfade0cc0) throw new Error('the signature is not an embedded signature superblob')
  const count = blob.readUInt32BE(8)
  let cd = null
  for (let i = 0; i < count; i++) {
    const type = blob.readUInt32BE(12 + i * 8)
    const at = blob.readUInt32BE(16 + i * 8)
    if (type === 0 && blob.readUInt32BE(at) === 0xfade0c02) cd = blob.subarray(at, at + blob.readUInt32BE(at + 4))
  }
  if (!cd) throw new Error('no code directory in the signature')
  const flags = cd.readUInt32BE(12)
  const hashOffset = cd.readUInt32BE(16)
  const identifier = cString(cd, cd.readUInt32BE(20))
  const nCodeSlots = cd.readUInt32BE(28)
  const codeLimit = cd.readUInt32BE(32)
  const hashSize = cd[36]
  const hash = { 1: 'sha1', 2: 'sha256' }[cd[37]]
  const pageSize = 2 ** cd[39]
  if (!hash) throw new Error(`unknown hash type ${cd[37]}`)
  if (codeLimit !== offset) throw new Error(`the signature covers ${codeLimit} bytes; it starts at ${offset}`)
  if (nCodeSlots !== Math.ceil(codeLimit / pageSize)) throw new Error(`${nCodeSlots} page hashes for ${codeLimit} bytes`)
  for (let i = 0; i < nCodeSlots; i++) {
    const page = buf.subarray(i * pageSize, Math.min((i + 1) * pageSize, codeLimit))
    const want = cd.subarray(hashOffset + i * hashSize, hashOffset + (i + 1) * hashSize)
    const got = createHash(hash).update(page).digest().subarray(0, hashSize)
    if (!got.equals(want)) throw new Error(`page ${i} does not match its hash`)
  }
  return { pages: nCodeSlots, hash, adhoc: (flags & 0x2) !== 0, identifier }
}
