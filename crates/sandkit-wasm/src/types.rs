//! The TypeScript shapes of the options and results, written out by hand (the options are read
//! by the core, `sandkit::js_options`, or field by field in `convert.rs`): the same interfaces
//! and names as the public `index.d.ts`, which `tests/types/wasm-matches-node.ts` checks.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Connection options of the calls that act on one sandbox. */
export interface SandboxApiOpts {
  /** Default `E2B_API_KEY` where the runtime has a `process.env` (not in browsers). */
  apiKey?: string;
  /** Default `https://api.<domain>`. */
  apiUrl?: string;
  sandboxUrl?: string;
  /** Default `e2b.app`. */
  domain?: string;
  debug?: boolean;
  /** Time for one whole call, retries included; 0 disables it. Default 60 000. */
  requestTimeoutMs?: number;
  /**
   * How many times a call that may be repeated (not a create the server may have acted on)
   * is sent again after a 429, a 502-504 or a broken connection; default 3, at most 100.
   * `requestTimeoutMs` bounds them.
   */
  retries?: number;
  /** Allow an API key in a browser, where any visitor can read it. */
  dangerouslyAllowBrowser?: boolean;
}

/**
 * What a browser needs to reach one sandbox without the API key (`sandbox.toHandle()`,
 * `Sandbox.fromHandle(handle)`). A secret of that sandbox: whoever holds it controls the
 * sandbox's processes and files.
 */
export interface SandboxHandle {
  sandboxId?: string;
  domain?: string;
  envdVersion?: string;
  envdAccessToken?: string;
  trafficAccessToken?: string;
}

/**
 * Where a request for a port of the sandbox goes, and the headers it must carry (used by
 * `sandbox.fetch`).
 */
export interface PublicRequest {
  url: string;
  headers: Record<string, string>;
}

/** What happens when the sandbox's time runs out. */
/** Where a sandbox's daemon is: its domain and port. */
export interface SandboxUrlOpts {
  sandboxDomain?: string;
  /** Default 49983. */
  envdPort?: number;
}

/** The object form of `lifecycle.onTimeout`. */
export interface SandboxOnTimeout {
  /** `'pause'` or `'kill'`. */
  action?: 'pause' | 'kill';
  /** With `'pause'`: keep the memory (the default) or only the filesystem. */
  keepMemory?: boolean;
}

export interface SandboxLifecycle {
  /** `'kill'` (default) or `'pause'`, or `{ action, keepMemory }`. */
  onTimeout?: 'pause' | 'kill' | SandboxOnTimeout;
  /** Resume a paused sandbox on incoming traffic (needs `onTimeout: 'pause'`). */
  autoResume?: boolean;
}

/** Options of `Sandbox.create`; the connection fields also apply to every other call. */
export interface SandboxOpts extends SandboxApiOpts {
  /** Template id or alias; default `base`. */
  template?: string;
  /** Sandbox lifetime; default 300 000. */
  timeoutMs?: number;
  metadata?: Record<string, string>;
  /** Environment variables every command in the sandbox sees. */
  envs?: Record<string, string>;
  allowInternetAccess?: boolean;
  /** Who may reach the sandbox's ports, and what it may reach. */
  network?: SandboxNetworkOpts;
  secure?: boolean;
  lifecycle?: SandboxLifecycle;
  /** `betaCreate`'s spelling of `lifecycle.onTimeout`: `true` is `'pause'`. */
  autoPause?: boolean;
}

/** `network` of `Sandbox.create`. */
export interface SandboxNetworkOpts {
  /**
   * Addresses, CIDRs or domains (`*.example.com`) the sandbox may reach; they win over
   * `denyOut`. Or a callback given `{ allTraffic, rules }` that returns them.
   */
  allowOut?: SandboxNetworkSelector;
  /** Addresses or CIDRs the sandbox may not reach (`ALL_TRAFFIC` for all), or a callback. */
  denyOut?: SandboxNetworkSelector;
  /** Per-host transforms of outbound requests (headers set), as an object or a `Map`. */
  rules?: SandboxNetworkRules;
  /** A SOCKS5 proxy the sandbox's outbound TCP goes through. */
  egressProxy?: SandboxEgressProxyOpts;
  /** `false`: requests to the sandbox's ports need its `trafficAccessToken`. Default true. */
  allowPublicTraffic?: boolean;
  /** The `Host` the sandbox's servers see, e.g. `localhost:${PORT}`. */
  maskRequestHost?: string;
  /** Ports whose servers speak HTTPS (the proxy connects to them with TLS). */
  httpsPorts?: Array<number>;
}

/**
 * What `updateNetwork` takes: the whole egress configuration, which replaces the sandbox's
 * (a field left out is cleared).
 */
export interface SandboxNetworkUpdate {
  allowOut?: SandboxNetworkSelector;
  denyOut?: SandboxNetworkSelector;
  rules?: SandboxNetworkRules;
  egressProxy?: SandboxEgressProxyOpts;
  /** `false` is the same as `denyOut: [ALL_TRAFFIC]`. */
  allowInternetAccess?: boolean;
}

