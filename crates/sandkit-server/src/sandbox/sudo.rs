//! `sudo` in a sandbox, as E2B's `user` has it: a command as root (or another account),
//! without a password, for `root`, `user` and the members of a `sudo` group.
//!
//! No program in a sandbox can raise its own privileges (every process has no_new_privs, and
//! no file is setuid to the sandbox's root), so `sudo` asks for it. Its client is sandkitd's
//! own executable, bound read-only onto `/usr/bin/sudo` by `setup.rs` (`sudo_client.rs`
//! runs there). It connects to the agent's socket, [`SOCKET`], and sends the command with its
//! own stdin, stdout and stderr. The agent, the sandbox's PID 1 and root, checks the caller by
//! the socket's credentials, starts the command as the account asked for on those
//! descriptors, and answers with how it ended. A command ends with its client: a client that
//! goes away (killed with its group, as `commands.kill` does) takes its command with it; the
//! signals a terminal or a caller sends the client are passed on.

use super::agent;
use super::lookup::AccountCache;
use super::proto::{self, Received, SpawnRequest};
use nix::sys::signal::Signal;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, UnixAddr, accept4, bind, getsockopt, listen,
    socket, sockopt,
};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where each sandbox has the client.
pub const COMMAND: &str = "/usr/bin/sudo";
/// The agent's socket, which every account of the sandbox may connect to.
pub const SOCKET: &str = "/run/sandkit/sudo";
/// The `PATH` a command gets and is found in (Debian's `secure_path`).
const SECURE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Commands at once; a client past it is turned away.
const MAX_CLIENTS: usize = 64;
/// The caller's variables a command keeps without `-E` (sudo's `env_reset` keeps these).
const KEPT_VARIABLES: &[&str] = &[
    "TERM",
    "COLORTERM",
    "LANG",
    "LANGUAGE",
    "DISPLAY",
    "XAUTHORITY",
    "TZ",
];
/// The signals a client passes on to its command.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// What a client sends the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum SudoCall {
    /// Run this, on the three descriptors that come with the message.
    Run(Box<RunRequest>),
    /// Pass a signal the client got on to the command.
    Signal { signal: i32 },
}

/// A command to run, as the client's options and environment give it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// The command and its arguments; empty for a shell (`-i`, `-s`).
    pub command: Vec<String>,
    /// `-u`: the account to run as; root when `None`.
    pub user: Option<String>,
    pub shell: Shell,
    /// `-E`: the command keeps the caller's variables.
    pub preserve_env: bool,
    /// `VAR=value` arguments before the command.
    pub set_env: Vec<(String, String)>,
    /// The caller's variables and working directory.
    pub env: Vec<(String, String)>,
    pub cwd: String,
}

/// How the command is run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shell {
    /// The command itself, found in Debian's `secure_path`.
    #[default]
    None,
    /// `-i`: the account's login shell, in its home.
    Login,
    /// `-s`: the caller's `SHELL` (else the account's).
    Plain,
}

/// What the agent answers, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum SudoAnswer {
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// Not run, and why (sudo's own words where it has them).
    Refused { message: String },
}

/// The agent's side: the listening socket and the clients whose commands run.
pub struct Server {
    listener: OwnedFd,
    clients: Vec<Client>,
}

struct Client {
    sock: OwnedFd,
    /// The command's pid once it runs (the leader of its own process group).
    pid: Option<i32>,
}

impl Server {
    /// Listens on [`SOCKET`], in the sandbox's view (the agent calls this as its root).
    pub fn listen() -> Result<Server, String> {
        let path = Path::new(SOCKET);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
        }
        let _ = std::fs::remove_file(path);
        let listener = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(|e| format!("socket: {e}"))?;
        let addr = UnixAddr::new(path).map_err(|e| format!("{SOCKET}: {e}"))?;
        bind(std::os::fd::AsRawFd::as_raw_fd(&listener), &addr)
            .map_err(|e| format!("bind {SOCKET}: {e}"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| format!("chmod {SOCKET}: {e}"))?;
        listen(&listener, Backlog::new(16).unwrap_or(Backlog::MAXCONN))
            .map_err(|e| format!("listen {SOCKET}: {e}"))?;
        Ok(Server {
            listener,
            clients: Vec::new(),
        })
    }

