// The hand-written part of the public types: what js/wrap.mjs adds to the bindings.

/** Every address: `allowOut`/`denyOut` entry meaning all traffic. */
export declare const ALL_TRAFFIC: '0.0.0.0/0'

/** What an `allowOut`/`denyOut` callback is given. */
export interface SandboxNetworkSelectorContext {
  /** `'0.0.0.0/0'`, as `ALL_TRAFFIC`. */
  allTraffic: string
  /** The `rules` of the same options, as a `Map` (empty when there are none). */
  rules: Map<string, SandboxNetworkRule[]>
}
/**
 * `allowOut`/`denyOut`: CIDRs, IPs (and for `allowOut` domains, `*.example.com`), or a
 * callback that returns them, called once before the request is sent.
 */
export type SandboxNetworkSelector = string[] | ((ctx: SandboxNetworkSelectorContext) => string[])
/**
 * What a `transform` callback is given: placeholders the egress proxy replaces per request.
 * `iam.tokens.<name>` is `'${e2b.identity.tokens.<name>}'` in an update; in a create, where
 * sandkit registers no workload tokens, reading a token is an `InvalidArgumentError`.
 */
export interface SandboxNetworkTransformContext {
  iam: { tokens: Record<string, string> }
}
/** A `transform` given as a synchronous callback that returns the transform object. */
export type SandboxNetworkTransformResolver = (ctx: SandboxNetworkTransformContext) => SandboxNetworkTransform
/** One rule for the requests to a host. */
export interface SandboxNetworkRule {
  transform?: SandboxNetworkTransform | SandboxNetworkTransformResolver
}
/**
 * Host (`api.example.com`, `*.example.com`) → its rules, in order. Registering a host does
 * not allow egress to it: `allowOut` does.
 */
export type SandboxNetworkRules = Record<string, SandboxNetworkRule[]> | Map<string, SandboxNetworkRule[]>
/** A SOCKS5 proxy (`host:port`) the sandbox's outbound TCP goes through, with optional RFC 1929 credentials. */
export interface SandboxEgressProxyOpts {
  address: string
  username?: string
  /** A secret: never part of an error message, never returned by `getInfo`. */
  password?: string
}

// The options of the calls. The core reads them (sandkit::js_options), so they are declared
// here once, the sandbox calls' own fields on top of the connection fields they share.

/** The connection fields of every call (and of `new ConnectionConfig(opts)`). */
export interface SandboxApiOpts {
  /** Defaults to `E2B_API_KEY`. */
  apiKey?: string
  /** Defaults to `E2B_API_URL`, else `https://api.<domain>`. */
  apiUrl?: string
  /** Defaults to `E2B_SANDBOX_URL`. */
  sandboxUrl?: string
  /** Defaults to `E2B_DOMAIN`, else `e2b.app`. */
  domain?: string
  debug?: boolean
  /** Time for one whole call, retries included; 0 disables it. Default 60 000. */
  requestTimeoutMs?: number
  /**
   * How many times a call that may be repeated (not a create the server may have acted on)
   * is sent again after a 429, a 502-504 or a broken connection; default 3, at most 100.
   * `requestTimeoutMs` bounds them.
   */
  retries?: number
  /** Allow an API key in a browser, where any visitor can read it. */
  dangerouslyAllowBrowser?: boolean
}

/** Options of `Sandbox.create`. */
export interface SandboxOpts extends SandboxApiOpts {
  /** Template id or alias; default `base`. */
  template?: string
  /** Sandbox lifetime; default 300 000. */
  timeoutMs?: number
  metadata?: Record<string, string>
  /** Environment variables every command in the sandbox sees. */
  envs?: Record<string, string>
  allowInternetAccess?: boolean
  /** Who may reach the sandbox's ports, and what it may reach. */
  network?: SandboxNetworkOpts
  secure?: boolean
  lifecycle?: SandboxLifecycle
  /** `betaCreate`'s spelling of `lifecycle.onTimeout`: `true` is `'pause'`. */
  autoPause?: boolean
}

