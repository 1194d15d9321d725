// A reader of just what the tests check in a Windows PE file (a Windows addon or node.exe): its
// machine, whether it is a DLL, the optional header's format, the DLLs it imports and the
// names it exports. Any CPU's file reads the same, which objdump builds for one CPU do not.

export const MACHINE = { x64: 0x8664, arm64: 0xaa64 }
const DLL_FLAG = 0x2000
const PE32_PLUS = 0x20b

const cString = (buf, at) => {
  const nul = buf.indexOf(0, at)
  if (nul < 0) throw new Error(`a name at ${at} runs past the file`)
  return buf.toString('latin1', at, nul)
}

/** { machine, dll, pe32Plus, imports: [DLL names], exports: Set of names } */
export function readPE(buf) {
  if (buf.length < 64 || buf.toString('latin1', 0, 2) !== 'MZ') throw new Error('not a PE file (no MZ header)')
  const pe = buf.readUInt32LE(0x3c)
  if (buf.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error('not a PE file (no PE signature)')
  const coff = pe + 4
  const sections = buf.readUInt16LE(coff + 2)
  const optionalSize = buf.readUInt16LE(coff + 16)
  const optional = coff + 20
  const magic = buf.readUInt16LE(optional)
  if (magic !== PE32_PLUS) throw new Error(`optional header magic 0x${magic.toString(16)}, not PE32+`)
  const directories = buf.readUInt32LE(optional + 108)
  const directory = (i) => (i < directories ? { rva: buf.readUInt32LE(optional + 112 + i * 8), size: buf.readUInt32LE(optional + 116 + i * 8) } : { rva: 0, size: 0 })
  const table = optional + optionalSize
  const spans = []
  for (let i = 0; i < sections; i++) {
    const at = table + i * 40
    spans.push({ va: buf.readUInt32LE(at + 12), size: Math.max(buf.readUInt32LE(at + 8), buf.readUInt32LE(at + 16)), raw: buf.readUInt32LE(at + 20) })
  }
  const offset = (rva) => {
    const s = spans.find((s) => rva >= s.va && rva < s.va + s.size)
    if (!s) throw new Error(`address 0x${rva.toString(16)} is in no section`)
    return rva - s.va + s.raw
  }

  const imports = []
  const importDir = directory(1)
  if (importDir.rva) {
    // 20-byte descriptors up to an all-zero one; the fourth field is the DLL name's address.
    for (let at = offset(importDir.rva); buf.readUInt32LE(at + 12) !== 0; at += 20) imports.push(cString(buf, offset(buf.readUInt32LE(at + 12))))
  }
  const exports = new Set()
  const exportDir = directory(0)
  if (exportDir.rva) {
    const at = offset(exportDir.rva)
    const names = buf.readUInt32LE(at + 24)
    const nameTable = offset(buf.readUInt32LE(at + 32))
    for (let i = 0; i < names; i++) exports.add(cString(buf, offset(buf.readUInt32LE(nameTable + i * 4))))
  }
  return { machine: buf.readUInt16LE(coff), dll: (buf.readUInt16LE(coff + 18) & DLL_FLAG) !== 0, pe32Plus: true, imports, exports }
}
