// The thin JavaScript layer over a binding (the napi addon or the wasm glue): typed error
// classes, async iteration of paginators, and nothing else. Both bindings expose the same
// classes (docs/binding-api.md); the logic lives in the Rust core.
//
// Written as an ES module whose only export is the statement at the end, so that
// scripts/build-js.mjs can derive the CommonJS twin Node's require() needs.

const BINDING_ERROR_PREFIX = 'SANDKIT_ERROR:'

class SandboxError extends Error {
  constructor(message, opts) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause })
    this.name = new.target.name
    this.code = opts?.code ?? 'sandbox_error'
    if (opts?.statusCode !== undefined) this.statusCode = opts.statusCode
  }
}
class TimeoutError extends SandboxError {}
class InvalidArgumentError extends SandboxError {}
class NotEnoughSpaceError extends SandboxError {}
class NotFoundError extends SandboxError {}
class FileNotFoundError extends NotFoundError {}
class SandboxNotFoundError extends NotFoundError {}
class RateLimitError extends SandboxError {}
class TemplateError extends SandboxError {}
// As in the `e2b` package, these two are not SandboxErrors.
class AuthenticationError extends Error {
  constructor(message, opts) {
    super(message)
    this.name = 'AuthenticationError'
    this.code = opts?.code ?? 'authentication_error'
    if (opts?.statusCode !== undefined) this.statusCode = opts.statusCode
  }
}
class ServiceBusyError extends Error {
  constructor(message, opts) {
    super(message)
    this.name = 'ServiceBusyError'
    this.code = opts?.code ?? 'service_busy'
    if (opts?.statusCode !== undefined) this.statusCode = opts.statusCode
  }
}
class CommandExitError extends SandboxError {
  constructor(message, opts) {
    super(message, { code: 'command_exit', ...opts })
    this.exitCode = opts?.exitCode
    this.stdout = opts?.stdout ?? ''
    this.stderr = opts?.stderr ?? ''
    this.error = opts?.error
  }
}

const errorClasses = {
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
}

// napi's own conversion failures: a value of the wrong type in the arguments.
const NAPI_ARGUMENT_CODES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
  'DateExpected',
])

/** Turns whatever a binding threw into the matching exported error class. */
function toSandkitError(err) {
  const message = typeof err?.message === 'string' ? err.message : String(err)
  if (message.startsWith(BINDING_ERROR_PREFIX)) {
    let payload
    try {
      payload = JSON.parse(message.slice(BINDING_ERROR_PREFIX.length))
    } catch {
      return new SandboxError(message)
    }
    const Class = errorClasses[payload.name] ?? SandboxError
    const { name, message: text, ...fields } = payload
    return new Class(text, fields)
  }
  if (NAPI_ARGUMENT_CODES.has(err?.code)) {
    return new InvalidArgumentError(message, { code: 'invalid_argument', cause: err })
  }
  if (err instanceof TypeError) {
    // wasm-bindgen and serde report wrong argument types as TypeErrors.
    return new InvalidArgumentError(message, { code: 'invalid_argument', cause: err })
  }
  if (typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError) {
    return new SandboxError(`internal error in sandkit (a bug): ${message}`, { code: 'internal_error', cause: err })
  }
  return err
}

function guard(fn) {
  return function guarded(...args) {
    let result
    try {
      result = fn.apply(this, args)
    } catch (err) {
      throw toSandkitError(err)
    }
    if (result && typeof result.then === 'function') {
      return result.then(undefined, (err) => {
        throw toSandkitError(err)
      })
    }
    return result
  }
}

function guardPrototype(proto) {
  for (const key of Object.getOwnPropertyNames(proto)) {
    const desc = Object.getOwnPropertyDescriptor(proto, key)
    if (key === 'constructor' || typeof desc.value !== 'function') continue
    Object.defineProperty(proto, key, { ...desc, value: guard(desc.value) })
  }
}

// Static methods of napi classes can be neither redefined nor proxied, so the exported class
// is a stand-in function that shares the binding class's prototype (so `instanceof` holds for
// the instances the binding makes) and carries guarded copies of its static methods, renamed
// where `staticNames` says so.
function guardStatics(Class, staticNames = {}) {
  const Public = {
    [Class.name]: function (...args) {
      return Reflect.construct(Class, args, new.target ?? Class)
    },
  }[Class.name]
  Public.prototype = Class.prototype
  Object.defineProperty(Class.prototype, 'constructor', { value: Public, writable: true, configurable: true })
  for (const key of Object.getOwnPropertyNames(Class)) {
    const desc = Object.getOwnPropertyDescriptor(Class, key)
    if (typeof desc.value !== 'function' || key === 'prototype') continue
    Object.defineProperty(Public, staticNames[key] ?? key, { value: guard(desc.value), writable: true, configurable: true })
  }
  return Public
}

/**
 * Wraps a binding's classes once: returns the public API. `opts.staticNames` maps a binding's
 * static method names to public ones (wasm-bindgen cannot give a static and an instance
 * method the same name).
 */
function wrapBinding(binding, opts = {}) {
  guardPrototype(binding.Sandbox.prototype)
  guardPrototype(binding.SandboxPaginator.prototype)
  Object.defineProperty(binding.SandboxPaginator.prototype, Symbol.asyncIterator, {
    configurable: true,
    value: async function* items() {
      while (this.hasNext) yield* await this.nextItems()
    },
  })
  return {
    ...errorClasses,
    Sandbox: guardStatics(binding.Sandbox, opts.staticNames),
    SandboxPaginator: binding.SandboxPaginator,
    ALL_TRAFFIC: '0.0.0.0/0',
  }
}

export { wrapBinding, toSandkitError, errorClasses, BINDING_ERROR_PREFIX }