/** What happens when the sandbox's time runs out. */
export interface SandboxLifecycle {
  /** `'kill'` (default) or `'pause'`, or `{ action, keepMemory }`. */
  onTimeout?: 'pause' | 'kill' | SandboxOnTimeout
  /** Resume a paused sandbox on incoming traffic (needs `onTimeout: 'pause'`). */
  autoResume?: boolean
}

/** The object form of `lifecycle.onTimeout`. */
export interface SandboxOnTimeout {
  /** `'pause'` or `'kill'`. */
  action?: 'pause' | 'kill'
  /** With `'pause'`: keep the memory (the default) or only the filesystem. */
  keepMemory?: boolean
}

/** `network` of `Sandbox.create`. */
export interface SandboxNetworkOpts {
  /**
   * Addresses, CIDRs or domains (`*.example.com`) the sandbox may reach; they win over
   * `denyOut`. Or a callback given `{ allTraffic, rules }` that returns them.
   */
  allowOut?: SandboxNetworkSelector
  /** Addresses or CIDRs the sandbox may not reach (`ALL_TRAFFIC` for all), or a callback. */
  denyOut?: SandboxNetworkSelector
  /** Per-host transforms of outbound requests (headers set), as an object or a `Map`. */
  rules?: SandboxNetworkRules
  /** A SOCKS5 proxy the sandbox's outbound TCP goes through. */
  egressProxy?: SandboxEgressProxyOpts
  /** `false`: requests to the sandbox's ports need its `trafficAccessToken`. Default true. */
  allowPublicTraffic?: boolean
  /** The `Host` the sandbox's servers see, e.g. `localhost:${PORT}`. */
  maskRequestHost?: string
  /** Ports whose servers speak HTTPS (the proxy connects to them with TLS). */
  httpsPorts?: number[]
}

/**
 * What `updateNetwork` takes: the whole egress configuration, which replaces the sandbox's
 * (a field left out is cleared).
 */
export interface SandboxNetworkUpdate {
  allowOut?: SandboxNetworkSelector
  denyOut?: SandboxNetworkSelector
  rules?: SandboxNetworkRules
  egressProxy?: SandboxEgressProxyOpts
  /** `false` is the same as `denyOut: [ALL_TRAFFIC]`. */
  allowInternetAccess?: boolean
}

/** Options of `Sandbox.connect` and `sandbox.connect`. */
export interface SandboxConnectOpts extends SandboxApiOpts {
  /** Extend the sandbox's life to at least this; default 300 000. */
  timeoutMs?: number
  /**
   * How a paused sandbox comes back: where it stopped (`'restore'`, the default) or afresh
   * on its files (`'reboot'`).
   */
  onResume?: 'restore' | 'reboot'
}

/** Options of `Sandbox.list`. */
export interface SandboxListOpts extends SandboxApiOpts {
  query?: SandboxQuery
  /** Page size, 1 to 100 (default 100). */
  limit?: number
  /** Start from this page. */
  nextToken?: string
  /** `'asc'` or `'desc'` (default) by start time. */
  order?: 'asc' | 'desc'
}

/** Filters of `Sandbox.list`. */
export interface SandboxQuery {
  /** `'running'`, `'paused'`, or both (the default). */
  state?: Array<'running' | 'paused'>
  /** Only sandboxes with all of these pairs (case-sensitive). */
  metadata?: Record<string, string>
  /** Only sandboxes started at or after this time. */
  startedAfter?: Date
  /** Only sandboxes of this template (id or name). */
  template?: string
}

/** Options of `Sandbox.getMetrics(id, opts)` and `sandbox.getMetrics(opts)`. */
export interface SandboxMetricsOpts extends SandboxApiOpts {
  /** Samples taken at or after this time (rounded to the second). */
  start?: Date
  /** Samples taken at or before this time (rounded to the second). */
  end?: Date
}

/** Options of `Sandbox.pause(id, opts)` and `sandbox.pause(opts)`. */
export interface SandboxPauseOpts extends SandboxApiOpts {
  /** `false`: end the processes and keep only the files; the resume is a reboot. */
  keepMemory?: boolean
}

