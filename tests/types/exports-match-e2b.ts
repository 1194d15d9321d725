// Type test: the value exports of the `e2b` package that sandkit does not have, each absent on
// purpose. `tsc -p tsconfig.json` fails when sandkit loses one of e2b's exports or gains one
// of these without this list changing.
import type * as E2B from 'e2b'
import type * as Sandkit from '../../index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Assert<T extends true> = T

type Absent = Exclude<keyof typeof E2B, keyof typeof Sandkit>

type DeliberatelyAbsent =
  // Template builds (Template, its logger, ready commands, build errors and waits): sandkitd
  // serves fixed templates and no build API.
  | 'Template'
  | 'TemplateBase'
  | 'ReadyCmd'
  | 'BuildError'
  | 'FileUploadError'
  | 'LogEntry'
  | 'LogEntryStart'
  | 'LogEntryEnd'
  | 'defaultBuildLogger'
  | 'waitForFile'
  | 'waitForPort'
  | 'waitForProcess'
  | 'waitForTimeout'
  | 'waitForURL'
  // Volumes, secrets and the git helpers: E2B services sandkitd does not have.
  | 'Volume'
  | 'VolumeError'
  | 'VolumeFileType'
  | 'VolumeNotFoundError'
  | 'VolumePathNotFoundError'
  | 'Secret'
  | 'SecretError'
  | 'SecretNotFoundError'
  | 'SecretPaginator'
  | 'Git'
  | 'GitAuthError'
  | 'GitUpstreamError'
  // The generated OpenAPI client and the `E2B` client factory that binds options to it.
  | 'ApiClient'
  | 'E2B'

export type ExportsMatchE2B = Assert<Equal<Absent, DeliberatelyAbsent>>
