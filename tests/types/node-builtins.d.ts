// The one Node built-in the `e2b` package's declarations import (for a type of a parameter
// sandkit does not have), so that tests/types/exports-match-e2b.ts can read them without
// pulling in all of @types/node.
declare module 'node:fs' {
  export type PathLike = string | URL
}
