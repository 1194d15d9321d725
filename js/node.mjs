// Node entry (ES module): the napi addon behind the public API; on a platform without a
// matching addon, the wasm build, whose API is the same (one line on stderr says so when
// DEBUG is set).
import { createRequire } from 'node:module'
import { fallbackNotice, napiArgumentError, wrapBinding } from './wrap.mjs'

let binding
try {
  binding = createRequire(import.meta.url)('./native/binding.cjs')
} catch (err) {
  fallbackNotice(err)
}
const api = binding ? wrapBinding(binding, { nativeError: napiArgumentError }) : await import('../wasm/node.mjs')

export const {
  Sandbox,
  SandboxPaginator,
  SandboxError,
  TimeoutError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  NotFoundError,
  FileNotFoundError,
  SandboxNotFoundError,
  RateLimitError,
  TemplateError,
  AuthenticationError,
  ServiceBusyError,
  CommandExitError,
  ALL_TRAFFIC,
  ConnectionConfig,
  FileType,
  FilesystemEventType,
  getSignature,
} = api
export default Sandbox
