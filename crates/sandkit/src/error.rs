//! Typed errors. Each kind has a stable `code` and the name of the JavaScript class it becomes,
//! so the bindings only copy fields across.

use std::fmt;

/// What went wrong, coarse enough to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No API key, or one the server refused (HTTP 401).
    Authentication,
    /// The sandbox does not exist, was killed, or belongs to another team.
    SandboxNotFound,
    /// Something other than a sandbox was not found.
    NotFound,
    /// A file or directory in the sandbox was not found.
    FileNotFound,
    /// The sandbox's disk is full.
    NotEnoughSpace,
    /// A command ended with a non-zero exit code; [`Error::command`] has its output.
    CommandExit,
    /// Too many requests (HTTP 429), after the retries allowed.
    RateLimit,
    /// The service said it is busy (HTTP 503).
    ServiceBusy,
    /// The request or the operation ran out of time.
    Timeout,
    /// The caller passed something unusable; nothing was sent.
    InvalidArgument,
    /// The server could not be reached or the connection broke.
    Connection,
    /// Any other failure the server reported, with its HTTP status.
    Sandbox,
}

impl ErrorKind {
    /// A stable machine-readable code, the same in every runtime.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::SandboxNotFound => "sandbox_not_found",
            ErrorKind::NotFound => "not_found",
            ErrorKind::FileNotFound => "file_not_found",
            ErrorKind::NotEnoughSpace => "not_enough_space",
            ErrorKind::CommandExit => "command_exit",
            ErrorKind::RateLimit => "rate_limited",
            ErrorKind::ServiceBusy => "service_busy",
            ErrorKind::Timeout => "timeout",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Connection => "connection_error",
            ErrorKind::Sandbox => "sandbox_error",
        }
    }

    /// The JavaScript error class this kind becomes (the names of the `e2b` package).
    pub fn class_name(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "AuthenticationError",
            ErrorKind::SandboxNotFound => "SandboxNotFoundError",
            ErrorKind::NotFound => "NotFoundError",
            ErrorKind::FileNotFound => "FileNotFoundError",
            ErrorKind::NotEnoughSpace => "NotEnoughSpaceError",
            ErrorKind::CommandExit => "CommandExitError",
            ErrorKind::RateLimit => "RateLimitError",
            ErrorKind::ServiceBusy => "ServiceBusyError",
            ErrorKind::Timeout => "TimeoutError",
            ErrorKind::InvalidArgument => "InvalidArgumentError",
            ErrorKind::Connection | ErrorKind::Sandbox => "SandboxError",
        }
    }
}

/// How a command ended, carried by a [`ErrorKind::CommandExit`] error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    pub exit_code: i32,
    /// `exit status 3`, `signal: killed`.
    pub error: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

/// The one error type of the SDK.
///
/// Boxed: a `Result` then carries one pointer for its error, which every `?` moves. (On wasm
/// the copies of a four-field error at each of them add up to kilobytes.)
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    message: String,
    status_code: Option<u16>,
    command: Option<CommandOutcome>,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .field("status_code", &self.0.status_code)
            .field("command", &self.0.command)
            .finish()
    }
}

/// What a caller is told of a panic: that it is a bug, and the panic's message when it has a
/// text one (`panic!` with a literal or a format gives `&str` or `String`).
pub fn panic_text(payload: Option<&(dyn std::any::Any + Send)>) -> String {
    let said = payload.and_then(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
    });
    match said {
        Some(m) => format!("internal error in sandkit (a bug): {m}"),
        None => "internal error in sandkit (a bug)".to_string(),
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error::from_parts(kind, message.into(), None)
    }

    fn from_parts(kind: ErrorKind, message: String, command: Option<CommandOutcome>) -> Self {
        Error(Box::new(Inner {
            kind,
            message,
            status_code: None,
            command,
        }))
    }

    /// A command's non-zero exit, as the official SDK words it (the message is `error`).
    pub fn command_exit(outcome: CommandOutcome) -> Self {
        let message = outcome
            .error
            .clone()
            .unwrap_or_else(|| format!("exit status {}", outcome.exit_code));
        Error::from_parts(ErrorKind::CommandExit, message, Some(outcome))
    }

    /// The output of the command, for a [`ErrorKind::CommandExit`] error.
    pub fn command(&self) -> Option<&CommandOutcome> {
        self.0.command.as_ref()
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.0.status_code = Some(status);
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// A panic caught at a binding's edge, as the error the caller gets: a bug in sandkit,
    /// with the panic's own words (`payload` as `catch_unwind` gives it).
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        Error::new(ErrorKind::Sandbox, panic_text(Some(payload)))
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    pub fn code(&self) -> &'static str {
        self.0.kind.code()
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The HTTP status that caused this error, when there was one.
    pub fn status_code(&self) -> Option<u16> {
        self.0.status_code
    }

    /// This error with each of `secrets` cut out of its message. A server, or a proxy in
    /// front of it, may echo the request's headers in an error body, and the SDK puts that
    /// body's message in its error: the API key or an access token sent with the request
    /// would then travel on in the error (into logs, error reports, a page). Secrets shorter
    /// than [`MIN_REDACTED_LEN`] are left alone, so that a stray short key cannot garble
    /// every message.
    pub fn redacted<'a>(mut self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        for secret in secrets {
            if secret.len() < MIN_REDACTED_LEN {
                continue;
            }
            // `get`, not `[]`: a match starts and ends on char boundaries, and slicing with
            // `[]` would bring its panic (and `char`'s Debug formatting) into wasm.
            let mut out = String::new();
            let mut rest = self.0.message.as_str();
            let mut found = false;
            while let Some(at) = find(rest, secret) {
                out.push_str(rest.get(..at).unwrap_or_default());
                out.push_str(REDACTED);
                rest = rest.get(at + secret.len()..).unwrap_or_default();
                found = true;
            }
            if found {
                out.push_str(rest);
                self.0.message = out;
            }
        }
        self
    }
}