/** Options of `Sandbox.createSnapshot(id, opts)` and `sandbox.createSnapshot(opts)`. */
export interface CreateSnapshotOpts extends SandboxApiOpts {
  /** A name to create sandboxes from (`name` or `name:default`); it moves to this snapshot from an older one of the same name. */
  name?: string
}

/** Options of `Sandbox.listSnapshots(opts)` and `sandbox.listSnapshots(opts)`. */
export interface SnapshotListOpts extends SandboxApiOpts {
  /** Only the snapshots of this sandbox (the instance form lists its own). */
  sandboxId?: string
  /** Only the snapshot this name or id names. */
  name?: string
  /** Page size, 1 to 100 (default 100). */
  limit?: number
  /** Start from this page. */
  nextToken?: string
}

/** Options of `Sandbox.fork(id, opts)` and `sandbox.fork(opts)`. */
export interface SandboxForkOpts extends SandboxApiOpts {
  /** How many sandboxes to make from the one copy of the files (default 1). */
  count?: number
  /** How long each fork lives (default 15 s, as E2B's API). */
  timeoutMs?: number
}

/** Options of a process start. */
export interface ProcessStartOpts {
  /** Variables for this command only, over the sandbox's. */
  envs?: Record<string, string>
  /** Working directory; default the user's home. */
  cwd?: string
  /** `user` (default) or `root`. */
  user?: string
  /** How long the command may run; default 60 000, 0 for no limit. */
  timeoutMs?: number
  /** Keep stdin open for `sendStdin`. */
  stdin?: boolean
  tag?: string
  /** The limit on starting it (until its first event), as the connection's `requestTimeoutMs` (0 for none); default the sandbox's. */
  requestTimeoutMs?: number
}

/** Options of the filesystem calls. */
export interface FilesOpts {
  user?: string
  /** This call's limit on its request, as the connection's `requestTimeoutMs` (0 for none); default the sandbox's. */
  requestTimeoutMs?: number
  /** `list` only: how many levels down (default 1). */
  depth?: number
}

/** Options of writes. */
export interface FilesWriteOpts {
  user?: string
  /** This call's limit on its request, as the connection's `requestTimeoutMs` (0 for none); default the sandbox's. */
  requestTimeoutMs?: number
  metadata?: Record<string, string>
}

/** One file of a many-file write. */
export interface FilesWriteEntry {
  path: string
  data: string | Uint8Array
}

/** Options of `watchDir`. */
export interface FilesWatchOpts {
  user?: string
  recursive?: boolean
  includeEntry?: boolean
  /** 0 for no limit; default 60 000. */
  timeoutMs?: number
  /** The limit on starting it (until its first event), as the connection's `requestTimeoutMs` (0 for none); default the sandbox's. */
  requestTimeoutMs?: number
}

/** Options of `uploadUrl` / `downloadUrl`. */
export interface FileUrlOpts {
  user?: string
  /** Seconds the signature stays valid. */
  useSignatureExpiration?: number
}

/** Options of a terminal's start. */
export interface PtyStartOpts {
  /** Columns, 1 to 65535 (required). */
  cols?: number
  /** Rows, 1 to 65535 (required). */
  rows?: number
  envs?: Record<string, string>
  cwd?: string
  user?: string
  /** 0 for no limit; default 60 000. */
  timeoutMs?: number
  /** The limit on starting it (until its first event), as the connection's `requestTimeoutMs` (0 for none); default the sandbox's. */
  requestTimeoutMs?: number
}

/** A terminal's size in character cells. */
export interface PtySizeOpts {
  cols?: number
  rows?: number
}

/** Options of one execution, as `runCode` takes them. */
export interface CodeRunOpts {
  language?: string
  contextId?: string
  envs?: Record<string, string>
  timeoutMs?: number
  requestTimeoutMs?: number
}

