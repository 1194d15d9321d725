// Type test: the `Sandbox` methods of the `e2b` package that sandkit's `Sandbox` does not have,
// static and on instances, each absent on purpose (docs/e2b-differences.md, "SDK"). `tsc -p
// tsconfig.json` fails when sandkit loses one of e2b's methods or gains one of these without
// this list changing.
import type * as E2B from 'e2b'
import type * as Sandkit from '../../index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Assert<T extends true> = T

type StaticAbsent = Exclude<keyof typeof E2B.Sandbox, keyof typeof Sandkit.Sandbox>
export type StaticMethodsMatchE2B = Assert<Equal<StaticAbsent, never>>

type InstanceAbsent = Exclude<keyof E2B.Sandbox, keyof Sandkit.Sandbox>
export type InstanceMethodsMatchE2B = Assert<
  Equal<
    InstanceAbsent,
    // The MCP gateway (the `mcp` create option, refused by sandkitd, is not an option of
    // sandkit's either).
    | 'getMcpUrl'
    | 'getMcpToken'
    // The git helpers (as their export, `Git`, in exports-match-e2b.ts).
    | 'git'
  >
>
