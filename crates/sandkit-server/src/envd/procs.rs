//! The processes of one sandbox as the daemon protocol sees them: what each was started with,
//! its stdin or terminal, who is listening to its output, and how it ended.
//!
//! Output is pumped from the process's pipes to every attached stream with backpressure: a
//! slow client slows the process down instead of output piling up in memory. As in envd,
//! output with no stream attached is dropped, and an ended process stays visible (for a late
//! `Connect`) for [`KEEP_ENDED`].

use super::connect::RpcError;
use crate::sandbox::{ExitStatus, ProcessIo, SandboxHandle};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

/// How long an ended process can still be connected to.
pub const KEEP_ENDED: Duration = Duration::from_secs(30);
/// The largest output chunk, as envd reads them (32 KiB for pipes).
const CHUNK: usize = 32 * 1024;
/// After the process has exited, how long output still trickling in (from a background child
/// holding the pipe) is waited for before the end is reported.
const DRAIN_GRACE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub enum ProcEvent {
    Stdout(Bytes),
    Stderr(Bytes),
    Pty(Bytes),
    End(EndInfo),
}

/// The `end` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndInfo {
    pub exit_code: i32,
    pub exited: bool,
    pub status: String,
    pub error: Option<String>,
}

impl EndInfo {
    /// As Go's `ProcessState.String()` words it, which is what envd reports.
    pub fn from_status(s: ExitStatus) -> EndInfo {
        match (s.code, s.signal) {
            (Some(code), _) => {
                let status = format!("exit status {code}");
                EndInfo {
                    exit_code: code,
                    exited: true,
                    error: (code != 0).then(|| status.clone()),
                    status,
                }
            }
            (None, Some(sig)) => {
                let status = format!("signal: {}", signal_name(sig));
                EndInfo {
                    exit_code: -1,
                    exited: false,
                    error: Some(status.clone()),
                    status,
                }
            }
            (None, None) => EndInfo {
                exit_code: -1,
                exited: false,
                status: "unknown".into(),
                error: Some("unknown".into()),
            },
        }
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        3 => "quit".into(),
        6 => "aborted".into(),
        9 => "killed".into(),
        11 => "segmentation fault".into(),
        13 => "broken pipe".into(),
        14 => "alarm clock".into(),
        15 => "terminated".into(),
        n => format!("signal {n}"),
    }
}

/// What a process was started with, as `List` reports it.
#[derive(Debug, Clone)]
pub struct ProcConfig {
    pub cmd: String,
    pub args: Vec<String>,
    pub envs: BTreeMap<String, String>,
    pub cwd: Option<String>,
}

#[derive(Debug)]
pub struct ProcEntry {
    pub pid: i32,
    pub config: ProcConfig,
    pub tag: Option<String>,
    /// stdin's write end until `CloseStdin`; `None` when there was no pipe.
    stdin: tokio::sync::Mutex<Option<Arc<AsyncFd<OwnedFd>>>>,
    /// The terminal's master side, for input and resizing.
    pty: Option<Arc<AsyncFd<OwnedFd>>>,
    subscribers: Mutex<Vec<mpsc::Sender<ProcEvent>>>,
    ended: Mutex<Option<EndInfo>>,
}

impl ProcEntry {
    pub fn is_pty(&self) -> bool {
        self.pty.is_some()
    }

    /// Attaches a listener; for an ended process it gets the end at once.
    pub fn subscribe(&self) -> mpsc::Receiver<ProcEvent> {
        let (tx, rx) = mpsc::channel(16);
        let ended = self.ended.lock().ok().and_then(|e| e.clone());
        match ended {
            Some(end) => {
                let _ = tx.try_send(ProcEvent::End(end));
            }
            None => {
                if let Ok(mut subs) = self.subscribers.lock() {
                    subs.push(tx);
                }
            }
        }
        rx
    }

    /// Writes to stdin (or the terminal), refused with current envd's codes and words: a stdin
    /// never opened (`stdin: false`) or already closed, and a process no longer reading (a
    /// broken pipe), are `failed_precondition`; any other failure to write is `internal`.
    pub async fn write_input(&self, data: &[u8], to_pty: bool) -> Result<(), RpcError> {
        let (pipe, fd) = if to_pty {
            let fd = self.pty.clone().ok_or_else(|| {
                RpcError::new(
                    "failed_precondition",
                    "error writing to tty: tty not assigned to process — input should be written to the stdin, not the tty",
                )
            })?;
            ("tty", fd)
        } else {
            let fd = self.stdin.lock().await.clone().ok_or_else(|| {
                RpcError::new(
                    "failed_precondition",
                    "error writing to stdin: stdin not enabled or closed",
                )
            })?;
            ("stdin", fd)
        };
        write_all(&fd, data).await.map_err(|e| {
            let code = match e.raw_os_error() {
                Some(libc::EPIPE) | Some(libc::EBADF) => "failed_precondition",
                _ => "internal",
            };
            let pid = self.pid;
            RpcError::new(
                code,
                format!("error writing to {pipe}: error writing to {pipe} of process '{pid}': {e}"),
            )
        })
    }