/** `getInfo().network`: the settings as the official SDK maps them. */
export interface SandboxNetworkInfo {
  allowOut?: Array<string>;
  denyOut?: Array<string>;
  rules?: Record<string, SandboxNetworkRuleInfo[]>;
  /** The proxy the sandbox's egress goes through; never with its password. */
  egressProxy?: SandboxEgressProxyInfo;
  allowPublicTraffic?: boolean;
  maskRequestHost?: string;
  httpsPorts?: Array<number>;
}

/** A rule of `getInfo().network.rules`. */
export interface SandboxNetworkRuleInfo {
  transform?: SandboxNetworkTransform;
}

/** What is done to a matching outbound request. */
export interface SandboxNetworkTransform {
  /** Headers set on the request, replacing any of the same name. */
  headers?: Record<string, string>;
}

/** `getInfo().network.egressProxy`: the API never returns the password. */
export interface SandboxEgressProxyInfo {
  address: string;
  username?: string;
}

// The callback and union forms js/wrap.mjs resolves (as in js/extra.d.ts).
export interface SandboxNetworkSelectorContext {
  allTraffic: string;
  rules: Map<string, SandboxNetworkRule[]>;
}
export type SandboxNetworkSelector = string[] | ((ctx: SandboxNetworkSelectorContext) => string[]);
export interface SandboxNetworkTransformContext {
  iam: { tokens: Record<string, string> };
}
export type SandboxNetworkTransformResolver = (ctx: SandboxNetworkTransformContext) => SandboxNetworkTransform;
export interface SandboxNetworkRule {
  transform?: SandboxNetworkTransform | SandboxNetworkTransformResolver;
}
export type SandboxNetworkRules = Record<string, SandboxNetworkRule[]> | Map<string, SandboxNetworkRule[]>;
export interface SandboxEgressProxyOpts {
  address: string;
  username?: string;
  password?: string;
}

/** Options of `Sandbox.pause(id, opts)` and `sandbox.pause(opts)`. */
export interface SandboxPauseOpts extends SandboxApiOpts {
  /** `false`: end the processes and keep only the files; the resume is a reboot. */
  keepMemory?: boolean;
}

/** Options of `Sandbox.createSnapshot(id, opts)` and `sandbox.createSnapshot(opts)`. */
export interface CreateSnapshotOpts extends SandboxApiOpts {
  /** A name to create sandboxes from (`name` or `name:default`); it moves to this snapshot from an older one of the same name. */
  name?: string;
}

/** Options of `Sandbox.listSnapshots(opts)` and `sandbox.listSnapshots(opts)`. */
export interface SnapshotListOpts extends SandboxApiOpts {
  /** Only the snapshots of this sandbox (the instance form lists its own). */
  sandboxId?: string;
  /** Only the snapshot this name or id names. */
  name?: string;
  /** Page size, 1 to 100 (default 100). */
  limit?: number;
  /** Start from this page. */
  nextToken?: string;
}

/** Options of `Sandbox.fork(id, opts)` and `sandbox.fork(opts)`. */
export interface SandboxForkOpts extends SandboxApiOpts {
  /** How many sandboxes to make from the one copy of the files (default 1). */
  count?: number;
  /** How long each fork lives (default 15 s, as E2B's API). */
  timeoutMs?: number;
}

/** A snapshot: its id (what sandboxes are created from) and its names. */
export interface SnapshotInfo {
  snapshotId: string;
  names: Array<string>;
}

/** Options of `Sandbox.connect` and `sandbox.connect`. */
export interface SandboxConnectOpts extends SandboxApiOpts {
  /** Extend the sandbox's life to at least this; default 300 000. */
  timeoutMs?: number;
  /**
   * How a paused sandbox comes back: where it stopped (`'restore'`, the default) or afresh
   * on its files (`'reboot'`).
   */
  onResume?: 'restore' | 'reboot';
}

/** Options of one execution, as `runCode` takes them. */
export interface CodeRunOpts {
  language?: string;
  contextId?: string;
  envs?: Record<string, string>;
  timeoutMs?: number;
  requestTimeoutMs?: number;
}

/** Options of `createCodeContext`. */
export interface CodeContextOpts {
  cwd?: string;
  language?: string;
  requestTimeoutMs?: number;
}

/** A code context. */
export interface CodeContext {
  id: string;
  language: string;
  cwd: string;
}

/**
 * One event of an execution: `stdout`/`stderr` (`text`), `result` (`raw`, the JSON of its
 * formats, and `isMainResult`), `error` (`name`, `value`, `traceback`) or
 * `number_of_executions` (`executionCount`).
 */
export interface CodeEvent {
  type: string;
  text?: string;
  raw?: string;
  isMainResult?: boolean;
  name?: string;
  value?: string;
  traceback?: string;
  executionCount?: number;
}

/** Options of `Sandbox.getMetrics(id, opts)` and `sandbox.getMetrics(opts)`. */
export interface SandboxMetricsOpts extends SandboxApiOpts {
  /** Samples taken at or after this time (rounded to the second). */
  start?: Date;
  /** Samples taken at or before this time (rounded to the second). */
  end?: Date;
}

