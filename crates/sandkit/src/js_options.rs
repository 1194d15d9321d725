//! The options objects of the calls (create, connect, list, getMetrics, pause, the calls that
//! take only connection fields, commands, files, terminals, runCode, handles and signatures)
//! as a binding hands them over: one [`JsAny`], read from the caller's object as it is. Which
//! fields each object has, the JavaScript type each must be, the path a message names and
//! every check live here, so the napi and wasm bindings only convert the value and refuse the
//! same inputs in the same words. The calls' positional arguments (`path`, `sandboxId`, `pid`,
//! a many-file write's entries) are read here the same way.

use crate::options::from_js::{self, JsAny};
use crate::{ConnectOpts, ConnectionOpts, Error, ListOpts, MetricsOpts, Result, SandboxOpts};
use crate::{StringMap, Timestamp};

/// An options object being read: its members, and its path for messages (`''` at the top,
/// whose fields messages name bare, as `timeoutMs`).
pub struct Fields<'a> {
    members: &'a [(String, JsAny)],
    path: String,
}

impl<'a> Fields<'a> {
    /// The options argument `what` (`opts`): an object, or `undefined`/`null` for defaults.
    pub fn of(value: &'a JsAny, what: &str) -> Result<Fields<'a>> {
        Fields::at(value, String::new(), what)
    }

    fn at(value: &'a JsAny, path: String, what: &str) -> Result<Fields<'a>> {
        match value {
            JsAny::Undefined | JsAny::Null => Ok(Fields { members: &[], path }),
            JsAny::Object(members) => Ok(Fields { members, path }),
            other => Err(from_js::wrong(what, "an object", other)),
        }
    }

    /// The field's path in messages: `timeoutMs`, `lifecycle.autoResume`, `metadata["a b"]`.
    fn path_of(&self, key: &str) -> String {
        from_js::field_path(&self.path, key)
    }

    /// Whether the object has the key, whatever its value (`key in opts`).
    pub fn has(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// The field's value; `None` when absent, `undefined` or `null`. The last of a repeated
    /// key wins, as it does in a JavaScript object literal.
    fn get(&self, key: &str) -> Option<&'a JsAny> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .filter(|v| !matches!(v, JsAny::Undefined | JsAny::Null))
    }

    /// A field that must be of one JavaScript type: `pick` takes it out, `expected` names
    /// the type in the message otherwise.
    fn typed<T>(
        &self,
        key: &str,
        expected: &str,
        pick: impl FnOnce(&'a JsAny) -> Option<T>,
    ) -> Result<Option<T>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match pick(v) {
            Some(t) => Ok(Some(t)),
            None => Err(from_js::wrong(&self.path_of(key), expected, v)),
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        self.typed(key, "a string", |v| match v {
            JsAny::String(s) => Some(s.clone()),
            _ => None,
        })
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a boolean", |v| match v {
            JsAny::Bool(b) => Some(*b),
            _ => None,
        })
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a number", |v| match v {
            JsAny::Number(n) => Some(*n),
            _ => None,
        })
    }

    /// A `Date`, as unix milliseconds; an invalid date is refused.
    pub fn date_millis(&self, key: &str) -> Result<Option<i64>> {
        let Some(ms) = self.typed(key, "a Date", |v| match v {
            JsAny::Date(ms) => Some(*ms),
            _ => None,
        })?
        else {
            return Ok(None);
        };
        if !ms.is_finite() {
            return Err(Error::invalid_argument(format!(
                "{} must be a valid Date",
                self.path_of(key)
            )));
        }
        Ok(Some(ms as i64))
    }

    /// A nested options object; `None` when absent.
    pub fn object(&self, key: &str) -> Result<Option<Fields<'a>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let path = self.path_of(key);
        Fields::at(v, path.clone(), &path).map(Some)
    }

    /// A `Record<string, string>`.
    pub fn string_map(&self, key: &str) -> Result<Option<StringMap>> {
        let Some(map) = self.object(key)? else {
            return Ok(None);
        };
        let mut out = StringMap::new();
        for (k, v) in map.members {
            match v {
                JsAny::String(s) => {
                    out.insert(k.clone(), s.clone());
                }
                other => return Err(from_js::wrong(&map.path_of(k), "a string", other)),
            }
        }
        Ok(Some(out))
    }

    /// An array whose items `pick` takes out, `expected` naming an item's type.
    fn list<T>(
        &self,
        key: &str,
        expected: (&str, &str),
        pick: impl Fn(&JsAny) -> Option<T>,
    ) -> Result<Option<Vec<T>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let path = self.path_of(key);
        let JsAny::Array(items) = v else {
            return Err(from_js::wrong(&path, expected.0, v));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match pick(item) {
                Some(t) => out.push(t),
                None => return Err(from_js::wrong(&format!("{path}[{i}]"), expected.1, item)),
            }
        }
        Ok(Some(out))
    }

    /// A `string[]`.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.list(key, ("an array of strings", "a string"), |v| match v {
            JsAny::String(s) => Some(s.clone()),
            _ => None,
        })
    }

    /// A `number[]`.
    pub fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>> {
        self.list(key, ("an array of numbers", "a number"), |v| match v {
            JsAny::Number(n) => Some(*n),
            _ => None,
        })
    }

    /// A field as it is, for the options whose shape `from_js` checks.
    pub fn any(&self, key: &str) -> Option<JsAny> {
        self.get(key).cloned()
    }
}