/** Options of `createCodeContext`. */
export interface CodeContextOpts {
  cwd?: string
  language?: string
  requestTimeoutMs?: number
}

/** Where a sandbox's daemon is: its domain and port. */
export interface SandboxUrlOpts {
  sandboxDomain?: string
  /** Default 49983. */
  envdPort?: number
}

/** What `getSignature` signs. */
export interface SignatureOpts {
  path: string
  operation: 'read' | 'write'
  user?: string
  /** Seconds from now; negative for an already-expired signature. */
  expirationInSeconds?: number
  envdAccessToken?: string
}

export interface SandboxPaginator {
  /** Every sandbox of every remaining page, fetched page by page. */
  [Symbol.asyncIterator](): AsyncGenerator<SandboxInfo, void, undefined>
}

export interface SnapshotPaginator {
  /** Every snapshot of every remaining page, fetched page by page. */
  [Symbol.asyncIterator](): AsyncGenerator<SnapshotInfo, void, undefined>
}

export interface SandboxErrorOptions {
  code?: string
  statusCode?: number
  cause?: unknown
}

/** Base class of the SDK's errors. `code` is stable across runtimes. */
export declare class SandboxError extends Error {
  constructor(message?: string, opts?: SandboxErrorOptions)
  code: string
  /** The HTTP status behind the error, when there was one. */
  statusCode?: number
}
/** A request or an operation ran out of time. */
export declare class TimeoutError extends SandboxError {}
/** The caller passed something unusable; nothing was sent. */
export declare class InvalidArgumentError extends SandboxError {}
export declare class NotEnoughSpaceError extends SandboxError {}
export declare class NotFoundError extends SandboxError {}
export declare class FileNotFoundError extends NotFoundError {}
/** The sandbox does not exist, was killed, timed out, or belongs to another team. */
export declare class SandboxNotFoundError extends NotFoundError {}
/** Too many requests (HTTP 429), after the retries allowed. */
export declare class RateLimitError extends SandboxError {}
export declare class TemplateError extends SandboxError {}
/** No API key, or one the server refused. Not a SandboxError, as in the `e2b` package. */
export declare class AuthenticationError extends Error {
  constructor(message?: string, opts?: SandboxErrorOptions)
  code: string
  statusCode?: number
}
/** The service is busy (HTTP 503). Not a SandboxError, as in the `e2b` package. */
export declare class ServiceBusyError extends Error {
  constructor(message?: string, opts?: SandboxErrorOptions)
  code: string
  statusCode?: number
}
/** A command exited with a non-zero code. */
export declare class CommandExitError extends SandboxError {
  exitCode?: number
  stdout: string
  stderr: string
  error?: string
}

export interface Sandbox {
  /** Run commands in the sandbox (the `e2b` package's `sandbox.commands`). */
  readonly commands: Commands
  /** Read and write the sandbox's files (the `e2b` package's `sandbox.files`). */
  readonly files: Filesystem
  /** Interactive terminals (the `e2b` package's `sandbox.pty`). */
  readonly pty: Pty
  /**
   * The runtime's own `fetch` to `port` of the sandbox: `pathOrRequest` is a path (default
   * `/`) or a `Request` whose path is used (never its host); the traffic access token is
   * added when the sandbox has one. Resolves to the standard `Response` (a stream).
   */
  fetch(port: number, pathOrRequest?: string | Request, init?: RequestInit): Promise<Response>
  /** `pause`, under the seeds' name (a deprecated alias in the `e2b` package). */
  betaPause(opts?: SandboxPauseOpts | undefined | null): Promise<boolean>
  /**
   * Runs `code` in the sandbox's code interpreter (as `@e2b/code-interpreter`): in the default
   * context of `language` (default `python`), or in `context`; not both. Output and results
   * reach the callbacks as they arrive; the `Execution` has them all.
   */
  runCode(code: string, opts?: RunCodeOpts & { language?: RunCodeLanguage }): Promise<Execution>
  runCode(code: string, opts?: RunCodeOpts & { context?: Context }): Promise<Execution>
  /** A new code context: its own variables, imports and working directory. */
  createCodeContext(opts?: CreateCodeContextOpts): Promise<Context>
  /** The contexts made with `createCodeContext`. */
  listCodeContexts(): Promise<Context[]>
  removeCodeContext(context: Context | string): Promise<void>
  /** Clears the context's state (its interpreter starts anew). */
  restartCodeContext(context: Context | string): Promise<void>
}

