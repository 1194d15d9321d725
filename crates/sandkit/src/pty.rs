//! `sandbox.pty`: interactive terminals. A terminal is a login shell (`bash -i -l`) on a
//! pseudo-terminal; its output comes as raw bytes ([`crate::commands::Output::Pty`]) through
//! the same [`CommandHandle`] commands use, its input goes in with [`Pty::send_input`].
//!
//! ```no_run
//! use sandkit::{Sandbox, SandboxOpts, commands::Output, pty::{PtyOpts, PtySize}};
//! # async fn demo() -> sandkit::Result<()> {
//! let sandbox = Sandbox::create(SandboxOpts::new()).await?;
//! let pty = sandbox.pty();
//! let mut terminal = pty.create(PtyOpts::new(PtySize::new(80, 24)?)).run().await?;
//! pty.send_input(terminal.pid(), b"echo hi; exit\n").run().await?;
//! while let Some(Output::Pty(bytes)) = terminal.next_output().await? {
//!     print!("{}", String::from_utf8_lossy(&bytes));
//! }
//! # Ok(()) }
//! ```

use crate::commands::{CommandHandle, Commands, finish, select_request};
use crate::envd::{Envd, proto};
use crate::error::{Error, Result};
use crate::json::Writer;
use crate::op::Op;
use crate::wire::base64;
use std::collections::BTreeMap;
use std::time::Duration;

/// The variables a terminal gets unless the caller sets them: a terminal type full-screen
/// programs know, and UTF-8 text (the sandbox's daemon sets neither).
pub const DEFAULT_ENVS: [(&str, &str); 3] = [
    ("TERM", "xterm-256color"),
    ("LANG", "C.UTF-8"),
    ("LC_ALL", "C.UTF-8"),
];

/// A terminal's size in character cells; both at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    cols: u16,
    rows: u16,
}

impl PtySize {
    /// A size of `cols` × `rows`; an [`ErrorKind::InvalidArgument`](crate::ErrorKind) error
    /// for a zero.
    pub fn new(cols: u16, rows: u16) -> Result<PtySize> {
        Self::from_js(Some(cols.into()), Some(rows.into()))
    }

    /// A size from JavaScript numbers: each must be given, whole, from 1 to 65535.
    pub fn from_js(cols: Option<f64>, rows: Option<f64>) -> Result<PtySize> {
        Ok(PtySize {
            cols: cells("cols", cols)?,
            rows: cells("rows", rows)?,
        })
    }

    pub fn cols(&self) -> u16 {
        self.cols
    }

    pub fn rows(&self) -> u16 {
        self.rows
    }

    /// `"pty":{"size":{"cols":C,"rows":R}}`, a member of a request.
    fn write(&self, w: &mut Writer) {
        w.key("pty");
        w.begin_object();
        w.key("size");
        w.begin_object();
        w.field_u64("cols", self.cols.into());
        w.field_u64("rows", self.rows.into());
        w.end_object();
        w.end_object();
    }
}

/// One dimension of a size: the daemon's terminal takes 16-bit counts, and a zero would make
/// a terminal nothing can be drawn in.
fn cells(name: &str, n: Option<f64>) -> Result<u16> {
    let n = n.ok_or_else(|| Error::invalid_argument(format!("{name} is required")))?;
    if n.fract() != 0.0 || !(1.0..=f64::from(u16::MAX)).contains(&n) {
        return Err(Error::invalid_argument(format!(
            "{name} must be a whole number from 1 to 65535, got {}",
            crate::options::js_number_text(n)
        )));
    }
    Ok(n as u16)
}

/// Options of [`Pty::create`].
#[derive(Debug, Clone)]
pub struct PtyOpts {
    pub size: PtySize,
    /// Variables for this terminal, over the sandbox's and [`DEFAULT_ENVS`].
    pub envs: BTreeMap<String, String>,
    /// Working directory; default the user's home.
    pub cwd: Option<String>,
    /// `user` (default) or `root`.
    pub user: Option<String>,
    /// How long the terminal may live; 60 s when unset, no limit when zero.
    pub timeout: Option<Duration>,
    /// This call's `requestTimeoutMs` (0 for none), which bounds the start only; the
    /// sandbox's when unset.
    pub request_timeout_ms: Option<u64>,
}

impl PtyOpts {
    pub fn new(size: PtySize) -> Self {
        PtyOpts {
            size,
            envs: BTreeMap::new(),
            cwd: None,
            user: None,
            timeout: None,
            request_timeout_ms: None,
        }
    }
}