    /// What to poll: the listener, then each client, in the order [`Server::serve`] takes
    /// their readiness.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        std::iter::once(self.listener.as_fd())
            .chain(self.clients.iter().map(|c| c.sock.as_fd()))
            .collect()
    }

    /// Acts on what [`Server::fds`]'s descriptors had ready: new clients, requests,
    /// signals, clients gone.
    pub fn serve(&mut self, ready: &[bool], buf: &mut [u8]) {
        // Clients first (their indices are `ready[1..]`), last to first so removals keep
        // the others' places.
        for i in (0..self.clients.len()).rev() {
            if ready.get(i + 1) == Some(&true) && !self.read(i, buf) {
                let client = self.clients.remove(i);
                if let Some(pid) = client.pid {
                    agent::kill_group(pid, Signal::SIGKILL);
                }
            }
        }
        if ready.first() == Some(&true) {
            self.accept();
        }
    }

    fn accept(&mut self) {
        use std::os::fd::{AsRawFd, FromRawFd};
        while let Ok(fd) = accept4(
            self.listener.as_raw_fd(),
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        ) {
            // SAFETY: accept4 just made this descriptor; nothing else owns it.
            let sock = unsafe { OwnedFd::from_raw_fd(fd) };
            if self.clients.len() >= MAX_CLIENTS {
                answer(
                    &sock,
                    &SudoAnswer::Refused {
                        message: format!("sudo: {MAX_CLIENTS} commands run already"),
                    },
                );
                continue;
            }
            self.clients.push(Client { sock, pid: None });
        }
    }

    /// Reads from client `i`; `false` when it is done with (gone, refused or confused).
    fn read(&mut self, i: usize, buf: &mut [u8]) -> bool {
        let client = &mut self.clients[i];
        match proto::recv::<SudoCall>(client.sock.as_fd(), buf) {
            Ok(Received::Message(SudoCall::Run(req), fds)) if client.pid.is_none() => {
                match start(&client.sock, *req, fds) {
                    Ok(pid) => {
                        client.pid = Some(pid);
                        true
                    }
                    Err(message) => {
                        answer(&client.sock, &SudoAnswer::Refused { message });
                        false
                    }
                }
            }
            Ok(Received::Message(SudoCall::Signal { signal }, _)) => {
                if let (Some(pid), Ok(sig)) = (client.pid, Signal::try_from(signal))
                    && FORWARDED.contains(&sig)
                {
                    agent::kill_group(pid, sig);
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            _ => false,
        }
    }

    /// Reports a command's end to its client; `false` when `pid` is no command of sudo's.
    pub fn ended(&mut self, pid: i32, code: Option<i32>, signal: Option<i32>) -> bool {
        let Some(i) = self.clients.iter().position(|c| c.pid == Some(pid)) else {
            return false;
        };
        let client = self.clients.remove(i);
        answer(&client.sock, &SudoAnswer::Exited { code, signal });
        true
    }
}

/// Sends `msg` without ever blocking the agent (the socket is non-blocking; an answer a
/// client cannot take is dropped with it).
fn answer(sock: &OwnedFd, msg: &SudoAnswer) {
    let _ = proto::send(sock.as_fd(), msg, &[]);
}

/// Checks the caller and starts its command on the descriptors it sent.
fn start(sock: &OwnedFd, req: RunRequest, fds: Vec<OwnedFd>) -> Result<i32, String> {
    let stdio: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| "sudo: the request did not carry stdin, stdout and stderr".to_string())?;
    let caller = getsockopt(sock, sockopt::PeerCredentials)
        .map_err(|e| format!("sudo: who is asking: {e}"))?
        .uid();
    let spawn = prepare(caller, req)?;
    agent::spawn(&spawn, Some(stdio)).map(|(pid, _)| pid)
}

