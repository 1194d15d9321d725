//! The agent: the first process of a sandbox (PID 1 of its PID namespace when isolated). It
//! sets the sandbox's filesystem view up, then starts, signals and reaps processes on request.
//!
//! sandkitd runs it as `sandkitd __sandbox-agent` with the socket on fd 3 (and the sandbox
//! cgroup's `cgroup.procs` on fd 4), and sends its configuration as the first message. It is
//! single-threaded and blocks in `poll`, so `fork` is safe here, which it would not be in
//! sandkitd's multi-threaded runtime.

use super::ids::IdMap;
use super::proto::{self, FromAgent, Received, SpawnRequest, ToAgent};
use super::template::Template;
use super::{identity, lockdown, setup, sudo, userns};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpgid};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// The descriptor sandkitd passes the socket on.
pub const SOCKET_FD: RawFd = 3;
/// The descriptor of the sandbox's cgroup's `cgroup.procs`, when it has one.
pub const CGROUP_FD: RawFd = 4;

/// Puts the socket on [`SOCKET_FD`] and the cgroup's `cgroup.procs` (if any) on
/// [`CGROUP_FD`], in the child between fork and exec: async-signal-safe calls only.
///
/// Both sources are copied above both targets before either target is written: a source may
/// sit on the other's target (the cgroup's file on 3, or the socket on 4, when sandkitd had
/// those numbers free), and a `dup2` onto it first would lose it. Done in the other order,
/// the agent once wrote PID 1's pid meant for `cgroup.procs` into its socket. The agent
/// closes the copies (everything above [`CGROUP_FD`]).
pub fn place_descriptors(socket: RawFd, cgroup_procs: Option<RawFd>) -> std::io::Result<()> {
    let above = CGROUP_FD + 1;
    // SAFETY: fcntl and dup2 on descriptors this process holds; nothing else owns the targets.
    unsafe {
        let socket = libc::fcntl(socket, libc::F_DUPFD, above);
        let procs = cgroup_procs.map(|fd| libc::fcntl(fd, libc::F_DUPFD, above));
        if socket < 0 || procs.is_some_and(|p| p < 0) {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(socket, SOCKET_FD) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(procs) = procs
            && libc::dup2(procs, CGROUP_FD) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Everything the agent needs to know: the first message sandkitd sends (never the command
/// line, which processes in the sandbox could read in `/proc/1/cmdline`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Build the sandbox's own filesystem view and become PID 1 (the mount, IPC and network
    /// namespaces were entered by sandkitd before exec; the agent makes the user, PID and UTS
    /// ones). Without it, processes run in the host's view.
    pub isolated: bool,
    /// The sandbox's directory on the host (the mount point `root/`, the overlays' upper and
    /// work directories `u<n>` and `w<n>`).
    pub dir: String,
    /// sandkitd's directory of sandboxes (and of the templates' skeleton and masks).
    pub state_dir: String,
    /// The root filesystem (isolated sandboxes only).
    pub template: Option<Template>,
    /// The user namespace's host ids; `None` runs without one (`--insecure-no-userns`).
    pub ids: Option<IdMap>,
    /// Install the seccomp filter (off only with `--insecure-no-seccomp`).
    pub seccomp: bool,
    /// The size of `/tmp`, in MiB.
    pub tmp_size_mb: u64,
    /// The writable layers are on the disk image in `dir` (see [`super::disk`]).
    pub disk: bool,
    /// The first host id of the range that owns the image's files when that is not `ids`' (a
    /// copy of another sandbox's disk: a snapshot, a fork): they move to `ids` once mounted.
    #[serde(default)]
    pub moved_from: Option<u32>,
    /// The sandbox has a cgroup: its `cgroup.procs` is on [`CGROUP_FD`].
    pub cgroup: bool,
}

/// Runs the agent; never returns.
pub fn main() -> ! {
    // Whatever sandkitd inherited and did not mark close-on-exec (its own parent's pipes, a
    // directory of the host) must never reach a sandbox: only stdio, the socket and the
    // cgroup's descriptor stay.
    // SAFETY: closes descriptors nothing in this fresh process uses.
    unsafe { libc::close_range(CGROUP_FD as libc::c_uint + 1, libc::c_uint::MAX, 0) };
    // SAFETY: sandkitd put the socket there; nothing else in this process owns fd 3.
    let sock = unsafe { OwnedFd::from_raw_fd(SOCKET_FD) };
    // dup2 left it inheritable: no process of the sandbox may get it.
    let _ = nix::fcntl::fcntl(
        &sock,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let mut buf = vec![0u8; proto::MAX_MESSAGE];
    let config = match proto::recv::<ToAgent>(sock.as_fd(), &mut buf) {
        Ok(Received::Message(ToAgent::Configure(config), _)) => *config,
        Ok(_) => fail(&sock, "the first message was not the configuration".into()),
        Err(e) => fail(&sock, format!("reading the configuration: {e}")),
    };
    if !config.cgroup {
        // Not ours: whatever sandkitd's parent left there.
        let _ = nix::unistd::close(CGROUP_FD);
    }
    if config.isolated {
        // Made here, where the helper process it takes has a pid the host's /proc knows; then
        // the sandbox's PID namespace, whose first process is PID 1.
        let userns = match config
            .ids
            .as_ref()
            .map(|ids| userns::create(ids, Path::new("/proc")))
        {
            Some(Err(message)) => fail(&sock, message),
            Some(Ok(ns)) => Some(ns),
            None => None,
        };
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID) {
            fail(&sock, format!("unshare(CLONE_NEWPID): {e}"));
        }
        let joined = become_pid_one(&sock, config.cgroup);
        if let Err(message) = isolate_and_lock_down(&config, joined, userns) {
            fail(&sock, message);
        }
    }
    // Listening before the sandbox is ready: its first command may call sudo.
    let sudo = if config.isolated && config.template.as_ref().is_some_and(|t| t.sudo) {
        match sudo::Server::listen() {
            Ok(server) => Some(server),
            Err(message) => fail(&sock, format!("sudo: {message}")),
        }
    } else {
        None
    };
    let _ = proto::send(sock.as_fd(), &FromAgent::Ready, &[]);
    serve(sock, config.isolated, sudo)
}

/// Builds the sandbox's view with the host's privileges, then gives them up for good: into
/// the user namespace as its root, capabilities cut to a container's default set, no new
/// privileges, not traceable, and the seccomp filter.
fn isolate_and_lock_down(
    config: &AgentConfig,
    joined: OwnedFd,
    userns: Option<OwnedFd>,
) -> Result<(), String> {
    let template = config
        .template
        .as_ref()
        .ok_or("an isolated sandbox needs a template")?;
    setup::isolate(config, template, userns.as_ref().map(|ns| ns.as_fd()))?;
    // When memory runs out, the kernel picks a sandbox's processes before sandkitd; set with
    // the host's privileges, it is also the lowest any of them can go.
    let _ = std::fs::write("/proc/self/oom_score_adj", "500");
    // Nothing runs in the sandbox before its PID 1 is in its cgroup.
    let mut status = [0u8; 4];
    match nix::unistd::read(&joined, &mut status) {
        Ok(4) if i32::from_ne_bytes(status) == 0 => {}
        Ok(4) => {
            let errno = Errno::from_raw(i32::from_ne_bytes(status));
            return Err(format!("joining the sandbox's cgroup: {}", errno.desc()));
        }
        _ => return Err("joining the sandbox's cgroup: no answer".into()),
    }
    drop(joined);
    // Built before the filter is in place; it allocates.
    let filter = config.seccomp.then(lockdown::filter).transpose()?;
    if let Some(ns) = userns {
        userns::enter_as_root(ns)?;
    }
    // Its own UTS namespace, owned by its user namespace: the agent names the sandbox later
    // (a sandbox may be set up before it is asked for), which takes CAP_SYS_ADMIN over it.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS)
        .map_err(|e| format!("unshare(CLONE_NEWUTS): {e}"))?;
    // Changing credentials cleared the parent-death signal.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
    lockdown::set_not_dumpable()?;
    // CAP_SYS_ADMIN stays with the agent alone until the sandbox is named (never in the
    // bounding set: no program it starts can have it).
    lockdown::drop_capabilities(&[lockdown::CAP_SYS_ADMIN])?;
    lockdown::set_no_new_privs()?;
    if let Some(filter) = filter {
        lockdown::install_seccomp(&filter)?;
    }
    Ok(())
}

fn fail(sock: &OwnedFd, message: String) -> ! {
    let _ = proto::send(sock.as_fd(), &FromAgent::SetupFailed { message }, &[]);
    std::process::exit(1)
}

/// The PID namespace just unshared applies to this process's children: fork once, and let the
/// child carry on as PID 1 while this process waits and mirrors its end.
/// Killing this process (what sandkitd does to end the sandbox) kills the child through the
/// parent-death signal, and with PID 1 gone the kernel kills the whole namespace.
///
/// Meanwhile this process moves PID 1 into the sandbox's cgroup (on cgroup v1 a move waits for
/// the kernel, milliseconds that overlap the set-up this way); PID 1 reads the outcome, an
/// errno or 0, from the descriptor returned to it.
fn become_pid_one(sock: &OwnedFd, cgroup: bool) -> OwnedFd {
    let (joined_r, joined_w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(pair) => pair,
        Err(e) => fail(sock, format!("pipe: {e}")),
    };
    // SAFETY: single-threaded at this point.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // Should the parent die before this line, the closed socket ends us instead.
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            // The cgroup's descriptor is the parent's business, never the sandbox's.
            if cgroup {
                let _ = nix::unistd::close(CGROUP_FD);
            }
            drop(joined_w);
            joined_r
        }
        Ok(ForkResult::Parent { child }) => {
            // The socket is PID 1's: its end is the sandbox's end.
            let _ = nix::unistd::close(SOCKET_FD);
            drop(joined_r);
            let status = if cgroup {
                let result = super::cgroup::join(CGROUP_FD, child.as_raw());
                let _ = nix::unistd::close(CGROUP_FD);
                result.err().unwrap_or(0)
            } else {
                0
            };
            let _ = nix::unistd::write(&joined_w, &status.to_ne_bytes());
            drop(joined_w);
            let code = loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => break code,
                    Ok(WaitStatus::Signaled(..)) => break 1,
                    Ok(_) | Err(Errno::EINTR) => continue,
                    Err(_) => break 1,
                }
            };
            std::process::exit(code)
        }
        Err(e) => fail(sock, format!("fork: {e}")),
    }
}

