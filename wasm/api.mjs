// The public API over the wasm glue, shared by the three wasm entries (node, worker,
// browser), which differ only in how they instantiate the module.
import * as glue from './pkg/sandkit_wasm.js'
import { wrapBinding } from '../js/wrap.mjs'

// wasm-bindgen cannot export a static and an instance method under one name, so the binding
// names the static forms `…ById` (crates/sandkit-wasm/src/sandbox.rs); here they get their
// public names.
const STATIC_NAMES = { connectById: 'connect', killById: 'kill', setTimeoutById: 'setTimeout', getInfoById: 'getInfo' }

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
} = api