    /// Closes stdin, so the process reads end-of-file.
    pub async fn close_stdin(&self) -> Result<(), String> {
        if self.pty.is_some() {
            return Err("cannot close stdin of a terminal process; send 0x04 instead".into());
        }
        self.stdin.lock().await.take();
        Ok(())
    }

    /// Resizes the terminal.
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), String> {
        let pty = self.pty.as_ref().ok_or("the process has no terminal")?;
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: TIOCSWINSZ reads a winsize that outlives the call.
        let rc = unsafe { libc::ioctl(pty.get_ref().as_raw_fd(), libc::TIOCSWINSZ, &size) };
        if rc < 0 {
            return Err(format!("resize: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn ended(&self) -> bool {
        self.ended.lock().map(|e| e.is_some()).unwrap_or(true)
    }
}

/// The processes of one sandbox, by pid.
#[derive(Debug, Default)]
pub struct ProcTable {
    procs: Arc<Mutex<HashMap<i32, Arc<ProcEntry>>>>,
}

impl ProcTable {
    pub fn get(&self, pid: i32) -> Option<Arc<ProcEntry>> {
        self.procs.lock().ok()?.get(&pid).cloned()
    }

    /// Running processes (an ended one is not listed).
    pub fn running(&self) -> Vec<Arc<ProcEntry>> {
        let mut all: Vec<Arc<ProcEntry>> = match self.procs.lock() {
            Ok(m) => m.values().filter(|p| !p.ended()).cloned().collect(),
            Err(_) => Vec::new(),
        };
        all.sort_by_key(|p| p.pid);
        all
    }

    pub fn by_tag(&self, tag: &str) -> Option<Arc<ProcEntry>> {
        self.running()
            .into_iter()
            .find(|p| p.tag.as_deref() == Some(tag))
    }

    /// Registers a started process with its first listener, and starts pumping its output.
    /// `deadline`: kill it (SIGKILL) if it is still running then.
    pub fn add(
        &self,
        handle: SandboxHandle,
        log: crate::logs::SandboxLogger,
        spawned: crate::sandbox::Spawned,
        config: ProcConfig,
        tag: Option<String>,
        deadline: Option<Duration>,
    ) -> std::io::Result<(Arc<ProcEntry>, mpsc::Receiver<ProcEvent>)> {
        let crate::sandbox::Spawned { pid, io, exit } = spawned;
        let (stdin, pty, readers) = match io {
            ProcessIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => (
                stdin.map(nonblocking).transpose()?.map(Arc::new),
                None,
                Readers::Pipes(nonblocking(stdout)?, nonblocking(stderr)?),
            ),
            ProcessIo::Pty { master } => {
                let master = Arc::new(nonblocking(master)?);
                (None, Some(master.clone()), Readers::Pty(master))
            }
        };
        let entry = Arc::new(ProcEntry {
            pid,
            config,
            tag,
            stdin: tokio::sync::Mutex::new(stdin),
            pty,
            subscribers: Mutex::new(Vec::new()),
            ended: Mutex::new(None),
        });
        let first = entry.subscribe();
        if let Ok(mut m) = self.procs.lock() {
            m.insert(pid, entry.clone());
        }
        // Ended with the process: it holds the sandbox's handle, and with it the sandbox's
        // host resources (its id range, network namespace), which a killed sandbox must give
        // back at once, not when a long command timeout runs out.
        let deadline = deadline.map(|limit| {
            let weak = Arc::downgrade(&entry);
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                if weak.upgrade().is_some_and(|e| !e.ended()) {
                    handle.signal(pid, libc::SIGKILL).await;
                }
            })
            .abort_handle()
        });
        let procs = self.procs.clone();
        let pumped = entry.clone();
        tokio::spawn(async move {
            let status = pump(&pumped, readers, exit).await;
            if let Some(deadline) = deadline {
                deadline.abort();
            }
            let end = EndInfo::from_status(status);
            log.record(&crate::logs::Event::ProcessEnded {
                pid,
                status: &end.status,
                exit_code: end.exit_code,
                exited: end.exited,
            });
            if let Ok(mut e) = pumped.ended.lock() {
                *e = Some(end.clone());
            }
            pumped.stdin.lock().await.take();
            let subs: Vec<_> = pumped
                .subscribers
                .lock()
                .map(|mut s| std::mem::take(&mut *s))
                .unwrap_or_default();
            for s in subs {
                let _ = s.send(ProcEvent::End(end.clone())).await;
            }
            tokio::time::sleep(KEEP_ENDED).await;
            if let Ok(mut m) = procs.lock()
                && m.get(&pid).is_some_and(|p| Arc::ptr_eq(p, &pumped))
            {
                m.remove(&pid);
            }
        });
        Ok((entry, first))
    }
}

