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

const NAPI_EXPECTED = { String: 'a string', bool: 'a boolean', f64: 'a number', u32: 'a number', i64: 'a number', Vec: 'an array' }

/**
 * napi's conversion messages in the wasm binding's words: `Failed to convert napi value String
 * into rust type \`f64\` on SandboxOpts.timeoutMs` becomes `timeoutMs must be a number, got
 * string`. napi appends ` on Struct.field` once per enclosing object, innermost first, so
 * peeling them off the end gives the path from the outside in.
 */
function napiArgumentMessage(message) {
  const fields = []
  let m
  while ((m = / on \w+\.([\w$]+)$/.exec(message))) {
    fields.push(m[1])
    message = message.slice(0, m.index)
  }
  if ((m = /^Failed to convert (?:napi|JavaScript) value `?(\w+)[^`]*`? into rust type `(\w+)/.exec(message))) {
    message = `must be ${NAPI_EXPECTED[m[2]] ?? 'an object'}, got ${m[1].toLowerCase()}`
  }
  if (!fields.length) return /^must be/.test(message) ? `an argument ${message}` : message
  const path = fields.join('.')
  return /^[.[]/.test(message) ? `${path}${message}` : `${path} ${message}`
}

/**
 * A napi conversion failure as an InvalidArgumentError, else undefined. The napi entries hand
 * it to `wrapBinding` (`opts.nativeError`), so a bundle of the wasm build leaves it out.
 */
function napiArgumentError(err, message) {
  if (NAPI_ARGUMENT_CODES.has(err?.code)) {
    return new InvalidArgumentError(napiArgumentMessage(message), { code: 'invalid_argument', cause: err })
  }
}

/** The binding's own argument errors, as `wrapBinding`'s `opts.nativeError` says. */
let nativeArgumentError

const WASM_PANIC_KEY = Symbol.for('sandkit.wasmPanic')
const WASM_ENDED = 'This wasm instance has ended and refuses every later call: load the module again (a new page, Worker or process) for a working one'
/** The panic that ended the wasm instance, once one has. */
let wasmEnded

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
  const native = nativeArgumentError?.(err, message)
  if (native) return native
  if (err instanceof TypeError) {
    // wasm-bindgen and serde report wrong argument types as TypeErrors.
    return new InvalidArgumentError(message, { code: 'invalid_argument', cause: err })
  }
  if (typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError) {
    // A panic in the wasm build: its hook left the message here before the instance trapped
    // (crates/sandkit-wasm/src/lib.rs). The instance is not called again (see `guard`).
    const said = globalThis[WASM_PANIC_KEY]
    delete globalThis[WASM_PANIC_KEY]
    wasmEnded ??= typeof said === 'string' ? said : `internal error in sandkit (a bug): ${message}`
    return new SandboxError(`${wasmEnded}. ${WASM_ENDED}`, { code: 'internal_error', cause: err })
  }
  return err
}

// ── arguments: what only JavaScript can see, checked before a binding reads them ─────────
// A binding converts values as it reads them: a getter or a Proxy that throws, a string with a
// lone surrogate (which UTF-8 cannot carry: it would become U+FFFD) or an object nested
// without end would fail there with no field named, or silently change. So the options and
// positional arguments are read here once, into plain values, and every such failure is an
// InvalidArgumentError naming the field; the values' own rules stay in the core.

/** Deeper than this, an options value is refused (no option nests past a few levels). */
const MAX_OPTION_DEPTH = 32