struct Agent {
    sock: OwnedFd,
    children: HashSet<i32>,
    isolated: bool,
    named: bool,
    /// `sudo`'s socket and the commands it runs (sandkitd does not know them).
    sudo: Option<sudo::Server>,
}

fn serve(sock: OwnedFd, isolated: bool, sudo: Option<sudo::Server>) -> ! {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
    let sigchld = match SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    {
        Ok(fd) => fd,
        Err(e) => fail(&sock, format!("signalfd: {e}")),
    };
    let mut agent = Agent {
        sock,
        children: HashSet::new(),
        isolated,
        named: false,
        sudo,
    };
    let mut buf = vec![0u8; proto::MAX_MESSAGE];
    loop {
        let (sock_ready, child_ready, sudo_ready) = {
            let mut fds = vec![
                PollFd::new(agent.sock.as_fd(), PollFlags::POLLIN),
                PollFd::new(sigchld.as_fd(), PollFlags::POLLIN),
            ];
            if let Some(server) = &agent.sudo {
                let theirs = server.fds().into_iter();
                fds.extend(theirs.map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(_) => agent.shutdown(),
            }
            let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            let sudo_ready: Vec<bool> = fds[2..].iter().map(ready).collect();
            (ready(&fds[0]), ready(&fds[1]), sudo_ready)
        };
        // Before the reaping: the readiness is of the clients as they were at the poll.
        if let Some(server) = &mut agent.sudo
            && sudo_ready.contains(&true)
        {
            server.serve(&sudo_ready, &mut buf);
        }
        if child_ready {
            while let Ok(Some(_)) = sigchld.read_signal() {}
            agent.reap();
        }
        if sock_ready {
            match proto::recv::<ToAgent>(agent.sock.as_fd(), &mut buf) {
                Ok(Received::Message(msg, _)) => agent.handle(msg),
                Ok(Received::Closed) | Err(_) => agent.shutdown(),
            }
        }
    }
}

impl Agent {
    fn send(&self, msg: &FromAgent, fds: &[RawFd]) {
        if proto::send(self.sock.as_fd(), msg, fds).is_err() {
            self.shutdown();
        }
    }

    fn handle(&mut self, msg: ToAgent) {
        match msg {
            ToAgent::Spawn(req) => {
                let id = req.req;
                match spawn(&req, None) {
                    Ok((pid, fds)) => {
                        self.children.insert(pid);
                        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
                        self.send(&FromAgent::Spawned { req: id, pid }, &raw);
                        // Our copies close here; sandkitd holds its own now.
                    }
                    Err(message) => self.send(&FromAgent::Failed { req: id, message }, &[]),
                }
            }
            ToAgent::Signal { req, pid, signal } => {
                let found = self.children.contains(&pid);
                if found && let Ok(sig) = Signal::try_from(signal) {
                    kill_group(pid, sig);
                }
                self.send(&FromAgent::Signalled { req, found }, &[]);
            }
            ToAgent::Become {
                req,
                hostname,
                dot_files,
            } => {
                let done = if self.named {
                    Err("the sandbox already has its identity".to_string())
                } else if self.isolated {
                    become_sandbox(&hostname, &dot_files)
                } else {
                    Ok(())
                };
                self.named = done.is_ok();
                match done {
                    Ok(()) => self.send(&FromAgent::Became { req }, &[]),
                    Err(message) => self.send(&FromAgent::Failed { req, message }, &[]),
                }
            }
            ToAgent::Shutdown => self.shutdown(),
            ToAgent::Configure(_) => {}
        }
    }

    /// Collects every ended child (as PID 1, orphans too) and reports the ones it started.
    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.ended(pid.as_raw(), Some(code), None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.ended(pid.as_raw(), None, Some(sig as i32))
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }

    fn ended(&mut self, pid: i32, code: Option<i32>, signal: Option<i32>) {
        if let Some(server) = &mut self.sudo
            && server.ended(pid, code, signal)
        {
            return;
        }
        if self.children.remove(&pid) {
            self.send(&FromAgent::Exited { pid, code, signal }, &[]);
        }
    }

    fn shutdown(&self) -> ! {
        for pid in &self.children {
            kill_group(*pid, Signal::SIGKILL);
        }
        std::process::exit(0)
    }
}

/// Names the sandbox: its hostname, `/etc/hostname` and `/etc/hosts` (written as its root,
/// through its overlay), its `/run/e2b` files; then the agent gives up CAP_SYS_ADMIN.
fn become_sandbox(hostname: &str, dot_files: &[(String, String)]) -> Result<(), String> {
    let write = |path: &str, content: &str| {
        std::fs::write(path, content).map_err(|e| format!("write {path}: {e}"))
    };
    nix::unistd::sethostname(hostname).map_err(|e| format!("sethostname: {e}"))?;
    write("/etc/hostname", &format!("{hostname}\n"))?;
    write("/etc/hosts", &identity::hosts(hostname))?;
    std::fs::create_dir("/run/e2b").map_err(|e| format!("mkdir /run/e2b: {e}"))?;
    for (name, content) in dot_files {
        if name.contains('/') || name.starts_with("..") {
            return Err(format!("invalid file name {name:?}"));
        }
        write(&format!("/run/e2b/{name}"), content)?;
    }
    lockdown::give_up_own()
}

/// Signals a process the agent started and its whole process group (it leads one: a
/// shell's children go too). The process itself gets the signal once: a second, direct
/// signal only if it has left its group (a trap would otherwise run twice).
pub(super) fn kill_group(pid: i32, sig: Signal) {
    let leader = Pid::from_raw(pid);
    let _ = kill(Pid::from_raw(-pid), sig);
    if getpgid(Some(leader)) != Ok(leader) {
        let _ = kill(leader, sig);
    }
}

fn cstring(what: &str, s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))
}

