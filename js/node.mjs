// Node entry (ES module): the napi addon behind the public API; on a platform without a
// matching addon, or with SANDKIT_WASM=1, the wasm build, whose API is the same (one line on
// stderr says so when DEBUG is set).
import { createRequire } from 'node:module'
import { nativeBinding, napiArgumentError, wrapBinding } from './wrap.mjs'

const binding = nativeBinding(() => createRequire(import.meta.url)('./native/binding.cjs'))
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