/** One sample of a sandbox's CPU, memory and disk use. */
export interface SandboxMetrics {
  timestamp: Date;
  /** Of all its CPUs together, 0 to 100. */
  cpuUsedPct: number;
  cpuCount: number;
  /** Bytes. */
  memUsed: number;
  memTotal: number;
  memCache: number;
  diskUsed: number;
  diskTotal: number;
}

/** Filters of `Sandbox.list`. */
export interface SandboxQuery {
  /** `'running'`, `'paused'`, or both (the default). */
  state?: Array<'running' | 'paused'>;
  /** Only sandboxes with all of these pairs (case-sensitive). */
  metadata?: Record<string, string>;
  /** Only sandboxes started at or after this time. */
  startedAfter?: Date;
  /** Only sandboxes of this template (id or name). */
  template?: string;
}

/** Options of `Sandbox.list`. */
export interface SandboxListOpts extends SandboxApiOpts {
  query?: SandboxQuery;
  /** Page size, 1 to 100 (default 100). */
  limit?: number;
  /** Start from this page. */
  nextToken?: string;
  /** `'asc'` or `'desc'` (default) by start time. */
  order?: 'asc' | 'desc';
}

/** What happens when the sandbox's time runs out. */
export interface SandboxInfoLifecycle {
  onTimeout: string;
  autoResume: boolean;
}

/** Options of a process start (`sandbox.commandsSpawn`). */
export interface ProcessStartOpts {
  envs?: Record<string, string>;
  cwd?: string;
  user?: string;
  /** 0 for no limit; default 60 000. */
  timeoutMs?: number;
  stdin?: boolean;
  tag?: string;
  /** This call's request timeout (0 for none); default the sandbox's. */
  requestTimeoutMs?: number;
}

/** One piece of output. */
export interface ProcessOutput {
  /** `stdout`, `stderr` or `pty`. */
  stream: string;
  /** Text for `stdout` and `stderr` (decoded across pieces), bytes for `pty`. */
  data: string | Uint8Array;
}

/** How a process ended (a non-zero exit is thrown as `CommandExitError` instead). */
export interface ProcessResult {
  exitCode: number;
  error?: string;
  stdout: string;
  stderr: string;
}

/** A running process, as listed. */
export interface ProcessListing {
  pid: number;
  tag?: string;
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd?: string;
}

/** Options of the filesystem calls. */
export interface FilesOpts {
  user?: string;
  /** This call's request timeout (0 for none); default the sandbox's. */
  requestTimeoutMs?: number;
  /** `list` only: how many levels down (default 1). */
  depth?: number;
}

/** Options of writes. */
export interface FilesWriteOpts {
  user?: string;
  /** This call's request timeout (0 for none); default the sandbox's. */
  requestTimeoutMs?: number;
  metadata?: Record<string, string>;
}

/** Options of `watchDir`. */
export interface FilesWatchOpts {
  user?: string;
  recursive?: boolean;
  includeEntry?: boolean;
  /** 0 for no limit; default 60 000. */
  timeoutMs?: number;
  /** This call's request timeout (0 for none); default the sandbox's. */
  requestTimeoutMs?: number;
}

/** Options of `uploadUrl` / `downloadUrl`. */
export interface FileUrlOpts {
  user?: string;
  /** Seconds the signature stays valid. */
  useSignatureExpiration?: number;
}

/** One file of a many-file write. */
export interface FilesWriteEntry {
  path: string;
  data: string | Uint8Array;
}

/** A file, directory or symlink. */
export interface EntryInfo {
  name: string;
  /** `file`, `dir` or `symlink`. */
  type?: string;
  path: string;
  size: number;
  mode: number;
  permissions: string;
  owner: string;
  group: string;
  modifiedTime?: Date;
  /** Present (and `undefined`) when there is none, as in the `e2b` package. */
  symlinkTarget: string | undefined;
  metadata: Record<string, string> | undefined;
}

/** A written file. */
export interface WriteInfo {
  name: string;
  type?: string;
  path: string;
  /** Present (and `undefined`) when there is none, as in the `e2b` package. */
  metadata: Record<string, string> | undefined;
}

/** A change under a watched directory. */
export interface FilesystemEvent {
  name: string;
  /** `create`, `write`, `remove`, `rename` or `chmod`. */
  type: string;
  entry?: EntryInfo;
}

/** A sandbox as listed or looked up. */
export interface SandboxInfo {
  sandboxId: string;
  templateId: string;
  /** The template alias. */
  name?: string;
  metadata: Record<string, string>;
  startedAt: Date;
  endAt: Date;
  /** `'running'` or `'paused'`. */
  state: string;
  cpuCount: number;
  memoryMB: number;
  envdVersion: string;
  sandboxDomain?: string;
  allowInternetAccess?: boolean;
  /** Only from `getInfo`: the network settings. */
  network?: SandboxNetworkInfo;
  lifecycle?: SandboxInfoLifecycle;
}
"#;