/// The connection fields every options object shares.
pub fn connection(o: &Fields<'_>) -> Result<ConnectionOpts> {
    from_js::connection(from_js::ConnectionGiven {
        api_key: o.string("apiKey")?,
        api_url: o.string("apiUrl")?,
        sandbox_url: o.string("sandboxUrl")?,
        domain: o.string("domain")?,
        debug: o.bool("debug")?,
        request_timeout_ms: o.number("requestTimeoutMs")?,
        retries: o.number("retries")?,
        dangerously_allow_browser: o.bool("dangerouslyAllowBrowser")?,
    })
}

/// `SandboxApiOpts` (kill, getInfo, setTimeout, updateNetwork, `ConnectionConfig`, …):
/// connection fields only.
pub fn api_opts(opts: &JsAny) -> Result<ConnectionOpts> {
    connection(&Fields::of(opts, "opts")?)
}

/// `SandboxPauseOpts`: the connection and `keepMemory`.
pub fn pause_opts(opts: &JsAny) -> Result<(ConnectionOpts, Option<bool>)> {
    let o = Fields::of(opts, "opts")?;
    Ok((connection(&o)?, o.bool("keepMemory")?))
}

/// `CreateSnapshotOpts`: the connection and `name`.
pub fn snapshot_opts(opts: &JsAny) -> Result<(ConnectionOpts, Option<String>)> {
    let o = Fields::of(opts, "opts")?;
    Ok((connection(&o)?, o.string("name")?))
}

/// `SnapshotListOpts`.
pub fn snapshot_list_opts(opts: &JsAny) -> Result<crate::snapshots::SnapshotListOpts> {
    let o = Fields::of(opts, "opts")?;
    Ok(crate::snapshots::SnapshotListOpts {
        sandbox_id: o.string("sandboxId")?,
        name: o.string("name")?,
        limit: o.number("limit")?.map(from_js::list_limit).transpose()?,
        next_token: o.string("nextToken")?,
        connection: connection(&o)?,
    })
}

/// `SandboxForkOpts`: `count` and `timeoutMs`, and the connection.
pub fn fork_opts(opts: &JsAny) -> Result<crate::snapshots::ForkOpts> {
    let o = Fields::of(opts, "opts")?;
    Ok(crate::snapshots::ForkOpts {
        count: o.number("count")?.map(from_js::fork_count).transpose()?,
        timeout: from_js::millis("timeoutMs", o.number("timeoutMs")?)?,
        connection: connection(&o)?,
    })
}

/// `SandboxConnectOpts`.
pub fn connect_opts(opts: &JsAny) -> Result<ConnectOpts> {
    let o = Fields::of(opts, "opts")?;
    Ok(ConnectOpts {
        timeout: from_js::millis("timeoutMs", o.number("timeoutMs")?)?,
        on_resume: from_js::on_resume(o.string("onResume")?.as_deref())?,
        connection: connection(&o)?,
    })
}