/// The process to start for `caller` (an inside uid), or sudo's reason not to.
fn prepare(caller: u32, req: RunRequest) -> Result<SpawnRequest, String> {
    let accounts = AccountCache::default()
        .get(Path::new("/"))
        .ok_or("sudo: /etc/passwd cannot be read")?;
    let who = accounts.by_uid(caller);
    let who_name = who
        .as_ref()
        .map_or_else(|| caller.to_string(), |u| u.name.clone());
    let sudo_group = accounts
        .names()
        .groups
        .iter()
        .find(|(_, name)| name == "sudo")
        .map(|(gid, _)| *gid);
    let allowed = caller == 0
        || who
            .as_ref()
            .is_some_and(|u| u.name == "user" || sudo_group.is_some_and(|g| u.groups.contains(&g)));
    if !allowed {
        return Err(format!("{who_name} is not in the sudoers file."));
    }
    let target_name = req.user.clone().unwrap_or_else(|| "root".into());
    let target = accounts
        .user(&target_name)
        .ok_or_else(|| format!("sudo: unknown user {target_name}"))?;
    let login_shell = accounts
        .shell(&target.name)
        .unwrap_or("/bin/sh")
        .to_string();
    let caller_var = |name: &str| {
        req.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let joined = req
        .command
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    let (cmd, args, shell, cwd) = match req.shell {
        Shell::None => {
            let name = req.command.first().ok_or("sudo: no command")?;
            let cmd =
                find_command(name).ok_or_else(|| format!("sudo: {name}: command not found"))?;
            (cmd, req.command[1..].to_vec(), login_shell, req.cwd.clone())
        }
        Shell::Login => {
            let mut args = vec!["-l".to_string()];
            if !req.command.is_empty() {
                args.extend(["-c".to_string(), joined.clone()]);
            }
            (login_shell.clone(), args, login_shell, target.home.clone())
        }
        Shell::Plain => {
            let shell = caller_var("SHELL").unwrap_or(login_shell);
            let args = if req.command.is_empty() {
                Vec::new()
            } else {
                vec!["-c".to_string(), joined.clone()]
            };
            (shell.clone(), args, shell, req.cwd.clone())
        }
    };
    let valid = |k: &str| !k.is_empty() && !k.contains('=') && !k.contains('\0');
    let mut env: Vec<(String, String)> = req
        .env
        .iter()
        .filter(|(k, _)| {
            valid(k)
                && (req.preserve_env
                    || KEPT_VARIABLES.contains(&k.as_str())
                    || k.starts_with("LC_"))
        })
        .cloned()
        .collect();
    let mut set = |k: &str, v: String| {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v));
    };
    set("PATH", SECURE_PATH.into());
    set("HOME", target.home.clone());
    set("USER", target.name.clone());
    set("LOGNAME", target.name.clone());
    set("SHELL", shell);
    set("SUDO_USER", who_name);
    set("SUDO_UID", caller.to_string());
    set(
        "SUDO_GID",
        who.as_ref().map_or(caller, |u| u.gid).to_string(),
    );
    set(
        "SUDO_COMMAND",
        if req.command.is_empty() {
            cmd.clone()
        } else {
            joined
        },
    );
    for (k, v) in req.set_env.iter().filter(|(k, _)| valid(k)) {
        set(k, v.clone());
    }
    Ok(SpawnRequest {
        req: 0,
        cmd,
        args,
        env,
        cwd,
        uid: target.uid,
        gid: target.gid,
        groups: target.groups.clone(),
        stdin: false,
        pty: None,
    })
}

/// `name` as `execvp` would find it in [`SECURE_PATH`] (a name with a `/` as it is).
fn find_command(name: &str) -> Option<String> {
    if name.contains('/') {
        return Some(name.to_string());
    }
    SECURE_PATH
        .split(':')
        .map(|dir| format!("{dir}/{name}"))
        .find(|path| {
            nix::unistd::access(path.as_str(), nix::unistd::AccessFlags::X_OK).is_ok()
                && std::fs::metadata(path).is_ok_and(|m| m.is_file())
        })
}

/// One argument as a shell reads it back (what `-i` and `-s` hand the shell with `-c`).
fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_for_the_shell() {
        assert_eq!(shell_quote("ls"), "ls");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn messages_keep_their_shape() {
        let call = SudoCall::Run(Box::new(RunRequest {
            command: vec!["id".into()],
            shell: Shell::Login,
            ..Default::default()
        }));
        let text = serde_json::to_string(&call).unwrap();
        assert_eq!(serde_json::from_str::<SudoCall>(&text).unwrap(), call);
        let answer = SudoAnswer::Exited {
            code: Some(3),
            signal: None,
        };
        let text = serde_json::to_string(&answer).unwrap();
        assert_eq!(serde_json::from_str::<SudoAnswer>(&text).unwrap(), answer);
    }
}