/// Starts one process. Returns its pid and the descriptors sandkitd gets: stdin's write end
/// (when asked for), stdout's and stderr's read ends; or the PTY master. With `given`, the
/// process gets those as its stdin, stdout and stderr instead, and sandkitd gets nothing.
pub(super) fn spawn(
    req: &SpawnRequest,
    given: Option<[OwnedFd; 3]>,
) -> Result<(i32, Vec<OwnedFd>), String> {
    let cmd = cstring("the command", &req.cmd)?;
    let mut argv = vec![cmd.clone()];
    for a in &req.args {
        argv.push(cstring("an argument", a)?);
    }
    let mut envp = Vec::with_capacity(req.env.len());
    for (k, v) in &req.env {
        if k.is_empty() || k.contains('=') {
            return Err(format!("invalid environment variable name '{k}'"));
        }
        envp.push(cstring("an environment variable", &format!("{k}={v}"))?);
    }
    let cwd = cstring("the working directory", &req.cwd)?;
    let groups: Vec<nix::unistd::Gid> = req
        .groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();

    // The child's ends, then ours.
    let (child_fds, ours): ([RawFd; 3], Vec<OwnedFd>);
    let mut keep_alive: Vec<OwnedFd> = Vec::new();
    if let Some(given) = given {
        child_fds = given.each_ref().map(|fd| fd.as_raw_fd());
        keep_alive.extend(given);
        ours = Vec::new();
    } else if let Some((cols, rows)) = req.pty {
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).map_err(|e| format!("openpty: {e}"))?;
        let slave = pty.slave.as_raw_fd();
        child_fds = [slave, slave, slave];
        keep_alive.push(pty.slave);
        ours = vec![pty.master];
    } else {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let stdin_fd;
        let mut mine = Vec::new();
        if req.stdin {
            let (in_r, in_w) = pipe()?;
            stdin_fd = in_r.as_raw_fd();
            keep_alive.push(in_r);
            mine.push(in_w);
        } else {
            let null = nix::fcntl::open(
                "/dev/null",
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| format!("/dev/null: {e}"))?;
            stdin_fd = null.as_raw_fd();
            keep_alive.push(null);
        }
        child_fds = [stdin_fd, out_w.as_raw_fd(), err_w.as_raw_fd()];
        keep_alive.push(out_w);
        keep_alive.push(err_w);
        mine.push(out_r);
        mine.push(err_r);
        ours = mine;
    }
    let (err_r, err_w) = pipe()?;
    let is_pty = req.pty.is_some();

    // SAFETY: the agent is single-threaded; the child only makes system calls before exec.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            let stage = child_exec(ChildSetup {
                cmd: &cmd,
                argv: &argv,
                envp: &envp,
                cwd: &cwd,
                stdio: child_fds,
                is_pty,
                uid: req.uid,
                gid: req.gid,
                groups: &groups,
            });
            // Only reached when something failed: tell the parent what and why.
            let (what, errno) = stage;
            let msg = format!("{what}\0{}", errno as i32);
            let _ = nix::unistd::write(&err_w, msg.as_bytes());
            // SAFETY: `_exit` skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => {
            drop(err_w);
            drop(keep_alive);
            let mut report = Vec::new();
            let mut chunk = [0u8; 512];
            loop {
                match nix::unistd::read(&err_r, &mut chunk) {
                    Ok(0) => break,
                    Ok(n) => report.extend_from_slice(&chunk[..n]),
                    Err(Errno::EINTR) => continue,
                    Err(_) => break,
                }
            }
            if report.is_empty() {
                return Ok((child.as_raw(), ours));
            }
            // exec failed: the child is gone; reap it here so it is never reported.
            let _ = waitpid(child, None);
            let text = String::from_utf8_lossy(&report);
            let (what, errno) = text.split_once('\0').unwrap_or((&text, "0"));
            let errno = Errno::from_raw(errno.parse().unwrap_or(0));
            Err(match what {
                "chdir" if matches!(errno, Errno::ENOENT | Errno::ENOTDIR) => {
                    format!("cwd '{}' does not exist", req.cwd)
                }
                "exec" if errno == Errno::ENOENT => {
                    format!("failed to start '{}': no such file or directory", req.cmd)
                }
                _ => format!("failed to start '{}': {what}: {}", req.cmd, errno.desc()),
            })
        }
    }
}