/// `SandboxMetricsOpts`.
pub fn metrics_opts(opts: &JsAny) -> Result<MetricsOpts> {
    let o = Fields::of(opts, "opts")?;
    let stamp = |ms: Option<i64>| ms.map(Timestamp::from_unix_millis);
    Ok(MetricsOpts {
        start: stamp(o.date_millis("start")?),
        end: stamp(o.date_millis("end")?),
        connection: connection(&o)?,
    })
}

/// `SandboxListOpts`.
pub fn list_opts(opts: &JsAny) -> Result<ListOpts> {
    let o = Fields::of(opts, "opts")?;
    let query = o.object("query")?;
    let query = query.as_ref();
    Ok(ListOpts {
        state: match query.map(|q| q.strings("state")).transpose()?.flatten() {
            Some(states) => Some(from_js::states(&states)?),
            None => None,
        },
        metadata: query
            .map(|q| q.string_map("metadata"))
            .transpose()?
            .flatten(),
        limit: o.number("limit")?.map(from_js::list_limit).transpose()?,
        next_token: o.string("nextToken")?,
        order: o
            .string("order")?
            .as_deref()
            .map(from_js::order)
            .transpose()?,
        template: query.map(|q| q.string("template")).transpose()?.flatten(),
        started_after_ms: query
            .map(|q| q.date_millis("startedAfter"))
            .transpose()?
            .flatten(),
        connection: connection(&o)?,
    })
}

/// `SandboxOpts`, the argument `what` (`opts`, or `templateOrOpts` when the options come
/// first); `template` (given positionally) wins over `opts.template`.
/// Options of the official SDK's create that sandkit does not carry out, and why: refused, so
/// that no sandbox is made without what was asked of it.
const UNSERVED_CREATE_OPTIONS: &[(&str, &str)] = &[
    ("mcp", "sandkit has no MCP gateway"),
    ("volumeMounts", "sandkit has no volumes"),
];

pub fn create_opts(template: Option<String>, opts: &JsAny, what: &str) -> Result<SandboxOpts> {
    let o = Fields::of(opts, what)?;
    for (key, why) in UNSERVED_CREATE_OPTIONS {
        let empty = matches!(o.get(key), Some(JsAny::Array(items)) if items.is_empty());
        if o.get(key).is_some() && !empty {
            return Err(Error::invalid_argument(format!(
                "{key} is not supported: {why}"
            )));
        }
    }
    let lifecycle = o.object("lifecycle")?;
    let lifecycle = lifecycle.as_ref();
    let given = lifecycle.map(read_on_timeout).transpose()?.flatten();
    let (on_timeout, keep_memory) = from_js::lifecycle(
        o.bool("autoPause")?,
        given.as_ref().map(OnTimeoutRead::given),
    )?;
    Ok(SandboxOpts {
        template: match template {
            Some(t) => Some(t),
            None => o.string("template")?,
        },
        timeout: from_js::millis("timeoutMs", o.number("timeoutMs")?)?,
        metadata: o.string_map("metadata")?,
        envs: o.string_map("envs")?,
        allow_internet_access: o.bool("allowInternetAccess")?,
        network: o.object("network")?.map(|n| network(&n)).transpose()?,
        on_timeout,
        keep_memory,
        auto_resume: lifecycle
            .map(|l| l.bool("autoResume"))
            .transpose()?
            .flatten(),
        secure: o.bool("secure")?,
        connection: connection(&o)?,
    })
}

/// `lifecycle.onTimeout` as given: an action, or `{ action, keepMemory }`.
enum OnTimeoutRead {
    Action(String),
    Object {
        action: Option<String>,
        /// `Some` when the key is there (`'keepMemory' in onTimeout`).
        keep_memory: Option<Option<bool>>,
    },
}

