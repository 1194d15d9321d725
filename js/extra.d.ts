// The hand-written part of the public types: what js/wrap.mjs adds to the bindings.

/** Every address: `allowOut`/`denyOut` entry meaning all traffic. */
export declare const ALL_TRAFFIC: '0.0.0.0/0'

export interface SandboxPaginator {
  /** Every sandbox of every remaining page, fetched page by page. */
  [Symbol.asyncIterator](): AsyncGenerator<SandboxInfo, void, undefined>
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

export default Sandbox