/** A code context (`createCodeContext`). */
export interface Context {
  id: string
  language: string
  cwd: string
}

export type RunCodeLanguage = 'python' | 'javascript' | 'typescript' | 'r' | 'java' | 'bash' | (string & {})

export interface RunCodeOpts {
  onStdout?: (output: OutputMessage) => Promise<any> | any
  onStderr?: (output: OutputMessage) => Promise<any> | any
  onResult?: (data: Result) => Promise<any> | any
  onError?: (error: ExecutionError) => Promise<any> | any
  /** Environment variables for this execution only. */
  envs?: Record<string, string>
  /** How long the execution may run once started; default 60 000, 0 for no limit. */
  timeoutMs?: number
  /** How long the interpreter may take to start answering. */
  requestTimeoutMs?: number
  /** Aborting it ends the execution (the interpreter is interrupted); `runCode` rejects with its reason. */
  signal?: AbortSignal
}

export interface CreateCodeContextOpts {
  /** Default `/home/user`. */
  cwd?: string
  /** Default `python`. */
  language?: RunCodeLanguage
  requestTimeoutMs?: number
}

/** A piece of output of an execution. */
export interface OutputMessage {
  readonly line: string
  /** Microseconds since the epoch. */
  readonly timestamp: number
  /** True for stderr. */
  readonly error: boolean
  toString(): string
}

/** An exception the code raised. */
export interface ExecutionError {
  name: string
  value: string
  traceback: string
}

/** A value the code produced: its main result (the last expression) or a display. */
export interface Result {
  readonly isMainResult: boolean
  readonly text?: string
  readonly html?: string
  readonly markdown?: string
  readonly svg?: string
  /** Base64. */
  readonly png?: string
  /** Base64. */
  readonly jpeg?: string
  readonly pdf?: string
  readonly latex?: string
  readonly json?: string
  readonly javascript?: string
  readonly data?: Record<string, unknown>
  readonly chart?: any
  readonly extra?: any
  readonly raw: Record<string, any>
  /** The formats present besides text. */
  formats(): string[]
  toJSON(): Record<string, any>
}

export interface Logs {
  stdout: string[]
  stderr: string[]
}

/** What an execution produced. */
export interface Execution {
  results: Result[]
  logs: Logs
  error?: ExecutionError
  executionCount?: number
  /** The main result's text. */
  readonly text: string | undefined
  toJSON(): { results: Result[]; logs: Logs; error: ExecutionError | undefined }
}

export declare namespace Sandbox {
  /** `Sandbox.pause`, under the seeds' name (a deprecated alias in the `e2b` package). */
  function betaPause(sandboxId: string, opts?: SandboxPauseOpts | undefined | null): Promise<boolean>
  /** @deprecated `Sandbox.getInfo` under its old name, as in the `e2b` package. */
  function getFullInfo(sandboxId: string, opts?: SandboxApiOpts | undefined | null): Promise<SandboxInfo>
  /**
   * `Sandbox.create`, under the seeds' name: `autoPause: true` pauses the sandbox at its
   * timeout instead of killing it (`lifecycle: { onTimeout: 'pause' }`).
   */
  function betaCreate(templateOrOpts?: string | SandboxOpts | undefined | null, opts?: SandboxOpts | undefined | null): Promise<Sandbox>
}

/** How a command ended. */
export interface CommandResult {
  exitCode: number
  /** `exit status 3`, `signal: killed`; absent for a clean exit. */
  error?: string
  stdout: string
  stderr: string
}

export interface CommandStartOpts extends ProcessStartOpts {
  /** Called with each piece of stdout, UTF-8 decoded. */
  onStdout?: (data: string) => void | Promise<void>
  onStderr?: (data: string) => void | Promise<void>
}

