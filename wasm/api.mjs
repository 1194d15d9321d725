// The public API over the wasm glue, shared by the three wasm entries (node, worker,
// browser), which differ only in how they instantiate the module.
import * as glue from './pkg/sandkit_wasm.js'
import { wrapBinding } from '../js/wrap.mjs'

// wasm-bindgen cannot export a static and an instance method under one name, so the binding
// names the static forms `…ById` (crates/sandkit-wasm/src/sandbox.rs); here they lose the
// suffix. tests/types/wasm-matches-node.ts checks the result against the Node entry's types.
const STATIC_NAMES = Object.fromEntries(
  Object.getOwnPropertyNames(glue.Sandbox)
    .filter((name) => name.endsWith('ById'))
    .map((name) => [name, name.slice(0, -'ById'.length)]),
)

const api = wrapBinding(glue, { staticNames: STATIC_NAMES })

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