struct ChildSetup<'a> {
    cmd: &'a CString,
    argv: &'a [CString],
    envp: &'a [CString],
    cwd: &'a CString,
    stdio: [RawFd; 3],
    is_pty: bool,
    uid: u32,
    gid: u32,
    groups: &'a [nix::unistd::Gid],
}

/// In the forked child: set up and exec. Returns only on failure, with the failing step.
fn child_exec(s: ChildSetup<'_>) -> (&'static str, Errno) {
    // Signals: nothing blocked, default dispositions (Rust's runtime ignores SIGPIPE, and
    // exec keeps ignored signals ignored).
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // SAFETY: plain signal(2) calls in a single-threaded child.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
    if let Err(e) = nix::unistd::setsid() {
        return ("setsid", e);
    }
    if s.is_pty {
        // SAFETY: TIOCSCTTY on the slave makes it this session's controlling terminal.
        if unsafe { libc::ioctl(s.stdio[0], libc::TIOCSCTTY, 0) } < 0 {
            return ("tiocsctty", Errno::last());
        }
    }
    for (target, fd) in s.stdio.iter().enumerate() {
        // SAFETY: dup2 onto 0..2 in the child; the sources stay open until exec.
        if unsafe { libc::dup2(*fd, target as RawFd) } < 0 {
            return ("dup2", Errno::last());
        }
    }
    let uid = nix::unistd::Uid::from_raw(s.uid);
    let gid = nix::unistd::Gid::from_raw(s.gid);
    if nix::unistd::getuid() != uid || nix::unistd::getgid() != gid {
        if let Err(e) = nix::unistd::setgroups(s.groups) {
            return ("setgroups", e);
        }
        if let Err(e) = nix::unistd::setgid(gid) {
            return ("setgid", e);
        }
        if let Err(e) = nix::unistd::setuid(uid) {
            return ("setuid", e);
        }
    }
    if let Err(e) = nix::unistd::chdir(s.cwd.as_c_str()) {
        return ("chdir", e);
    }
    match nix::unistd::execvpe(s.cmd, s.argv, s.envp) {
        Err(e) => ("exec", e),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// Each descriptor where the agent looks for it, from the layouts where one source sits
    /// on the other's target: the cgroup's file on 3 and the socket on 4 (the order that had
    /// put the socket on both), and the other way round.
    #[test]
    fn descriptors_land_on_their_places_whatever_numbers_they_had() {
        let dir = std::env::temp_dir().join(format!("sandkit-fds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file_path = dir.join("cgroup.procs");
        let file = std::fs::File::create(&file_path).unwrap();
        let (sock, _peer) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        for (file_at, sock_at) in [(3, 4), (4, 3), (3, 9), (9, 4), (8, 9)] {
            let (file_raw, sock_raw) = (file.as_raw_fd(), sock.as_raw_fd());
            let mut command = std::process::Command::new("sh");
            command.args(["-c", "readlink /proc/self/fd/3 /proc/self/fd/4"]);
            // SAFETY: dup2 and fcntl only, between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    // The layout under test: each source on its number (copied out of the way
                    // first, so that setting one up does not lose the other).
                    let file_copy = libc::fcntl(file_raw, libc::F_DUPFD, 20);
                    let sock_copy = libc::fcntl(sock_raw, libc::F_DUPFD, 20);
                    libc::dup2(file_copy, file_at);
                    libc::dup2(sock_copy, sock_at);
                    place_descriptors(sock_at, Some(file_at))
                });
            }
            let out = command.output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 2, "{file_at}/{sock_at}: {text}");
            assert!(
                lines[0].starts_with("socket:"),
                "{file_at}/{sock_at}: {text}"
            );
            assert_eq!(lines[1], file_path.to_str().unwrap(), "{file_at}/{sock_at}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