/** A running command. */
export declare class CommandHandle {
  readonly pid: number
  /** Output so far. */
  readonly stdout: string
  readonly stderr: string
  exitCode?: number
  error?: string
  /** The result once it has ended; a non-zero exit throws `CommandExitError`. */
  wait(): Promise<CommandResult>
  /** SIGKILL: `false` if it had already ended. */
  kill(): Promise<boolean>
  /** Stops following it; it goes on running (`connect(pid)` follows it again). No callback
   * fires after this returns, and `wait()` fails unless it had already ended. */
  disconnect(): Promise<void>
  sendStdin(data: string | Uint8Array): Promise<void>
  closeStdin(): Promise<void>
}

/** A running process, as listed. */
export interface ProcessInfo {
  pid: number
  tag?: string
  cmd: string
  args: string[]
  envs: Record<string, string>
  cwd?: string
}

/** `sandbox.commands`. */
export declare class Commands {
  /** Runs `cmd` with `bash -l -c` and waits; a non-zero exit throws `CommandExitError`. */
  run(cmd: string, opts?: CommandStartOpts & { background?: false }): Promise<CommandResult>
  /** Starts `cmd` and returns at once. */
  run(cmd: string, opts: CommandStartOpts & { background: true }): Promise<CommandHandle>
  /** Attaches to a running command. */
  connect(pid: number, opts?: Pick<CommandStartOpts, 'onStdout' | 'onStderr' | 'timeoutMs'>): Promise<CommandHandle>
  list(): Promise<ProcessInfo[]>
  /** SIGKILL: `false` if there was no such process. */
  kill(pid: number): Promise<boolean>
  sendStdin(pid: number, data: string | Uint8Array): Promise<void>
  closeStdin(pid: number): Promise<void>
}

/** What a write takes: text, bytes, a Blob, or a stream of bytes (uploaded as it is read). */
export type WriteData = string | ArrayBuffer | ArrayBufferView | Blob | ReadableStream<Uint8Array>

export interface WriteEntry {
  path: string
  data: WriteData
}

export interface FilesystemOpts {
  /** Whose home relative paths resolve against and who owns what is created; default `user`. */
  user?: string
  /** This call's limit on its request (for `watchDir`, on its start), as the connection's `requestTimeoutMs` (0 for none); default the sandbox's. */
  requestTimeoutMs?: number
}

export interface FilesystemWriteOpts extends FilesystemOpts {
  /** Stored with the file; keys are HTTP tokens, values printable ASCII. */
  metadata?: Record<string, string>
}

export interface FilesystemReadOpts extends FilesystemOpts {
  /** `text` (default), `bytes`, `blob` or `stream`. */
  format?: 'text' | 'bytes' | 'blob' | 'stream'
}

export interface FilesystemListOpts extends FilesystemOpts {
  /** Levels down, at least 1 (default 1). */
  depth?: number
}

export interface WatchOpts extends FilesystemOpts {
  /** Events in subdirectories too. */
  recursive?: boolean
  /** Send each event's EntryInfo. */
  includeEntry?: boolean
  /** How long the watch lasts; default 60 000, 0 for no limit. */
  timeoutMs?: number
  /** Called once when the watch ends, with the error that ended it, if any. */
  onExit?: (err?: Error) => void | Promise<void>
}

/** A running watch. */
export declare class WatchHandle {
  stop(): Promise<void>
}