impl OnTimeoutRead {
    fn given(&self) -> from_js::OnTimeoutGiven<'_> {
        match self {
            OnTimeoutRead::Action(a) => from_js::OnTimeoutGiven::Action(a),
            OnTimeoutRead::Object {
                action,
                keep_memory,
            } => from_js::OnTimeoutGiven::Object {
                action: action.as_deref(),
                keep_memory: *keep_memory,
            },
        }
    }
}

fn read_on_timeout(lifecycle: &Fields<'_>) -> Result<Option<OnTimeoutRead>> {
    if let Some(action) = lifecycle.get("onTimeout").and_then(|v| match v {
        JsAny::String(s) => Some(s),
        _ => None,
    }) {
        return Ok(Some(OnTimeoutRead::Action(action.clone())));
    }
    let Some(t) = lifecycle.object("onTimeout")? else {
        return Ok(None);
    };
    let keep_memory = if t.has("keepMemory") {
        Some(t.bool("keepMemory")?)
    } else {
        None
    };
    Ok(Some(OnTimeoutRead::Object {
        action: t.string("action")?,
        keep_memory,
    }))
}

/// `network` of a create.
fn network(n: &Fields<'_>) -> Result<crate::NetworkConfig> {
    from_js::network(from_js::NetworkGiven {
        allow_public_traffic: n.bool("allowPublicTraffic")?,
        mask_request_host: n.string("maskRequestHost")?,
        https_ports: n.numbers("httpsPorts")?,
        allow_out: n.strings("allowOut")?,
        deny_out: n.strings("denyOut")?,
        rules: n.any("rules"),
        egress_proxy: n.any("egressProxy"),
        allow_internet_access: None,
    })
}

/// A call's own `requestTimeoutMs`, in the options of filesystem, command and terminal
/// calls (as the official SDK takes it there).
fn call_timeout(o: &Fields<'_>) -> Result<Option<u64>> {
    from_js::whole_millis("requestTimeoutMs", o.number("requestTimeoutMs")?)
}

/// `ProcessStartOpts`, the options of a command's start.
pub fn run_opts(opts: &JsAny) -> Result<crate::commands::RunOpts> {
    let o = Fields::of(opts, "opts")?;
    Ok(crate::commands::RunOpts {
        envs: o.string_map("envs")?.unwrap_or_default(),
        cwd: o.string("cwd")?,
        user: o.string("user")?,
        timeout: from_js::millis("timeoutMs", o.number("timeoutMs")?)?,
        stdin: o.bool("stdin")?.unwrap_or(false),
        tag: o.string("tag")?,
        request_timeout_ms: call_timeout(&o)?,
    })
}

/// A positional argument that must be a string (`path`, `cmd`, `sandboxId`, …), as the
/// binding converted it; `name` names it in the message.
pub fn string_arg(value: JsAny, name: &str) -> Result<String> {
    match value {
        JsAny::String(s) => Ok(s),
        other => Err(from_js::wrong(name, "a string", &other)),
    }
}

/// A positional string that may be left out (`undefined` or `null`).
pub fn opt_string_arg(value: JsAny, name: &str) -> Result<Option<String>> {
    match value {
        JsAny::Undefined | JsAny::Null => Ok(None),
        other => string_arg(other, name).map(Some),
    }
}

/// A positional argument that must be a number (`pid`, `port`, `timeoutMs`); what range it
/// must lie in, the call's own reader checks.
pub fn number_arg(value: &JsAny, name: &str) -> Result<f64> {
    match value {
        JsAny::Number(n) => Ok(*n),
        other => Err(from_js::wrong(name, "a number", other)),
    }
}

/// A positional number that may be left out (`undefined` or `null`).
pub fn opt_number_arg(value: &JsAny, name: &str) -> Result<Option<f64>> {
    match value {
        JsAny::Undefined | JsAny::Null => Ok(None),
        other => number_arg(other, name).map(Some),
    }
}

/// A `pid` argument: a process id.
pub fn pid_arg(value: &JsAny) -> Result<u32> {
    from_js::pid(number_arg(value, "pid")?)
}

/// A `port` argument: a port number.
pub fn port_arg(value: &JsAny) -> Result<u16> {
    from_js::port(number_arg(value, "port")?)
}