/// `StartRequest` of a terminal (binary, as commands send it): `bash -i -l` with
/// [`DEFAULT_ENVS`] under the caller's, and a size. The defaults go into the caller's map
/// (no copy of it: a map's clone is 0.5 KB of wasm).
fn start_request(opts: &mut PtyOpts) -> Vec<u8> {
    for (k, v) in DEFAULT_ENVS {
        opts.envs.entry(k.into()).or_insert_with(|| v.into());
    }
    proto::start_request(&proto::Start {
        args: &["-i", "-l"],
        envs: &opts.envs,
        cwd: opts.cwd.as_deref(),
        pty: Some((opts.size.cols, opts.size.rows)),
        tag: None,
        stdin: None,
    })
}

/// The terminals of one sandbox; from [`crate::Sandbox::pty`].
#[derive(Debug, Clone)]
pub struct Pty {
    commands: Commands,
}

impl Pty {
    pub(crate) fn new(envd: Envd) -> Self {
        Pty {
            commands: Commands::new(envd),
        }
    }

    /// Starts a login shell on a new terminal. Its output comes from the handle's
    /// `next_output` as [`crate::commands::Output::Pty`]; it ends when the shell exits, is
    /// killed, or its timeout passes.
    pub fn create(&self, mut opts: PtyOpts) -> Op<CommandHandle> {
        if let Err(e) = crate::options::check_envs(opts.envs.iter()) {
            return Op::ready(Err(e));
        }
        let request = start_request(&mut opts);
        self.commands.attach_op(
            "Start",
            request,
            opts.user,
            opts.timeout,
            opts.request_timeout_ms,
        )
    }

    /// Attaches to a running terminal by pid (another handle may be attached too; each gets
    /// the output from then on).
    pub fn connect(&self, pid: u32, timeout: Option<Duration>) -> Op<CommandHandle> {
        self.commands.connect(pid, timeout)
    }

    /// Types `data` into the terminal (keys as the terminal sends them: `\r` or `\n` for
    /// Enter, `\x03` for Ctrl-C, `\x04` for Ctrl-D).
    pub fn send_input(&self, pid: u32, data: &[u8]) -> Op<()> {
        let mut w = select_request(pid);
        w.key("input");
        w.begin_object();
        w.field_str("pty", &base64::encode(data));
        w.end_object();
        self.commands
            .rpc("SendInput", finish(w), |answer| answer.map(drop))
    }

    /// Changes the terminal's size; the programs in it get `SIGWINCH`.
    pub fn resize(&self, pid: u32, size: PtySize) -> Op<()> {
        let mut w = select_request(pid);
        size.write(&mut w);
        self.commands
            .rpc("Update", finish(w), |answer| answer.map(drop))
    }

    /// Kills the terminal's shell (SIGKILL): `false` when there was no such process.
    pub fn kill(&self, pid: u32) -> Op<bool> {
        self.commands.kill(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_whole_cell_counts() {
        let size = PtySize::from_js(Some(80.0), Some(24.0)).unwrap();
        assert_eq!((size.cols(), size.rows()), (80, 24));
        for (cols, rows) in [
            (None, Some(24.0)),
            (Some(80.0), None),
            (Some(0.0), Some(24.0)),
            (Some(80.0), Some(-1.0)),
            (Some(80.5), Some(24.0)),
            (Some(65536.0), Some(24.0)),
            (Some(f64::NAN), Some(24.0)),
            (Some(80.0), Some(f64::INFINITY)),
        ] {
            let err = PtySize::from_js(cols, rows).unwrap_err();
            assert_eq!(
                err.kind(),
                crate::ErrorKind::InvalidArgument,
                "{cols:?}×{rows:?}"
            );
        }
        assert!(PtySize::new(0, 1).is_err());
    }

    #[test]
    fn a_terminal_is_a_login_shell_with_a_size_and_default_envs() {
        let mut opts = PtyOpts::new(PtySize::new(100, 30).unwrap());
        opts.envs.insert("TERM".into(), "dumb".into());
        opts.cwd = Some("/tmp".into());
        let request = start_request(&mut opts);
        // `process{cmd, args, envs (sorted entries), cwd}`, then `pty{size{cols, rows}}`.
        let mut want = vec![0x0a, 75, 0x0a, 9];
        want.extend_from_slice(b"/bin/bash");
        want.extend_from_slice(b"\x12\x02-i\x12\x02-l");
        for (k, v) in [("LANG", "C.UTF-8"), ("LC_ALL", "C.UTF-8"), ("TERM", "dumb")] {
            want.extend_from_slice(&[0x1a, (k.len() + v.len() + 4) as u8, 0x0a, k.len() as u8]);
            want.extend_from_slice(k.as_bytes());
            want.extend_from_slice(&[0x12, v.len() as u8]);
            want.extend_from_slice(v.as_bytes());
        }
        want.extend_from_slice(b"\x22\x04/tmp");
        want.extend_from_slice(&[0x12, 0x06, 0x0a, 0x04, 0x08, 100, 0x10, 30]);
        assert_eq!(request, want);
    }
}