/** `sandbox.files`. */
export declare class Filesystem {
  read(path: string, opts?: FilesystemReadOpts & { format?: 'text' }): Promise<string>
  read(path: string, opts: FilesystemReadOpts & { format: 'bytes' }): Promise<Uint8Array>
  read(path: string, opts: FilesystemReadOpts & { format: 'blob' }): Promise<Blob>
  /** Streamed as it arrives; never held whole. */
  read(path: string, opts: FilesystemReadOpts & { format: 'stream' }): Promise<ReadableStream<Uint8Array>>
  /** Writes one file, creating parent directories; an existing file is replaced. */
  write(path: string, data: WriteData, opts?: FilesystemWriteOpts): Promise<WriteInfo>
  /** Writes several files in one go. */
  write(files: WriteEntry[], opts?: FilesystemWriteOpts): Promise<WriteInfo[]>
  writeFiles(files: WriteEntry[], opts?: FilesystemWriteOpts): Promise<WriteInfo[]>
  list(path: string, opts?: FilesystemListOpts): Promise<EntryInfo[]>
  exists(path: string, opts?: FilesystemOpts): Promise<boolean>
  getInfo(path: string, opts?: FilesystemOpts): Promise<EntryInfo>
  /** Removes a file, or a directory with everything in it. */
  remove(path: string, opts?: FilesystemOpts): Promise<void>
  rename(oldPath: string, newPath: string, opts?: FilesystemOpts): Promise<EntryInfo>
  /** Creates a directory and its parents: `false` if it already existed. */
  makeDir(path: string, opts?: FilesystemOpts): Promise<boolean>
  watchDir(path: string, onEvent: (event: FilesystemEvent) => void | Promise<void>, opts?: WatchOpts): Promise<WatchHandle>
}

export default Sandbox

export interface PtyCreateOpts {
  /** Columns, a whole number from 1 to 65535. */
  cols: number
  /** Rows, a whole number from 1 to 65535. */
  rows: number
  /** Called with each piece of the terminal's output, as it comes (raw bytes, for a terminal emulator). */
  onData: (data: Uint8Array) => void | Promise<void>
  /** How long the terminal may live; default 60 000, 0 for no limit. */
  timeoutMs?: number
  /** `user` (default) or `root`. */
  user?: string
  /** Variables for this terminal, over the sandbox's; `TERM`, `LANG` and `LC_ALL` default to `xterm-256color`, `C.UTF-8`, `C.UTF-8`. */
  envs?: Record<string, string>
  /** Working directory; default the user's home. */
  cwd?: string
  /** The limit on starting it (until its first event), as the connection's `requestTimeoutMs` (0 for none); default the sandbox's. */
  requestTimeoutMs?: number
}

export interface PtyConnectOpts {
  onData?: (data: Uint8Array) => void | Promise<void>
  timeoutMs?: number
}

/** `sandbox.pty`: a login shell (`bash -i -l`) on a pseudo-terminal. */
export declare class Pty {
  /** Starts a terminal; its handle's `wait()` ends when the shell exits. */
  create(opts: PtyCreateOpts): Promise<CommandHandle>
  /** Attaches to a running terminal; `onData` gets its output from then on. */
  connect(pid: number, opts?: PtyConnectOpts): Promise<CommandHandle>
  /** Types into the terminal: `\r` is Enter, `\x03` Ctrl-C, `\x04` Ctrl-D. */
  sendInput(pid: number, data: Uint8Array): Promise<void>
  /** Changes the terminal's size; the programs in it get SIGWINCH. */
  resize(pid: number, size: { cols: number; rows: number }): Promise<void>
  /** SIGKILL: `false` if there was no such process. */
  kill(pid: number): Promise<boolean>
}

/** What a filesystem entry is, as the `e2b` package's `FileType` enum has it. */
export declare const FileType: { readonly FILE: 'file'; readonly DIR: 'dir'; readonly SYMLINK: 'symlink' }
export type FileType = (typeof FileType)[keyof typeof FileType]

/** What happened to a watched path, as the `e2b` package's `FilesystemEventType` enum has it. */
export declare const FilesystemEventType: {
  readonly CHMOD: 'chmod'
  readonly CREATE: 'create'
  readonly REMOVE: 'remove'
  readonly RENAME: 'rename'
  readonly WRITE: 'write'
}
export type FilesystemEventType = (typeof FilesystemEventType)[keyof typeof FilesystemEventType]

export declare namespace ConnectionConfig {
  /** The port of the in-sandbox daemon. */
  const envdPort: 49983
}