/// A `timeoutMs` argument: a non-negative number of milliseconds.
pub fn timeout_arg(value: &JsAny) -> Result<std::time::Duration> {
    crate::duration_from_js_millis("timeoutMs", number_arg(value, "timeoutMs")?)
}

/// A `timeoutMs` argument that may be left out.
pub fn opt_timeout_arg(value: &JsAny) -> Result<Option<std::time::Duration>> {
    from_js::millis("timeoutMs", opt_number_arg(value, "timeoutMs")?)
}

/// The first argument of a many-file write, as a binding read it.
pub enum EntriesGiven {
    /// An array: each item's `path` as it is, and its `data` converted, or as it is when it is
    /// of no type a file can be written from.
    Items(Vec<(JsAny, std::result::Result<crate::files::FileData, JsAny>)>),
    /// Anything else, as it is.
    NotAnArray(JsAny),
}

/// The `{ path, data }` entries of a many-file write (`files.write([...])`).
pub fn write_entries(given: EntriesGiven) -> Result<Vec<crate::files::WriteEntry>> {
    let items = match given {
        EntriesGiven::Items(items) => items,
        EntriesGiven::NotAnArray(other) => {
            return Err(from_js::wrong(
                "files",
                "an array of { path, data }",
                &other,
            ));
        }
    };
    let mut entries = Vec::with_capacity(items.len());
    for (i, (path, data)) in items.into_iter().enumerate() {
        let path = string_arg(path, &format!("files[{i}].path"))?;
        let data = data.map_err(|other| {
            from_js::wrong(&format!("files[{i}].data"), "a string or bytes", &other)
        })?;
        entries.push(crate::files::WriteEntry { path, data });
    }
    Ok(entries)
}

/// `FilesOpts`: the user of a filesystem call, and the `depth` of a listing (1 when not
/// given).
pub fn files_opts(opts: &JsAny) -> Result<(crate::files::FsOpts, u32)> {
    let o = Fields::of(opts, "opts")?;
    let depth = o.number("depth")?.map(from_js::depth).transpose()?;
    Ok((
        crate::files::FsOpts {
            user: o.string("user")?,
            request_timeout_ms: call_timeout(&o)?,
        },
        depth.unwrap_or(1),
    ))
}

/// `FilesWriteOpts`.
pub fn write_opts(opts: &JsAny) -> Result<crate::files::WriteOpts> {
    let o = Fields::of(opts, "opts")?;
    Ok(crate::files::WriteOpts {
        user: o.string("user")?,
        request_timeout_ms: call_timeout(&o)?,
        metadata: o.string_map("metadata")?.unwrap_or_default(),
    })
}

/// `FilesWatchOpts`.
pub fn watch_opts(opts: &JsAny) -> Result<crate::files::WatchOpts> {
    let o = Fields::of(opts, "opts")?;
    Ok(crate::files::WatchOpts {
        user: o.string("user")?,
        recursive: o.bool("recursive")?.unwrap_or(false),
        include_entry: o.bool("includeEntry")?.unwrap_or(false),
        timeout: from_js::millis("timeoutMs", o.number("timeoutMs")?)?,
        request_timeout_ms: call_timeout(&o)?,
    })
}

/// `FileUrlOpts`, of `uploadUrl` and `downloadUrl`.
pub fn url_opts(opts: &JsAny) -> Result<crate::files::UrlOpts> {
    let o = Fields::of(opts, "opts")?;
    Ok(crate::files::UrlOpts {
        user: o.string("user")?,
        signature_expiration: from_js::seconds(
            "useSignatureExpiration",
            o.number("useSignatureExpiration")?,
        )?,
    })
}

/// `{ cols, rows }` of a terminal.
fn pty_size_of(o: &Fields<'_>) -> Result<crate::pty::PtySize> {
    crate::pty::PtySize::from_js(o.number("cols")?, o.number("rows")?)
}

/// `PtySizeOpts`, the argument `size` of a resize.
pub fn pty_size(size: &JsAny) -> Result<crate::pty::PtySize> {
    pty_size_of(&Fields::of(size, "size")?)
}

