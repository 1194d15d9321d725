//! Messages between sandkitd and a sandbox's agent, over a `SOCK_SEQPACKET` socket pair: one
//! JSON message per packet, with file descriptors (the pipes or PTY of a new process) riding
//! along as `SCM_RIGHTS`. Packets keep message boundaries, so a message and its descriptors
//! always arrive together.

use nix::cmsg_space;
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The largest message either side sends. A start request carries the command, its arguments
/// and its environment; anything bigger is refused before it is sent.
pub const MAX_MESSAGE: usize = 512 * 1024;

/// What sandkitd asks of the agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ToAgent {
    /// The first message: how to set the sandbox up. Answered by `Ready` or `SetupFailed`.
    Configure(Box<super::agent::AgentConfig>),
    /// Start a process. Answered by `Spawned` (with its descriptors) or `Failed`.
    Spawn(SpawnRequest),
    /// Become the sandbox `hostname` (its name, `/etc/hostname`, `/etc/hosts`) with these
    /// `/run/e2b` files: what a sandbox set up ahead of time still lacks. Answered by `Became`
    /// or `Failed`.
    Become {
        req: u64,
        hostname: String,
        dot_files: Vec<(String, String)>,
    },
    /// Send `signal` to the process `pid` (and its process group). Answered by `Signalled`.
    Signal { req: u64, pid: i32, signal: i32 },
    /// Kill every process and exit.
    Shutdown,
}

/// A process to start, fully resolved by sandkitd: user ids, working directory, environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpawnRequest {
    pub req: u64,
    pub cmd: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// A pipe for stdin; otherwise `/dev/null`.
    pub stdin: bool,
    /// A pseudo-terminal of this size (cols, rows) instead of pipes.
    pub pty: Option<(u16, u16)>,
}

/// What the agent tells sandkitd.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum FromAgent {
    /// The sandbox is set up and takes requests.
    Ready,
    /// Setting the sandbox up failed; the agent exits.
    SetupFailed { message: String },
    /// The process runs. Descriptors: stdin (when asked for), stdout, stderr; or the PTY master.
    Spawned { req: u64, pid: i32 },
    /// The process could not be started (no such command, no such directory, ...).
    Failed { req: u64, message: String },
    /// The sandbox has its identity.
    Became { req: u64 },
    /// `found` is false when there was no such process.
    Signalled { req: u64, found: bool },
    /// A process started by `Spawn` ended: with an exit code, or killed by a signal.
    Exited {
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// Sends one message with `fds` attached.
pub fn send<T: Serialize>(sock: BorrowedFd<'_>, msg: &T, fds: &[RawFd]) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "message of {} bytes exceeds the limit of {MAX_MESSAGE}",
                bytes.len()
            ),
        ));
    }
    let iov = [IoSlice::new(&bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// What one `recv` got: a message, or the peer closed the socket.
pub enum Received<T> {
    Message(T, Vec<OwnedFd>),
    Closed,
}

/// Receives one message and its descriptors into `buf` (at least [`MAX_MESSAGE`] bytes).
/// `WouldBlock` on a non-blocking socket with nothing to read.
pub fn recv<T: for<'de> Deserialize<'de>>(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> std::io::Result<Received<T>> {
    let mut space = cmsg_space!([RawFd; 4]);
    let (len, fds) = loop {
        let mut iov = [IoSliceMut::new(&mut *buf)];
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = Vec::new();
                if let Ok(cmsgs) = msg.cmsgs() {
                    for c in cmsgs {
                        if let ControlMessageOwned::ScmRights(raw) = c {
                            // SAFETY: the kernel just installed these descriptors for us.
                            fds.extend(
                                raw.into_iter()
                                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                            );
                        }
                    }
                }
                break (msg.bytes, fds);
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    if len == 0 {
        return Ok(Received::Closed);
    }
    let msg = serde_json::from_slice(&buf[..len]).map_err(std::io::Error::other)?;
    Ok(Received::Message(msg, fds))
}