const isIdentifier = (key) => /^[A-Za-z_$][\w$]*$/.test(key)
const fieldPath = (path, key) => (!path ? key : isIdentifier(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`)
const wellFormed = (s) => (typeof s.isWellFormed === 'function' ? s.isWellFormed() : !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s))

function typeOf(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function badArgument(message) {
  return new InvalidArgumentError(message, { code: 'invalid_argument' })
}

/** Runs `read`; a throw (a getter, a Proxy trap) becomes an error naming `path`. */
function reading(path, read) {
  try {
    return read()
  } catch (err) {
    if (err instanceof SandboxError) throw err
    throw badArgument(`reading ${path || 'the options'} threw: ${err?.message ?? String(err)}`)
  }
}

function checkString(value, path) {
  if (!wellFormed(value)) throw badArgument(`${path} is not valid Unicode: it holds a lone surrogate`)
  return value
}

// Fields that hold objects; a binding would read a string there as an empty object.
const OBJECT_FIELDS = new Set(['metadata', 'envs', 'query', 'lifecycle', 'size'])

/**
 * `value` as plain data: arrays and plain objects (also frozen, null-prototype or Proxies)
 * copied key by key, strings checked; anything else (functions, Dates, bytes, Blobs, streams,
 * Maps) passed as it is. `path` names the value in messages ('' for a top-level options
 * object, whose fields the bindings name bare).
 */
function plain(value, path, depth = 0) {
  if (typeof value === 'string') return checkString(value, path || 'an argument')
  if (value === null || typeof value !== 'object') return value
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw badArgument(`${path} must be a valid Date`)
    return value
  }
  const isArray = reading(path, () => Array.isArray(value))
  const proto = isArray ? null : reading(path, () => Object.getPrototypeOf(value))
  if (!isArray && proto !== Object.prototype && proto !== null) return value
  if (depth >= MAX_OPTION_DEPTH) throw badArgument(`${path} is nested too deeply (more than ${MAX_OPTION_DEPTH} levels)`)
  if (isArray) {
    const length = reading(path, () => value.length)
    const out = new Array(length)
    for (let i = 0; i < length; i++) out[i] = plain(reading(`${path}[${i}]`, () => value[i]), `${path}[${i}]`, depth + 1)
    return out
  }
  const out = {}
  for (const key of reading(path, () => Object.keys(value))) {
    const at = fieldPath(path, key)
    if (!wellFormed(key)) throw badArgument(`${path || 'the options'} has a key that is not valid Unicode (a lone surrogate): ${JSON.stringify(key)}`)
    const item = reading(at, () => value[key])
    if (depth === 0 && !path && OBJECT_FIELDS.has(key) && item !== undefined && item !== null && (typeof item !== 'object' || Array.isArray(item))) {
      throw badArgument(`${at} must be an object, got ${typeOf(item)}`)
    }
    // defineProperty: an own `__proto__` key stays a key, not the copy's prototype.
    Object.defineProperty(out, key, { value: plain(item, at, depth + 1), enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** The options every filesystem call takes (of the official SDK's `FilesystemRequestOpts`). */
const callOptions = (opts) => ({ user: opts?.user, requestTimeoutMs: opts?.requestTimeoutMs })

/** An options argument: `undefined`, `null` or an object, read into plain data. */
function plainOptions(opts, name = 'opts') {
  if (opts === undefined || opts === null) return opts
  if (typeof opts !== 'object' || Array.isArray(opts)) throw badArgument(`${name} must be an object, got ${typeOf(opts)}`)
  return plain(opts, '')
}

/** A callback option: absent, or a function. */
function checkCallback(value, name) {
  if (value !== undefined && value !== null && typeof value !== 'function') {
    throw badArgument(`${name} must be a function, got ${typeOf(value)}`)
  }
  return value ?? undefined
}

function checkBoolean(value, name) {
  if (value !== undefined && value !== null && typeof value !== 'boolean') {
    throw badArgument(`${name} must be a boolean, got ${typeOf(value)}`)
  }
  return value ?? undefined
}

/**
 * The positional parameters of the binding's methods, for what only JavaScript can check:
 * `name{}` options (read into plain data), `name` and `name?` strings (no lone surrogates).
 * `name#` numbers and `*` go as they are. Types are the core's to check: a value of the
 * wrong one is refused there, by the parameter's name.
 */
const PARAMS = {
  filesReadStream: 'path opts{}',
  filesWrite: 'path * opts{}',
  filesWriteMany: '* opts{}',
  filesOpenWrite: 'path opts{}',
  filesList: 'path opts{}',
  filesExists: 'path opts{}',
  filesGetInfo: 'path opts{}',
  filesRemove: 'path opts{}',
  filesRename: 'oldPath newPath opts{}',
  filesMakeDir: 'path opts{}',
  filesWatchDir: 'path opts{}',
  uploadUrl: 'path? opts{}',
  downloadUrl: 'path opts{}',
  codeRun: 'code opts{}',
  codeContextCreate: 'opts{}',
  codeContextRemove: 'contextId',
  codeContextRestart: 'contextId',
  ptyCreate: 'opts{}',
  ptySendInput: 'pid# *',
  ptyResize: 'pid# size{}',
  connect: 'opts{}',
  pause: 'opts{}',
  createSnapshot: 'opts{}',
  listSnapshots: 'opts{}',
  fork: 'opts{}',
  getMetrics: 'opts{}',
  setTimeout: 'timeoutMs#',
  updateNetwork: '* opts{}',
  getHost: 'port#',
  getUrl: 'port# path?',
  fetchTarget: 'port# path?',
  commandsSpawn: 'cmd opts{}',
  commandsConnect: 'pid# timeoutMs#?',
  commandsKill: 'pid#',
  commandsSendStdin: 'pid# *',
  commandsCloseStdin: 'pid#',
}
const STATIC_PARAMS = {
  create: '* opts{}',
  connect: 'sandboxId opts{}',
  list: 'opts{}',
  kill: 'sandboxId opts{}',
  pause: 'sandboxId opts{}',
  createSnapshot: 'sandboxId opts{}',
  listSnapshots: 'opts{}',
  deleteSnapshot: 'snapshotId opts{}',
  fork: 'sandboxId opts{}',
  getMetrics: 'sandboxId opts{}',
  setTimeout: 'sandboxId timeoutMs# opts{}',
  updateNetwork: 'sandboxId * opts{}',
  getInfo: 'sandboxId opts{}',
  fromHandle: 'handle{} opts{}',
}

const parsedParams = new Map()
function paramsOf(spec) {
  let params = parsedParams.get(spec)
  if (!params) {
    params = spec.split(' ').map((p) => {
      const m = /^(\*|[A-Za-z]+)(#|\{\})?(\?)?$/.exec(p)
      return { name: m[1], kind: m[2] === '{}' ? 'object' : m[2] === '#' || m[1] === '*' ? 'any' : 'string' }
    })
    parsedParams.set(spec, params)
  }
  return params
}

/** The arguments of a binding call, checked and made plain by its parameters (`spec`). */
function checkArgs(spec, args) {
  if (!spec) return args
  const params = paramsOf(spec)
  const out = args.slice()
  for (let i = 0; i < params.length && i < out.length; i++) {
    const { name, kind } = params[i]
    const v = out[i]
    if (kind === 'any') continue
    if (kind === 'object') {
      out[i] = plainOptions(v, name)
      continue
    }
    // A value of the wrong type is the core's to refuse; a string, JavaScript's to check.
    if (kind === 'string' && typeof v === 'string') checkString(v, name)
  }
  return out
}

// The binding methods that are synchronous in the `e2b` package too. Every other method is
// async there, so a bad argument must become a rejected promise, never a synchronous throw
// that `.catch()` and `expect(...).rejects` would miss.
const SYNC_METHODS = new Set(['list', 'listSnapshots', 'getHost', 'getSandboxUrl', 'getSandboxDirectUrl', 'getUrl', 'fetchTarget', 'toHandle', 'fromHandle'])

// The wasm binding hands a SandboxInfo's two dates over as Unix milliseconds: making a `Date`
// and setting it from inside the module cost four calls across its boundary per sandbox, a
// tenth of a listing's time. The addon hands over `Date`s.
function infoDates(info) {
  if (typeof info.startedAt === 'number') {
    info.startedAt = new Date(info.startedAt)
    info.endAt = new Date(info.endAt)
  }
  return info
}
// What a method's answer becomes; no prototype, so that no method name finds an Object method.
const RESULTS = {
  __proto__: null,
  getInfo: infoDates,
  // A fork that did not start comes as its error's message.
  fork: (forks) => forks.map((f) => (typeof f === 'string' ? toSandkitError(new Error(f)) : f)),
  nextItems: (infos) => {
    for (const info of infos) infoDates(info)
    return infos
  },
}

function guard(fn, name, spec) {
  const sync = SYNC_METHODS.has(name)
  const convert = RESULTS[name]
  return function guarded(...args) {
    let result
    try {
      // A trapped wasm instance stopped mid-way: calling it again could do anything.
      if (wasmEnded !== undefined) throw new SandboxError(`${wasmEnded}. ${WASM_ENDED}`, { code: 'wasm_ended' })
      result = fn.apply(this, checkArgs(spec, args))
    } catch (err) {
      if (sync) throw toSandkitError(err)
      return Promise.reject(toSandkitError(err))
    }
    if (result && typeof result.then === 'function') {
      return result.then(convert, (err) => {
        throw toSandkitError(err)
      })
    }
    return result
  }
}

function guardPrototype(proto, params = {}) {
  for (const key of Object.getOwnPropertyNames(proto)) {
    const desc = Object.getOwnPropertyDescriptor(proto, key)
    if (key === 'constructor' || typeof desc.value !== 'function') continue
    Object.defineProperty(proto, key, { ...desc, value: guard(desc.value, key, params[key]) })
  }
}

// Static methods of napi classes can be neither redefined nor proxied, so the exported class
// is a stand-in function that shares the binding class's prototype (so `instanceof` holds for
// the instances the binding makes) and carries guarded copies of its static methods, renamed
// where `staticNames` says so.
function guardStatics(Class, staticNames = {}, params = {}) {
  const Public = {
    [Class.name]: function (...args) {
      try {
        return Reflect.construct(Class, args, new.target ?? Class)
      } catch (err) {
        throw toSandkitError(err)
      }
    },
  }[Class.name]
  Public.prototype = Class.prototype
  Object.defineProperty(Class.prototype, 'constructor', { value: Public, writable: true, configurable: true })
  for (const key of Object.getOwnPropertyNames(Class)) {
    const desc = Object.getOwnPropertyDescriptor(Class, key)
    if (typeof desc.value !== 'function' || key === 'prototype') continue
    const name = staticNames[key] ?? key
    Object.defineProperty(Public, name, { value: guard(desc.value, name, params[name]), writable: true, configurable: true })
  }
  return Public
}

const textEncoder = new TextEncoder()
const toBytes = (data) => (typeof data === 'string' ? textEncoder.encode(data) : data)

// V8 allocates a string over 128 KiB in its large-object space, which its collector never
// moves; 256 Ki characters leave a margin.
const LARGE_STRING = 256 << 10
const JOINED_STRING = 1 << 20

/**
 * Text that grows piece by piece, kept as few large strings. A JavaScript heap copies each
 * small string that outlives a collection of its young generation, once or twice; output
 * pieces (some 64 KB each from `fetch`) are kept to the end, so their copying cost more than
 * the reading of them. Joined into one string per MiB, each piece dies young and the joined
 * strings are large enough for the heap never to move them. A piece that large already (the
 * addon's batches often are) is kept as it is.
 */
class TextSink {
  #text = ''
  #pieces = []
  #length = 0
  add(piece) {
    if (piece.length >= LARGE_STRING) {
      this.#text = this.text + piece
      return
    }
    this.#pieces.push(piece)
    this.#length += piece.length
    if (this.#length >= JOINED_STRING) this.#join()
  }
  #join() {
    this.#text += this.#pieces.length === 1 ? this.#pieces[0] : this.#pieces.join('')
    this.#pieces = []
    this.#length = 0
  }
  get text() {
    if (this.#length) this.#join()
    return this.#text
  }
}

/**
 * A started command, as the `e2b` package shapes it: `pid`, the output so far, `wait()`,
 * `kill()`, `sendStdin()`. It reads the process's output from the moment it exists (output
 * nobody reads is lost) and calls the callbacks in order.
 */
class CommandHandle {
  #sandbox
  #raw
  #done
  #disconnected = false
  #out = { stdout: new TextSink(), stderr: new TextSink() }
  constructor(sandbox, raw, { onStdout, onStderr, onPty } = {}) {
    this.#sandbox = sandbox
    this.#raw = raw
    this.pid = raw.pid
    this.exitCode = undefined
    this.error = undefined
    this.#done = this.#pump(raw, onStdout, onStderr, onPty)
    // A background command nobody waits for must not become an unhandled rejection.
    this.#done.catch(() => {})
  }

  async #pump(raw, onStdout, onStderr, onPty) {
    for (;;) {
      const out = await raw.nextOutput()
      // Checked after every wait, so that nothing reaches a callback once disconnect() returned.
      if (!out || this.#disconnected) break
      if (out.stream === 'pty') {
        if (onPty) await onPty(out.data)
        continue
      }
      // stdout and stderr come as text, decoded across pieces by the core.
      this.#out[out.stream].add(out.data)
      const callback = out.stream === 'stdout' ? onStdout : onStderr
      if (callback) await callback(out.data)
    }
    // The result carries the strings built above: the output is held once, here.
    try {
      const result = await raw.wait()
      this.exitCode = result.exitCode
      this.error = result.error ?? undefined
      return { exitCode: result.exitCode, error: this.error, stdout: this.stdout, stderr: this.stderr }
    } catch (err) {
      if (err instanceof CommandExitError) {
        this.exitCode = err.exitCode
        this.error = err.error
        err.stdout = this.stdout
        err.stderr = this.stderr
      }
      throw err
    }
  }

  /** The output so far. */
  get stdout() {
    return this.#out.stdout.text
  }

  get stderr() {
    return this.#out.stderr.text
  }

  /** The result once the command has ended; a non-zero exit throws `CommandExitError`. */
  wait() {
    return this.#done
  }

  /** Kills the command (SIGKILL): `false` if it had already ended. */
  kill() {
    return this.#sandbox.commandsKill(this.pid)
  }

  /** Stops following the command, which goes on running (`connect(pid)` follows it again):
   * no callback fires after this returns, and `wait()` fails unless the command had ended. */
  async disconnect() {
    this.#disconnected = true
    this.#raw.disconnect()
  }

  sendStdin(data) {
    return this.#sandbox.commandsSendStdin(this.pid, toBytes(data))
  }

  closeStdin() {
    return this.#sandbox.commandsCloseStdin(this.pid)
  }
}

/** `sandbox.commands`: the `e2b` package's API over the binding's process calls. */
class Commands {
  #sandbox
  constructor(sandbox) {
    this.#sandbox = sandbox
  }

  /** Runs `cmd` with `bash -l -c`; waits for it unless `background` is set. */
  async run(cmd, opts = {}) {
    const { background, onStdout, onStderr, envs, cwd, user, timeoutMs, stdin, tag, requestTimeoutMs } = plainOptions(opts) ?? {}
    checkCallback(onStdout, 'onStdout')
    checkCallback(onStderr, 'onStderr')
    checkBoolean(background, 'background')
    const raw = await this.#sandbox.commandsSpawn(cmd, { envs, cwd, user, timeoutMs, stdin: stdin ?? false, tag, requestTimeoutMs })
    const handle = new CommandHandle(this.#sandbox, raw, { onStdout, onStderr })
    return background ? handle : handle.wait()
  }

  /** Attaches to a running command. */
  async connect(pid, opts = {}) {
    opts = plainOptions(opts) ?? {}
    checkCallback(opts.onStdout, 'onStdout')
    checkCallback(opts.onStderr, 'onStderr')
    const raw = await this.#sandbox.commandsConnect(pid, opts.timeoutMs)
    return new CommandHandle(this.#sandbox, raw, opts)
  }

  list() {
    return this.#sandbox.commandsList()
  }

  kill(pid) {
    return this.#sandbox.commandsKill(pid)
  }

  sendStdin(pid, data) {
    return this.#sandbox.commandsSendStdin(pid, toBytes(data))
  }

  closeStdin(pid) {
    return this.#sandbox.commandsCloseStdin(pid)
  }
}

/** A terminal's handle: a `CommandHandle` whose output goes to `onData` as bytes. A terminal
 * has no stdin pipe (input goes through `sandbox.pty.sendInput`), as in the `e2b` package. */
class PtyHandle extends CommandHandle {
  async sendStdin() {
    throw new SandboxError('Sending stdin is not supported for this command handle.')
  }

  async closeStdin() {
    throw new SandboxError('Closing stdin is not supported for this command handle.')
  }
}

function checkOnData(onData) {
  if (onData !== undefined && onData !== null && typeof onData !== 'function') {
    throw new InvalidArgumentError(`onData must be a function, got ${typeof onData}`, { code: 'invalid_argument' })
  }
  return onData ?? undefined
}

/** `sandbox.pty`: interactive terminals (a login shell on a pseudo-terminal). */
class Pty {
  #sandbox
  constructor(sandbox) {
    this.#sandbox = sandbox
  }

  /** Starts `bash -i -l` on a `cols` × `rows` terminal; its output goes to `onData`. */
  async create(opts) {
    const { cols, rows, onData, envs, cwd, user, timeoutMs, requestTimeoutMs } = plainOptions(opts) ?? {}
    const onPty = checkOnData(onData)
    const raw = await this.#sandbox.ptyCreate({ cols, rows, envs, cwd, user, timeoutMs, requestTimeoutMs })
    return new PtyHandle(this.#sandbox, raw, { onPty })
  }

  /** Attaches to a running terminal; `onData` gets its output from then on. */
  async connect(pid, opts) {
    opts = plainOptions(opts)
    const onPty = checkOnData(opts?.onData)
    const raw = await this.#sandbox.commandsConnect(pid, opts?.timeoutMs)
    return new PtyHandle(this.#sandbox, raw, { onPty })
  }

  /** Types into a terminal: bytes (or a string, sent as UTF-8). */
  async sendInput(pid, data) {
    const bytes = typeof data === 'string' ? textEncoder.encode(data) : asUint8Array(data)
    if (!bytes) throw new InvalidArgumentError('data must be a Uint8Array or a string', { code: 'invalid_argument' })
    return this.#sandbox.ptySendInput(pid, bytes)
  }

  /** Changes a terminal's size (`{ cols, rows }`); the programs in it get SIGWINCH. */
  async resize(pid, size) {
    return this.#sandbox.ptyResize(pid, size)
  }

  /** Kills a terminal (SIGKILL): `false` if there was no such process. */
  async kill(pid) {
    return this.#sandbox.commandsKill(pid)
  }
}

const isReadableStream = (v) => typeof v?.getReader === 'function'
const isBlob = (v) => typeof v?.arrayBuffer === 'function' && typeof v?.stream === 'function' && typeof v?.size === 'number'
// Browsers cannot stream a request body over HTTP/1.1, so there a stream is collected into a
// Blob (which the browser may keep on disk) before it is sent.
const canStreamUploads = !(typeof window !== 'undefined' && typeof document !== 'undefined')

/** Bytes as a Uint8Array view, without copying. */
function asUint8Array(data) {
  if (data instanceof Uint8Array) return data
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (data instanceof ArrayBuffer || Object.prototype.toString.call(data) === '[object ArrayBuffer]') return new Uint8Array(data)
  return undefined
}

/** What a binding's `filesWrite` takes whole: a string or bytes; `undefined` for the rest. */
function wholeData(data) {
  return typeof data === 'string' ? data : asUint8Array(data)
}

function checkData(data, what) {
  if (wholeData(data) === undefined && !isBlob(data) && !isReadableStream(data)) {
    throw new InvalidArgumentError(`${what} must be a string, bytes, a Blob or a ReadableStream`, { code: 'invalid_argument' })
  }
}

/** Bytes above this size are uploaded as a stream of slices rather than in one piece. */
const STREAM_BYTES_ABOVE = 8 * 1024 * 1024
const SLICE_BYTES = 1024 * 1024

function* slicesOf(bytes) {
  for (let at = 0; at < bytes.length; at += SLICE_BYTES) yield bytes.subarray(at, at + SLICE_BYTES)
}

function streamOfSlices(bytes) {
  const slices = slicesOf(bytes)
  return new ReadableStream(
    {
      pull(controller) {
        const next = slices.next()
        if (next.done) controller.close()
        else controller.enqueue(next.value)
      },
    },
    { highWaterMark: 0 },
  )
}

/** The chunks of a `ReadableStream` or `Blob`. */
async function* chunksOf(data) {
  const reader = (isBlob(data) ? data.stream() : data).getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      const bytes = typeof value === 'string' ? textEncoder.encode(value) : asUint8Array(value)
      if (!bytes) throw new InvalidArgumentError('a stream to write must yield bytes or strings', { code: 'invalid_argument' })
      if (bytes.length) yield bytes
    }
  } finally {
    reader.releaseLock()
  }
}

function concatChunks(chunks, size) {
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** A `ReadableStream` over a binding's `FileReader`, pulled only as fast as it is read. */
function readableFrom(reader) {
  return new ReadableStream(
    {
      async pull(controller) {
        const chunk = await reader.nextChunk()
        if (chunk) controller.enqueue(chunk)
        else controller.close()
      },
      cancel() {
        return reader.cancel()
      },
    },
    { highWaterMark: 0 },
  )
}

/** The handle `files.watchDir` returns: events go to `onEvent` until `stop()`. */
class WatchHandle {
  #watcher
  constructor(watcher, onEvent, onExit) {
    this.#watcher = watcher
    this.#pump(onEvent, onExit)
  }

  async #pump(onEvent, onExit) {
    let error
    try {
      for (;;) {
        const event = await this.#watcher.nextEvent()
        if (!event) break
        await onEvent?.(event)
      }
    } catch (err) {
      error = err
    }
    try {
      await onExit?.(error)
    } catch {}
  }

  /** Stops watching. */
  async stop() {
    this.#watcher.stop()
  }
}

/** `sandbox.files`: the `e2b` package's API over the binding's file calls. */
class Filesystem {
  #sandbox
  constructor(sandbox) {
    this.#sandbox = sandbox
  }

  /** Reads a file as `text` (default), `bytes`, `blob` or a `stream`. */
  async read(path, opts = {}) {
    const { format = 'text', user, requestTimeoutMs } = plainOptions(opts) ?? {}
    if (!['text', 'bytes', 'blob', 'stream'].includes(format)) {
      throw new InvalidArgumentError(`format must be 'text', 'bytes', 'blob' or 'stream', got ${JSON.stringify(format)}`, { code: 'invalid_argument' })
    }
    const reader = await this.#sandbox.filesReadStream(path, { user, requestTimeoutMs })
    if (format === 'stream') return readableFrom(reader)
    const chunks = []
    let size = 0
    for (;;) {
      const chunk = await reader.nextChunk()
      if (!chunk) break
      chunks.push(chunk)
      size += chunk.length
    }
    if (format === 'blob') return new Blob(chunks)
    const bytes = chunks.length ? concatChunks(chunks, size) : new Uint8Array(0)
    return format === 'bytes' ? bytes : new TextDecoder().decode(bytes)
  }

  /**
   * Writes one file (`write(path, data, opts)`, returns its WriteInfo) or several
   * (`write([{ path, data }], opts)`, returns an array). Data: a string, bytes, a Blob or a
   * ReadableStream; parent directories are created.
   */
  async write(pathOrFiles, dataOrOpts, opts) {
    if (typeof pathOrFiles === 'string') {
      opts = plainOptions(opts)
      if (Array.isArray(dataOrOpts)) {
        throw new InvalidArgumentError('Cannot specify both path and array of files. You have to specify either path and data for a single file or an array for multiple files.', { code: 'invalid_argument' })
      }
      return this.#writeOne(pathOrFiles, dataOrOpts, opts)
    }
    if (!Array.isArray(pathOrFiles)) throw new InvalidArgumentError('Path or files are required', { code: 'invalid_argument' })
    return this.writeFiles(pathOrFiles, dataOrOpts)
  }

  /** Writes several files. */
  async writeFiles(files, opts) {
    opts = plainOptions(opts)
    if (!Array.isArray(files)) throw badArgument(`files must be an array, got ${typeOf(files)}`)
    files.forEach((f, i) => {
      checkData(f?.data, `files[${i}].data`)
      if (typeof f.path !== 'string') throw badArgument(`files[${i}].path must be a string, got ${typeOf(f.path)}`)
      checkString(f.path, `files[${i}].path`)
    })
    const { user, metadata, requestTimeoutMs } = opts ?? {}
    if (files.length === 0) return []
    const streamed = files.some((f) => wholeData(f.data) === undefined)
    if (streamed && this.#sandbox.filesOpenWrite) {
      // The addon streams each such file in its own request rather than holding it whole.
      return Promise.all(files.map((f) => this.#writeOne(f.path, f.data, opts)))
    }
    const entries = await Promise.all(
      files.map(async (f) => ({
        path: f.path,
        data: wholeData(f.data) ?? (isReadableStream(f.data) ? await new Response(f.data).blob() : f.data),
      })),
    )
    return this.#sandbox.filesWriteMany(entries, { user, metadata, requestTimeoutMs })
  }

  async #writeOne(path, data, opts) {
    checkData(data, 'data')
    const { user, metadata, requestTimeoutMs } = opts ?? {}
    const whole = wholeData(data)
    if (whole instanceof Uint8Array && whole.length > STREAM_BYTES_ABOVE) {
      // Large bytes go in slices of the caller's buffer, so no second whole copy exists.
      if (this.#sandbox.filesOpenWrite) return this.#writeChunks(path, slicesOf(whole), opts)
      if (canStreamUploads) return this.#sandbox.filesWrite(path, streamOfSlices(whole), { user, metadata, requestTimeoutMs })
    }
    if (whole !== undefined) return this.#sandbox.filesWrite(path, whole, { user, metadata, requestTimeoutMs })
    if (!this.#sandbox.filesOpenWrite) {
      // wasm: fetch sends a Blob or stream as it is.
      const body = isReadableStream(data) && !canStreamUploads ? await new Response(data).blob() : data
      return this.#sandbox.filesWrite(path, body, { user, metadata, requestTimeoutMs })
    }
    return this.#writeChunks(path, chunksOf(data), opts)
  }

  /** A streamed write through the addon's FileWriter. */
  async #writeChunks(path, chunks, opts) {
    const { user, metadata, requestTimeoutMs } = opts ?? {}
    const writer = await this.#sandbox.filesOpenWrite(path, { user, metadata, requestTimeoutMs })
    try {
      for await (const chunk of chunks) await writer.write(chunk)
    } catch (err) {
      await writer.abort(String(err?.message ?? err))
      throw err
    }
    return writer.finish()
  }

  /** The entries of a directory (`depth` levels down, default 1). */
  async list(path, opts) {
    opts = plainOptions(opts)
    return this.#sandbox.filesList(path, { ...callOptions(opts), depth: opts?.depth })
  }

  async exists(path, opts) {
    opts = plainOptions(opts)
    return this.#sandbox.filesExists(path, callOptions(opts))
  }

  async getInfo(path, opts) {
    opts = plainOptions(opts)
    return this.#sandbox.filesGetInfo(path, callOptions(opts))
  }

  async remove(path, opts) {
    opts = plainOptions(opts)
    return this.#sandbox.filesRemove(path, callOptions(opts))
  }

  async rename(oldPath, newPath, opts) {
    opts = plainOptions(opts)
    return this.#sandbox.filesRename(oldPath, newPath, callOptions(opts))
  }

  /** Creates a directory and its parents: `false` if it already existed. */
  async makeDir(path, opts) {
    opts = plainOptions(opts)
    return this.#sandbox.filesMakeDir(path, callOptions(opts))
  }

  /** Watches a directory: `onEvent` gets each change until the handle's `stop()`. */
  async watchDir(path, onEvent, opts = {}) {
    const { user, recursive, includeEntry, timeoutMs, onExit, requestTimeoutMs } = plainOptions(opts) ?? {}
    if (typeof onEvent !== 'function') throw badArgument(`onEvent must be a function, got ${typeOf(onEvent)}`)
    checkCallback(onExit, 'onExit')
    const watcher = await this.#sandbox.filesWatchDir(path, { user, recursive, includeEntry, timeoutMs, requestTimeoutMs })
    return new WatchHandle(watcher, onEvent, onExit)
  }
}

const isRequest = (v) => typeof Request !== 'undefined' && v instanceof Request

/**
 * `sandbox.fetch(port, pathOrRequest?, init?)`: the runtime's own `fetch` to a port of the
 * sandbox, with the headers the core says it needs (the traffic token, and the routing
 * headers when a `sandboxUrl` is set). Only a path is taken, never another host, so the
 * token cannot be sent elsewhere. Returns the standard `Response`.
 */
async function fetchFromSandbox(port, pathOrRequest, init) {
  let path = pathOrRequest ?? '/'
  let base
  if (isRequest(pathOrRequest)) {
    const url = new URL(pathOrRequest.url)
    path = url.pathname + url.search
    base = pathOrRequest
  } else if (typeof path !== 'string') {
    throw new InvalidArgumentError('pathOrRequest must be a path starting with / or a Request', { code: 'invalid_argument' })
  }
  const target = this.fetchTarget(port, path)
  const headers = new Headers(init?.headers ?? base?.headers)
  for (const [name, value] of Object.entries(target.headers)) headers.set(name, value)
  return fetch(base ? new Request(target.url, base) : target.url, { ...init, headers })
}

// ── the code interpreter, as `@e2b/code-interpreter` shapes its answers ──────────────────

/** A line of output of an execution (`onStdout`, `onStderr`). */
class OutputMessage {
  constructor(line, timestamp, error) {
    this.line = line
    this.timestamp = timestamp
    this.error = error
  }

  toString() {
    return this.line
  }
}

/** An exception the code raised. */
class ExecutionError {
  constructor(name, value, traceback) {
    this.name = name
    this.value = value
    this.traceback = traceback
  }
}

const RESULT_FORMATS = ['text', 'html', 'markdown', 'svg', 'png', 'jpeg', 'pdf', 'latex', 'json', 'javascript']
const RESULT_KNOWN = new Set([...RESULT_FORMATS, 'plain', 'data', 'chart', 'extra'])

/** A value the code produced: the main result (its last expression) or a display. */
class Result {
  constructor(raw, isMainResult) {
    this.isMainResult = isMainResult
    for (const format of RESULT_FORMATS) this[format] = raw[format]
    this.data = raw.data
    this.chart = raw.chart
    this.raw = raw
    this.extra = {}
    for (const key of Object.keys(raw)) if (!RESULT_KNOWN.has(key)) this.extra[key] = raw[key]
  }

  /** The formats the result has besides text. */
  formats() {
    const present = RESULT_FORMATS.slice(1).filter((f) => this[f])
    if (this.data) present.push('data')
    return [...present, ...Object.keys(this.extra)]
  }

  toJSON() {
    const out = {}
    for (const format of RESULT_FORMATS) out[format] = this[format]
    if (Object.keys(this.extra).length > 0) out.extra = this.extra
    return out
  }
}

/** What an execution produced. */
class Execution {
  constructor(results = [], logs = { stdout: [], stderr: [] }, error = undefined, executionCount = undefined) {
    this.results = results
    this.logs = logs
    this.error = error
    this.executionCount = executionCount
  }

  /** The main result's text. */
  get text() {
    for (const result of this.results) if (result.isMainResult) return result.text
    return undefined
  }

  toJSON() {
    return { results: this.results, logs: this.logs, error: this.error }
  }
}

/**
 * `sandbox.runCode(code, opts)`: the events of the execution, read as they arrive, make the
 * `Execution`; the callbacks see them in order.
 */
async function runCode(code, opts = {}) {
  opts = plainOptions(opts) ?? {}
  const { onStdout, onStderr, onResult, onError, signal } = opts
  for (const [name, callback] of Object.entries({ onStdout, onStderr, onResult, onError })) checkCallback(callback, name)
  signal?.throwIfAborted()
  const run = await this.codeRun(code, {
    language: opts?.language,
    contextId: opts?.context?.id,
    envs: opts?.envs,
    timeoutMs: opts?.timeoutMs,
    requestTimeoutMs: opts?.requestTimeoutMs,
  })
  // An aborted signal ends the reading (and so the execution: its connection closes).
  const abort = () => run.cancel()
  signal?.addEventListener('abort', abort, { once: true })
  try {
    return await readExecution(run, onStdout, onStderr, onResult, onError)
  } catch (err) {
    // A callback that threw leaves the execution unread: let its connection go too.
    run.cancel()
    signal?.throwIfAborted()
    throw err
  } finally {
    signal?.removeEventListener('abort', abort)
  }
}

async function readExecution(run, onStdout, onStderr, onResult, onError) {
  const execution = new Execution()
  for (let events; (events = await run.nextEvents()); ) {
    for (const e of events) {
      switch (e.type) {
        case 'stdout':
        case 'stderr': {
          execution.logs[e.type].push(e.text)
          const callback = e.type === 'stdout' ? onStdout : onStderr
          if (callback) await callback(new OutputMessage(e.text, Date.now() * 1000, e.type === 'stderr'))
          break
        }
        case 'result': {
          const result = new Result(JSON.parse(e.raw), e.isMainResult)
          execution.results.push(result)
          if (onResult) await onResult(result)
          break
        }
        case 'error':
          execution.error = new ExecutionError(e.name, e.value, e.traceback)
          if (onError) await onError(execution.error)
          break
        case 'number_of_executions':
          execution.executionCount = e.executionCount
          break
      }
    }
  }
  return execution
}

const contextId = (context) => (typeof context === 'string' ? context : context?.id)

const codeInterpreterMethods = {
  runCode,
  createCodeContext(opts) {
    return this.codeContextCreate(opts)
  },
  listCodeContexts() {
    return this.codeContextsList()
  },
  removeCodeContext(context) {
    return this.codeContextRemove(contextId(context))
  },
  restartCodeContext(context) {
    return this.codeContextRestart(contextId(context))
  },
}

const commandsOf = new WeakMap()
const filesOf = new WeakMap()
const ptyOf = new WeakMap()

const ALL_TRAFFIC = '0.0.0.0/0'

// ── network options: the callback forms of the `e2b` package, resolved before the binding
// sees them (they are JavaScript functions); every check of the values is the core's.

// Names a runtime reads off any object it serializes, awaits or coerces: never token names.
const PROBED_NAMES = new Set(['toJSON', 'then', 'toString', 'valueOf'])
const BAD_TOKEN_NAME = /[{}\p{Cc}]/u

function invalidArgument(message) {
  return new InvalidArgumentError(message, { code: 'invalid_argument' })
}

/**
 * `iam.tokens` of a transform callback's context: the placeholder the egress proxy replaces
 * with a minted token. An update cannot check names (its body carries no `iam`), so every
 * usable name gives its placeholder; a create registers no tokens in sandkit, so none does.
 */
function tokenPlaceholders(create) {
  return new Proxy(
    {},
    {
      get(target, name) {
        if (typeof name !== 'string' || PROBED_NAMES.has(name)) return Reflect.get(target, name)
        if (create) {
          throw invalidArgument(`Network transform references iam token '${name}', which is not registered: sandkit registers no workload identity tokens (iam) when it creates a sandbox.`)
        }
        if (name.length === 0 || BAD_TOKEN_NAME.test(name)) {
          throw invalidArgument(`iam token name ${JSON.stringify(name)} is not usable: a token name cannot be empty or contain '{', '}' or control characters, because it is interpolated into the '\${e2b.identity.tokens.<name>}' placeholder the egress proxy resolves.`)
        }
        return `\${e2b.identity.tokens.${name}}`
      },
      has() {
        return false
      },
    },
  )
}

function isPlainObject(value) {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function describeValue(value) {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  return Array.isArray(value) ? 'array' : (value.constructor?.name ?? 'object')
}

/** A rule whose `transform` is a callback, with the transform it returns. */
function resolveRule(host, rule, ctx) {
  if (rule === null || typeof rule !== 'object' || typeof rule.transform !== 'function') return rule
  const transform = rule.transform(ctx)
  if (typeof transform?.then === 'function') {
    Promise.resolve(transform).catch(() => {})
    throw invalidArgument(`Network transform callback for '${host}' must be synchronous, it returned a promise. Resolve the value before creating the sandbox.`)
  }
  if (!isPlainObject(transform)) {
    throw invalidArgument(`Network transform callback for '${host}' must return a transform object, got ${describeValue(transform)}.`)
  }
  return { transform }
}

/**
 * `network` (of a create, or an update) with `allowOut`/`denyOut` callbacks called (given
 * `{ allTraffic, rules }`), `rules` as a plain object in its order and `transform` callbacks
 * called; anything else is passed on as it is, for the core to check.
 */
function resolveNetwork(network, create) {
  if (network === null || typeof network !== 'object') return network
  const given = network.rules
  const listed = given !== null && typeof given === 'object'
  const rules = given instanceof Map ? given : new Map(listed ? Object.entries(given) : [])
  const select = (selector) => (typeof selector === 'function' ? selector({ allTraffic: ALL_TRAFFIC, rules }) : selector)
  const out = { ...network, allowOut: select(network.allowOut), denyOut: select(network.denyOut) }
  if (listed) {
    const ctx = { iam: { tokens: tokenPlaceholders(create) } }
    const entries = []
    for (const [host, hostRules] of rules) {
      entries.push([host, Array.isArray(hostRules) ? hostRules.map((rule) => resolveRule(host, rule, ctx)) : hostRules])
    }
    out.rules = Object.fromEntries(entries)
  }
  return out
}

/** Options whose `network` is resolved (see `resolveNetwork`). */
function withNetwork(opts) {
  if (opts === null || typeof opts !== 'object' || opts.network === null || typeof opts.network !== 'object') return opts
  return { ...opts, network: resolveNetwork(opts.network, true) }
}

/** `fn` with its arguments prepared by `prepare` first; a throw there is a rejection. */
function preparing(fn, prepare) {
  return function prepared(...args) {
    try {
      args = prepare(...args)
    } catch (err) {
      return Promise.reject(err)
    }
    return fn.apply(this, args)
  }
}

/**
 * The napi binding that `load` gives, or undefined, and then Node's entry uses the wasm build:
 * when `load` throws (no addon for this platform), or when `SANDKIT_WASM=1` asks for the wasm
 * build where an addon would load (one that misbehaves, or a comparison). With `DEBUG` set,
 * one line on stderr says which and why.
 */
function nativeBinding(load) {
  const env = globalThis.process?.env
  const say = (why) => env?.DEBUG && globalThis.process.stderr.write(`sandkit: ${why}; using the wasm build\n`)
  if (env?.SANDKIT_WASM === '1') return void say('SANDKIT_WASM=1')
  try {
    return load()
  } catch (err) {
    const why = String(err?.message ?? err).split(/\.\s|\n/)[0]
    say(`no native addon for ${globalThis.process.platform}-${globalThis.process.arch} (${why})`)
  }
}

/**
 * Wraps a binding's classes once: returns the public API. `opts.staticNames` maps a binding's
 * static method names to public ones (wasm-bindgen cannot give a static and an instance
 * method the same name); `opts.nativeError(err, message)` turns the binding's own argument
 * errors into InvalidArgumentErrors (napi's: `napiArgumentError`).
 */
function wrapBinding(binding, opts = {}) {
  // Set, never cleared: a process may wrap both bindings, and only napi errors carry its codes.
  if (opts.nativeError) nativeArgumentError = opts.nativeError
  guardPrototype(binding.Sandbox.prototype, PARAMS)
  guardPrototype(binding.SandboxPaginator.prototype)
  guardPrototype(binding.SnapshotPaginator.prototype)
  guardPrototype(binding.ProcessHandle.prototype)
  for (const name of ['FileReader', 'FileWriter', 'FileWatcher']) {
    if (binding[name]) guardPrototype(binding[name].prototype)
  }
  Object.defineProperty(binding.Sandbox.prototype, 'files', {
    configurable: true,
    get() {
      let files = filesOf.get(this)
      if (!files) filesOf.set(this, (files = new Filesystem(this)))
      return files
    },
  })
  Object.defineProperty(binding.Sandbox.prototype, 'commands', {
    configurable: true,
    get() {
      let commands = commandsOf.get(this)
      if (!commands) commandsOf.set(this, (commands = new Commands(this)))
      return commands
    },
  })
  Object.defineProperty(binding.Sandbox.prototype, 'pty', {
    configurable: true,
    get() {
      let pty = ptyOf.get(this)
      if (!pty) ptyOf.set(this, (pty = new Pty(this)))
      return pty
    },
  })
  Object.defineProperty(binding.Sandbox.prototype, 'fetch', { configurable: true, writable: true, value: fetchFromSandbox })
  for (const Paginator of [binding.SandboxPaginator, binding.SnapshotPaginator]) {
    Object.defineProperty(Paginator.prototype, Symbol.asyncIterator, {
      configurable: true,
      value: async function* items() {
        while (this.hasNext) yield* await this.nextItems()
      },
    })
  }
  for (const [name, value] of Object.entries(codeInterpreterMethods)) {
    // The binding calls they make are guarded already; a callback's own error passes as it is.
    Object.defineProperty(binding.Sandbox.prototype, name, { configurable: true, writable: true, value })
  }
  if (binding.CodeRun) guardPrototype(binding.CodeRun.prototype)
  // `betaPause`: the seeds' name of `pause` (a deprecated alias in the `e2b` package).
  Object.defineProperty(binding.Sandbox.prototype, 'betaPause', {
    configurable: true,
    writable: true,
    value: function betaPause(opts) {
      return this.pause(opts)
    },
  })
  const updateNetwork = binding.Sandbox.prototype.updateNetwork
  Object.defineProperty(binding.Sandbox.prototype, 'updateNetwork', {
    configurable: true,
    writable: true,
    value: preparing(updateNetwork, (network, opts) => [resolveNetwork(network, false), opts]),
  })
  const Sandbox = guardStatics(binding.Sandbox, opts.staticNames, STATIC_PARAMS)
  for (const [name, prepare] of [
    ['create', (templateOrOpts, opts) => {
      if (typeof templateOrOpts === 'object' && templateOrOpts !== null) return [withNetwork(plainOptions(templateOrOpts)), opts]
      if (typeof templateOrOpts === 'string') checkString(templateOrOpts, 'template')
      else if (templateOrOpts !== undefined && templateOrOpts !== null) throw badArgument(`template must be a string or an options object, got ${typeOf(templateOrOpts)}`)
      return [templateOrOpts, withNetwork(plainOptions(opts))]
    }],
    ['updateNetwork', (sandboxId, network, opts) => [sandboxId, resolveNetwork(network, false), opts]],
  ]) {
    Object.defineProperty(Sandbox, name, { value: preparing(Sandbox[name], prepare), writable: true, configurable: true })
  }
  // Test-only entry points that panic inside the binding (tests/scenario.mjs, "panic"):
  // hidden, not in index.d.ts, not part of the API.
  for (const name of ['__testPanic', '__testPanicAsync']) {
    if (typeof binding[name] === 'function') Object.defineProperty(Sandbox, name, { value: guard(binding[name], name), enumerable: false, writable: true, configurable: true })
  }
  Object.defineProperty(Sandbox, 'betaPause', { value: (sandboxId, opts) => Sandbox.pause(sandboxId, opts), writable: true, configurable: true })
  // `getFullInfo`: `getInfo` under its old name (deprecated in the `e2b` package, still there).
  Object.defineProperty(Sandbox, 'getFullInfo', { value: (sandboxId, opts) => Sandbox.getInfo(sandboxId, opts), writable: true, configurable: true })
  // `betaCreate`: the seeds' create with `autoPause` (which `create` understands as well).
  Object.defineProperty(Sandbox, 'betaCreate', { value: (templateOrOpts, opts) => Sandbox.create(templateOrOpts, opts), writable: true, configurable: true })
  const getSignature = guard(binding.getSignature, 'getSignature')
  guardPrototype(binding.ConnectionConfig.prototype)
  const ConnectionConfig = guardStatics(binding.ConnectionConfig)
  Object.defineProperty(ConnectionConfig, 'envdPort', { value: 49983, enumerable: true })
  return {
    ...errorClasses,
    Sandbox,
    SandboxPaginator: binding.SandboxPaginator,
    ALL_TRAFFIC,
    // The `e2b` package's enums, as the plain objects its compiled enums are.
    ConnectionConfig,
    FileType: Object.freeze({ FILE: 'file', DIR: 'dir', SYMLINK: 'symlink' }),
    FilesystemEventType: Object.freeze({ CHMOD: 'chmod', CREATE: 'create', REMOVE: 'remove', RENAME: 'rename', WRITE: 'write' }),
    /** The signature of a signed `/files` URL, made by the core (async, as in `e2b`). */
    getSignature: async (opts) => getSignature(opts),
  }
}

export { wrapBinding, toSandkitError, errorClasses, BINDING_ERROR_PREFIX, nativeBinding, napiArgumentError }