/// `PtyStartOpts`.
pub fn pty_opts(opts: &JsAny) -> Result<crate::pty::PtyOpts> {
    let o = Fields::of(opts, "opts")?;
    let mut pty = crate::pty::PtyOpts::new(pty_size_of(&o)?);
    pty.envs = o.string_map("envs")?.unwrap_or_default();
    pty.cwd = o.string("cwd")?;
    pty.user = o.string("user")?;
    pty.timeout = from_js::millis("timeoutMs", o.number("timeoutMs")?)?;
    pty.request_timeout_ms = call_timeout(&o)?;
    Ok(pty)
}

/// `CodeRunOpts`, of one execution of `runCode`.
pub fn code_run_opts(opts: &JsAny) -> Result<crate::interpreter::RunCodeOpts> {
    let o = Fields::of(opts, "opts")?;
    crate::interpreter::RunCodeOpts::from_js(
        o.string("language")?,
        o.string("contextId")?,
        o.string_map("envs")?,
        o.number("timeoutMs")?,
        o.number("requestTimeoutMs")?,
    )
}

/// `CodeContextOpts`, of `createCodeContext`.
pub fn code_context_opts(opts: &JsAny) -> Result<crate::interpreter::ContextOpts> {
    let o = Fields::of(opts, "opts")?;
    crate::interpreter::ContextOpts::from_js(
        o.string("cwd")?,
        o.string("language")?,
        o.number("requestTimeoutMs")?,
    )
}

/// `SandboxHandle`, the argument `handle` of `Sandbox.fromHandle`.
pub fn handle(handle: &JsAny) -> Result<crate::SandboxHandle> {
    let o = Fields::of(handle, "handle")?;
    crate::SandboxHandle::from_fields(
        o.string("sandboxId")?,
        o.string("domain")?,
        o.string("envdVersion")?,
        o.string("envdAccessToken")?,
        o.string("trafficAccessToken")?,
    )
}

/// `SandboxUrlOpts`: the daemon's port (49983 when not given) and the sandbox's domain.
pub fn daemon_url_opts(opts: &JsAny) -> Result<(u16, Option<String>)> {
    let o = Fields::of(opts, "opts")?;
    let port = o.number("envdPort")?.map(from_js::port).transpose()?;
    Ok((
        port.unwrap_or(crate::Sandbox::ENVD_PORT),
        o.string("sandboxDomain")?,
    ))
}