/// Where `needle` first occurs in `haystack` (an empty one at 0, as `str::find` has it). A
/// plain scan instead of `str::find` with a `&str` pattern, whose two-way searcher is 2.4 KB
/// of wasm for the few short messages searched. A match of a whole `str` starts and ends on
/// char boundaries.
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// What stands in an error message where a secret was ([`Error::redacted`]).
pub const REDACTED: &str = "[redacted]";
/// The shortest secret [`Error::redacted`] cuts out.
pub const MIN_REDACTED_LEN: usize = 6;

/// Headers whose values are secrets: the API key, a sandbox's access token, its traffic
/// token. Their values are cut out of the errors of the request that carried them.
pub(crate) const SECRET_HEADERS: [&str; 3] =
    ["x-api-key", "x-access-token", "e2b-traffic-access-token"];

/// The values of `headers` that are secrets ([`SECRET_HEADERS`]).
pub(crate) fn secret_values(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| SECRET_HEADERS.iter().any(|s| k.eq_ignore_ascii_case(s)))
        .map(|(_, v)| v.clone())
        .collect()
}

/// The prefix of an error message that carries a typed error across a binding boundary.
pub const BINDING_ERROR_PREFIX: &str = "SANDKIT_ERROR:";

impl Error {
    /// The message a binding throws: the prefix, then JSON with name, code, message and
    /// statusCode, which the JavaScript layer turns into the matching error class.
    pub fn to_binding_message(&self) -> String {
        let c = self.0.command.as_ref();
        let mut w = crate::json::Writer::new();
        w.begin_object();
        w.field_str("name", self.0.kind.class_name());
        w.field_str("code", self.code());
        w.field_str("message", &self.0.message);
        if let Some(status) = self.0.status_code {
            w.field_u64("statusCode", status.into());
        }
        w.field_opt_i64("exitCode", c.map(|c| c.exit_code.into()));
        w.field_opt_str("stdout", c.map(|c| c.stdout.as_str()));
        w.field_opt_str("stderr", c.map(|c| c.stderr.as_str()));
        w.field_opt_str("error", c.and_then(|c| c.error.as_deref()));
        w.end_object();
        let json = w.finish();
        format!("{BINDING_ERROR_PREFIX}{json}")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_agrees_with_str_find() {
        for (h, n) in [
            ("a: b", ": "),
            ("", "x"),
            ("abc", ""),
            ("", ""),
            ("ééx", "x"),
            ("ab", "abc"),
        ] {
            assert_eq!(find(h, n), h.find(n), "{h:?} {n:?}");
        }
    }

    #[test]
    fn binding_messages_are_json() {
        let e = Error::command_exit(CommandOutcome {
            exit_code: -3,
            error: Some("signal: \"killed\"".into()),
            stdout: "out\n".into(),
            stderr: "\u{1}".into(),
        });
        assert_eq!(
            e.to_binding_message(),
            r#"SANDKIT_ERROR:{"name":"CommandExitError","code":"command_exit","message":"signal: \"killed\"","exitCode":-3,"stdout":"out\n","stderr":"\u0001","error":"signal: \"killed\""}"#
        );
        let e = Error::new(ErrorKind::Timeout, "slow").with_status(504);
        assert_eq!(
            e.to_binding_message(),
            r#"SANDKIT_ERROR:{"name":"TimeoutError","code":"timeout","message":"slow","statusCode":504}"#
        );
    }

    #[test]
    fn secrets_are_cut_out_of_messages() {
        let e = Error::new(
            ErrorKind::Sandbox,
            "500: echo x-api-key: sk_key_1234 and tok_abcdef, sk_key_1234",
        )
        .with_status(500)
        .redacted(["sk_key_1234", "tok_abcdef", "short"]);
        assert_eq!(
            e.message(),
            "500: echo x-api-key: [redacted] and [redacted], [redacted]"
        );
        assert_eq!(e.status_code(), Some(500));
        // Too short to cut out: the message stays readable.
        let e = Error::new(ErrorKind::Sandbox, "a key k").redacted(["k"]);
        assert_eq!(e.message(), "a key k");
        let headers = vec![
            ("X-API-Key".to_string(), "key".to_string()),
            ("content-type".to_string(), "text/plain".to_string()),
            ("x-access-token".to_string(), "tok".to_string()),
            (
                "e2b-traffic-access-token".to_string(),
                "traffic".to_string(),
            ),
        ];
        assert_eq!(secret_values(&headers), ["key", "tok", "traffic"]);
    }
}
