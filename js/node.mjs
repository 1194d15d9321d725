// Node entry (ES module): the napi addon behind the public API.
import { createRequire } from 'node:module'
import { wrapBinding } from './wrap.mjs'

const api = wrapBinding(createRequire(import.meta.url)('./native/binding.cjs'))

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