/// `getSignature(opts)`: the signature of a `/files` URL and when it expires (unix seconds),
/// `now_ms` being the runtime's clock.
pub fn signature(opts: &JsAny, now_ms: f64) -> Result<(String, Option<i64>)> {
    let o = Fields::of(opts, "opts")?;
    let required = |key: &str| {
        o.string(key)?
            .ok_or_else(|| Error::invalid_argument(format!("{key} is required")))
    };
    crate::files::signature_for(
        &required("path")?,
        &required("operation")?,
        o.string("user")?.as_deref(),
        o.string("envdAccessToken")?.as_deref(),
        from_js::seconds("expirationInSeconds", o.number("expirationInSeconds")?)?,
        now_ms,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn create_refuses_what_sandkit_cannot_do_and_names_it() {
        let opts = |key: &str, value: JsAny| JsAny::Object(vec![(key.into(), value)]);
        let mcp = opts(
            "mcp",
            JsAny::Object(vec![("github".into(), JsAny::Object(vec![]))]),
        );
        assert_eq!(
            message(create_opts(None, &mcp, "opts").unwrap_err()),
            "mcp is not supported: sandkit has no MCP gateway"
        );
        let mounts = opts("volumeMounts", JsAny::Array(vec![JsAny::Null]));
        assert!(
            message(create_opts(None, &mounts, "opts").unwrap_err()).starts_with("volumeMounts")
        );
        // Nothing asked for: nothing refused.
        for (key, value) in [
            ("mcp", JsAny::Undefined),
            ("volumeMounts", JsAny::Array(vec![])),
        ] {
            assert!(
                create_opts(None, &opts(key, value), "opts").is_ok(),
                "{key}"
            );
        }
    }

    #[test]
    fn positional_arguments_are_read_by_type_and_named() {
        assert_eq!(
            string_arg(JsAny::String("/a".into()), "path").unwrap(),
            "/a"
        );
        assert_eq!(
            message(string_arg(JsAny::Number(1.0), "path").unwrap_err()),
            "path must be a string, got number"
        );
        assert_eq!(
            message(string_arg(JsAny::Undefined, "cmd").unwrap_err()),
            "cmd must be a string, got undefined"
        );
        assert_eq!(opt_string_arg(JsAny::Null, "path").unwrap(), None);
        assert_eq!(
            message(opt_string_arg(JsAny::Array(vec![]), "path").unwrap_err()),
            "path must be a string, got array"
        );
        assert_eq!(number_arg(&JsAny::Number(8.0), "port").unwrap(), 8.0);
        assert_eq!(
            message(number_arg(&JsAny::String("8".into()), "port").unwrap_err()),
            "port must be a number, got string"
        );
        assert_eq!(
            opt_number_arg(&JsAny::Undefined, "timeoutMs").unwrap(),
            None
        );
        assert_eq!(
            message(opt_number_arg(&JsAny::Bool(true), "timeoutMs").unwrap_err()),
            "timeoutMs must be a number, got boolean"
        );
        assert_eq!(
            timeout_arg(&JsAny::Number(1500.0)).unwrap(),
            std::time::Duration::from_millis(1500)
        );
        assert_eq!(
            message(timeout_arg(&JsAny::String("1s".into())).unwrap_err()),
            "timeoutMs must be a number, got string"
        );
        assert!(timeout_arg(&JsAny::Number(-1.0)).is_err());
        assert_eq!(opt_timeout_arg(&JsAny::Null).unwrap(), None);
    }

    #[test]
    fn many_file_entries_name_the_bad_item() {
        use crate::files::FileData;
        let ok = write_entries(EntriesGiven::Items(vec![
            (JsAny::String("/a".into()), Ok(FileData::from("x"))),
            (JsAny::String("/b".into()), Ok(FileData::from(vec![1u8]))),
        ]))
        .unwrap();
        assert_eq!(
            ok.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["/a", "/b"]
        );
        let bad_path = write_entries(EntriesGiven::Items(vec![
            (JsAny::String("/a".into()), Ok(FileData::from("x"))),
            (JsAny::Number(2.0), Ok(FileData::from("y"))),
        ]));
        assert_eq!(
            message(bad_path.unwrap_err()),
            "files[1].path must be a string, got number"
        );
        let bad_data = write_entries(EntriesGiven::Items(vec![(
            JsAny::String("/a".into()),
            Err(JsAny::Object(vec![])),
        )]));
        assert_eq!(
            message(bad_data.unwrap_err()),
            "files[0].data must be a string or bytes, got object"
        );
        let not_array = write_entries(EntriesGiven::NotAnArray(JsAny::String("/a".into())));
        assert_eq!(
            message(not_array.unwrap_err()),
            "files must be an array of { path, data }, got string"
        );
    }

    #[test]
    fn absent_options_are_the_defaults() {
        for v in [JsAny::Undefined, JsAny::Null, JsAny::object(&[])] {
            let o = create_opts(None, &v, "opts").unwrap();
            assert!(o.template.is_none() && o.metadata.is_none() && o.network.is_none());
            assert!(list_opts(&v).unwrap().state.is_none());
        }
    }

    #[test]
    fn options_that_are_not_objects_are_refused_by_name() {
        let e = create_opts(None, &JsAny::String("x".into()), "templateOrOpts").unwrap_err();
        assert!(message(e).contains("templateOrOpts must be an object, got string"));
        let e = api_opts(&JsAny::Array(vec![])).unwrap_err();
        assert!(message(e).contains("opts must be an object, got array"));
    }

    #[test]
    fn a_wrong_type_names_the_field_and_both_types() {
        let cases = [
            (
                JsAny::object(&[("secure", JsAny::String("yes".into()))]),
                "secure must be a boolean, got string",
            ),
            (
                JsAny::object(&[("debug", JsAny::Number(1.0))]),
                "debug must be a boolean, got number",
            ),
            (
                JsAny::object(&[("timeoutMs", JsAny::Bool(true))]),
                "timeoutMs must be a number, got boolean",
            ),
            (
                JsAny::object(&[("metadata", JsAny::object(&[("a b", JsAny::Number(1.0))]))]),
                "metadata[\"a b\"] must be a string, got number",
            ),
            (
                JsAny::object(&[(
                    "lifecycle",
                    JsAny::object(&[("autoResume", JsAny::String("no".into()))]),
                )]),
                "lifecycle.autoResume must be a boolean, got string",
            ),
            (
                JsAny::object(&[(
                    "lifecycle",
                    JsAny::object(&[("onTimeout", JsAny::Number(3.0))]),
                )]),
                "lifecycle.onTimeout must be an object, got number",
            ),
            (
                JsAny::object(&[(
                    "network",
                    JsAny::object(&[("httpsPorts", JsAny::object(&[]))]),
                )]),
                "network.httpsPorts must be an array of numbers, got object",
            ),
            (
                JsAny::object(&[(
                    "network",
                    JsAny::object(&[("allowOut", JsAny::Array(vec![JsAny::Null]))]),
                )]),
                "network.allowOut[0] must be a string, got null",
            ),
        ];
        for (v, want) in cases {
            let got = message(create_opts(None, &v, "opts").unwrap_err());
            assert!(got.contains(want), "{got:?} should say {want:?}");
        }
    }

    #[test]
    fn dates_and_queries_of_a_list() {
        let v = JsAny::object(&[
            ("limit", JsAny::Number(10.0)),
            (
                "query",
                JsAny::object(&[
                    ("state", JsAny::Array(vec![JsAny::String("paused".into())])),
                    ("startedAfter", JsAny::Date(1_000.0)),
                    (
                        "metadata",
                        JsAny::object(&[("k", JsAny::String("v".into()))]),
                    ),
                ]),
            ),
        ]);
        let o = list_opts(&v).unwrap();
        assert_eq!(o.limit, Some(10));
        assert_eq!(o.started_after_ms, Some(1_000));
        assert_eq!(o.metadata.unwrap().get("k").map(String::as_str), Some("v"));
        let bad = JsAny::object(&[(
            "query",
            JsAny::object(&[("startedAfter", JsAny::String("x".into()))]),
        )]);
        let got = message(list_opts(&bad).unwrap_err());
        assert!(
            got.contains("query.startedAfter must be a Date, got string"),
            "{got}"
        );
        let nan = JsAny::object(&[("start", JsAny::Date(f64::NAN))]);
        let got = message(metrics_opts(&nan).unwrap_err());
        assert!(got.contains("start must be a valid Date"), "{got}");
    }

    #[test]
    fn on_timeout_in_both_forms() {
        let with = |on: JsAny| JsAny::object(&[("lifecycle", JsAny::object(&[("onTimeout", on)]))]);
        let o = create_opts(None, &with(JsAny::String("pause".into())), "opts").unwrap();
        assert_eq!(o.on_timeout, Some(crate::OnTimeout::Pause));
        assert_eq!(o.keep_memory, None);
        // The key present with `undefined` means the default, true.
        let form = JsAny::object(&[
            ("action", JsAny::String("pause".into())),
            ("keepMemory", JsAny::Undefined),
        ]);
        let o = create_opts(None, &with(form), "opts").unwrap();
        assert_eq!(o.keep_memory, Some(true));
        let form = JsAny::object(&[
            ("action", JsAny::String("pause".into())),
            ("keepMemory", JsAny::Bool(false)),
        ]);
        assert_eq!(
            create_opts(None, &with(form), "opts").unwrap().keep_memory,
            Some(false)
        );
    }

    #[test]
    fn the_positional_template_wins() {
        let v = JsAny::object(&[("template", JsAny::String("b".into()))]);
        let o = create_opts(Some("a".into()), &v, "opts").unwrap();
        assert_eq!(o.template.as_deref(), Some("a"));
        assert_eq!(
            create_opts(None, &v, "opts").unwrap().template.as_deref(),
            Some("b")
        );
    }
}