fn nonblocking(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_retain(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    // SAFETY: an OwnedFd keeps its descriptor open and unchanged for as long as it lives.
    unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

enum Readers {
    Pipes(AsyncFd<OwnedFd>, AsyncFd<OwnedFd>),
    Pty(Arc<AsyncFd<OwnedFd>>),
}

/// Reads what is there; 0 at end of file (a terminal whose other side closed reads EIO,
/// which means the same).
async fn read_some(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|f| match nix::unistd::read(f.get_ref().as_fd(), buf) {
            Ok(n) => Ok(n),
            Err(nix::errno::Errno::EIO) => Ok(0),
            Err(e) => Err(std::io::Error::from(e)),
        }) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

async fn write_all(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|f| nix::unistd::write(f.get_ref(), data).map_err(std::io::Error::from))
        {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

/// Sends an event to every listener, waiting for each (backpressure); drops the ones gone.
async fn deliver(entry: &ProcEntry, event: ProcEvent) {
    let subs: Vec<_> = match entry.subscribers.lock() {
        Ok(s) => s.clone(),
        Err(_) => return,
    };
    let mut gone = Vec::new();
    for (i, s) in subs.iter().enumerate() {
        if s.send(event.clone()).await.is_err() {
            gone.push(i);
        }
    }
    if !gone.is_empty()
        && let Ok(mut s) = entry.subscribers.lock()
    {
        s.retain(|tx| !tx.is_closed());
    }
}

/// Delivers what is in `fd` right now, without waiting for readiness: when the grace after
/// an exit runs out, the reactor of a busy sandkitd may not have seen yet that the pipe holds
/// the output the process wrote before it exited (200 busy sandboxes lost an `echo`'s line
/// now and then). Output still to come from a child that holds the pipe is not waited for.
async fn drain_now(
    entry: &ProcEntry,
    fd: &AsyncFd<OwnedFd>,
    buf: &mut [u8],
    event: fn(Bytes) -> ProcEvent,
) {
    // Bounded: a child writing without pause must not keep the end from being reported.
    for _ in 0..64 {
        match nix::unistd::read(fd.get_ref().as_fd(), buf) {
            Ok(n) if n > 0 => deliver(entry, event(Bytes::copy_from_slice(&buf[..n]))).await,
            _ => return,
        }
    }
}

/// Pumps output until the process has ended and its output is drained; returns its status.
async fn pump(
    entry: &ProcEntry,
    readers: Readers,
    mut exit: oneshot::Receiver<ExitStatus>,
) -> ExitStatus {
    let mut status: Option<ExitStatus> = None;
    let lost = ExitStatus {
        code: None,
        signal: Some(libc::SIGKILL),
    };
    match readers {
        Readers::Pipes(out, err) => {
            let (mut out_open, mut err_open) = (true, true);
            let mut out_buf = vec![0u8; CHUNK];
            let mut err_buf = vec![0u8; CHUNK];
            while out_open || err_open {
                let grace = async {
                    if status.is_some() {
                        tokio::time::sleep(DRAIN_GRACE).await
                    } else {
                        std::future::pending::<()>().await
                    }
                };
                tokio::select! {
                    r = read_some(&out, &mut out_buf), if out_open => match r {
                        Ok(n) if n > 0 => deliver(entry, ProcEvent::Stdout(Bytes::copy_from_slice(&out_buf[..n]))).await,
                        _ => out_open = false,
                    },
                    r = read_some(&err, &mut err_buf), if err_open => match r {
                        Ok(n) if n > 0 => deliver(entry, ProcEvent::Stderr(Bytes::copy_from_slice(&err_buf[..n]))).await,
                        _ => err_open = false,
                    },
                    s = &mut exit, if status.is_none() => status = Some(s.unwrap_or(lost)),
                    _ = grace => {
                        if out_open {
                            drain_now(entry, &out, &mut out_buf, ProcEvent::Stdout).await;
                        }
                        if err_open {
                            drain_now(entry, &err, &mut err_buf, ProcEvent::Stderr).await;
                        }
                        break;
                    }
                }
            }
        }
        Readers::Pty(master) => {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let grace = async {
                    if status.is_some() {
                        tokio::time::sleep(DRAIN_GRACE).await
                    } else {
                        std::future::pending::<()>().await
                    }
                };
                tokio::select! {
                    r = read_some(&master, &mut buf) => match r {
                        Ok(n) if n > 0 => deliver(entry, ProcEvent::Pty(Bytes::copy_from_slice(&buf[..n]))).await,
                        _ => break,
                    },
                    s = &mut exit, if status.is_none() => status = Some(s.unwrap_or(lost)),
                    _ = grace => {
                        drain_now(entry, &master, &mut buf, ProcEvent::Pty).await;
                        break;
                    }
                }
            }
        }
    }
    match status {
        Some(s) => s,
        None => exit.await.unwrap_or(lost),
    }
}
