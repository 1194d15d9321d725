//! `sudo`'s client, run in a sandbox as `/usr/bin/sudo` (sandkitd's own executable started
//! under that name): it reads sudo's options, hands the command and its own stdin, stdout and
//! stderr to the agent (see `sudo.rs`), passes on the signals it gets, and exits as the
//! command did.

use super::proto::{self, Received};
use super::sudo::{FORWARDED, RunRequest, SOCKET, Shell, SudoAnswer, SudoCall};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
use std::os::fd::{AsFd, AsRawFd};

const USAGE: &str = concat!(
    "usage: sudo [-EHiknsS] [-u user] [-D directory] [VAR=value] [--] command [arg ...]\n",
    "       sudo -i | -s [-u user] [command [arg ...]]\n",
    "       sudo -h | -l | -v | -V\n",
);

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Box<RunRequest>),
    /// Print this (to stdout) and exit with this code: `-h`, `-V`, `-l`, `-v`.
    Print(String, i32),
}

/// Runs as `sudo` with the process's arguments; never returns.
pub fn main() -> ! {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match parse(&args) {
        Ok(Parsed::Print(text, code)) => {
            print!("{text}");
            std::process::exit(code)
        }
        Ok(Parsed::Run(req)) => run(*req),
        Err(message) => {
            eprint!("sudo: {message}\n{USAGE}");
            std::process::exit(1)
        }
    }
}

/// sudo's options (the ones that mean something in a sandbox), then `VAR=value`s, then the
/// command.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut req = RunRequest::default();
    let mut i = 0;
    let value = |i: &mut usize, inline: &str, name: &str| -> Result<String, String> {
        if !inline.is_empty() {
            return Ok(inline.to_string());
        }
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| format!("option requires an argument -- '{name}'"))
    };
    while let Some(arg) = args.get(i) {
        if arg == "--" {
            i += 1;
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = long.split_once('=').unwrap_or((long, ""));
            match name {
                "user" => req.user = Some(value(&mut i, inline, "user")?),
                "chdir" => req.cwd = value(&mut i, inline, "chdir")?,
                "login" => req.shell = Shell::Login,
                "shell" => req.shell = Shell::Plain,
                "preserve-env" => req.preserve_env = true,
                "non-interactive" | "set-home" | "stdin" | "reset-timestamp" => {}
                "help" => return Ok(Parsed::Print(USAGE.into(), 0)),
                "version" => return Ok(Parsed::Print(version(), 0)),
                "list" => return Ok(Parsed::Print(list(), 0)),
                "validate" | "remove-timestamp" => return Ok(Parsed::Print(String::new(), 0)),
                _ => return Err(format!("unrecognized option '--{name}'")),
            }
            i += 1;
            continue;
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            break;
        };
        for (at, flag) in flags.char_indices() {
            let rest = &flags[at + flag.len_utf8()..];
            match flag {
                'u' => {
                    req.user = Some(value(&mut i, rest, "u")?);
                    break;
                }
                'D' => {
                    req.cwd = value(&mut i, rest, "D")?;
                    break;
                }
                'i' => req.shell = Shell::Login,
                's' => req.shell = Shell::Plain,
                'E' => req.preserve_env = true,
                // No password is ever asked for, and HOME is always the account's.
                'n' | 'H' | 'S' | 'k' | 'P' => {}
                'h' => return Ok(Parsed::Print(USAGE.into(), 0)),
                'V' => return Ok(Parsed::Print(version(), 0)),
                'l' => return Ok(Parsed::Print(list(), 0)),
                'v' | 'K' => return Ok(Parsed::Print(String::new(), 0)),
                other => return Err(format!("invalid option -- '{other}'")),
            }
        }
        i += 1;
    }
    while let Some((name, v)) = args.get(i).and_then(|a| assignment(a)) {
        req.set_env.push((name.to_string(), v.to_string()));
        i += 1;
    }
    req.command = args[i.min(args.len())..].to_vec();
    if req.command.is_empty() && req.shell == Shell::None {
        return Err("a command is needed".into());
    }
    Ok(Parsed::Run(Box::new(req)))
}

/// `NAME=value` with a variable's name before the `=`.
fn assignment(arg: &str) -> Option<(&str, &str)> {
    let (name, value) = arg.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some((name, value))
}

fn version() -> String {
    format!(
        "Sudo version 1.9 (sandkit {}: the sandbox's agent runs the command)\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn list() -> String {
    "User may run the following commands on this sandbox:\n    (ALL : ALL) NOPASSWD: ALL\n".into()
}

/// Hands the command to the agent and waits for its end.
fn run(mut req: RunRequest) -> ! {
    let fail = |message: String| -> ! {
        eprintln!("sudo: {message}");
        std::process::exit(1)
    };
    // A closed stdin, stdout or stderr cannot be sent: /dev/null stands in for it.
    for fd in 0..3 {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            // SAFETY: opens onto the lowest free descriptor, which is `fd`.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
    req.env = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    if req.cwd.is_empty() {
        req.cwd = std::env::current_dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into());
    }
    let sock = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap_or_else(|e| fail(format!("socket: {e}")));
    let addr = UnixAddr::new(SOCKET).unwrap_or_else(|e| fail(format!("{SOCKET}: {e}")));
    if let Err(e) = connect(sock.as_raw_fd(), &addr) {
        fail(format!(
            "the sandbox's agent does not answer at {SOCKET} ({e}); sudo works in isolated sandboxes of sandkitd's default template"
        ));
    }
    // Blocked before the request goes: a signal that comes at once is passed on too.
    let mut forwarded = SigSet::empty();
    for sig in FORWARDED {
        forwarded.add(*sig);
    }
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None);
    let signals = SignalFd::with_flags(&forwarded, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .unwrap_or_else(|e| fail(format!("signalfd: {e}")));
    if let Err(e) = proto::send(sock.as_fd(), &SudoCall::Run(Box::new(req)), &[0, 1, 2]) {
        fail(format!("sending the command to the sandbox's agent: {e}"));
    }
    let mut buf = vec![0u8; proto::MAX_MESSAGE];
    loop {
        let (answer_ready, signal_ready) = {
            let mut fds = [
                PollFd::new(sock.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => fail(format!("poll: {e}")),
            }
            let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        if signal_ready {
            while let Ok(Some(info)) = signals.read_signal() {
                let call = SudoCall::Signal {
                    signal: info.ssi_signo as i32,
                };
                let _ = proto::send(sock.as_fd(), &call, &[]);
            }
        }
        if answer_ready {
            match proto::recv::<SudoAnswer>(sock.as_fd(), &mut buf) {
                Ok(Received::Message(SudoAnswer::Exited { code, signal }, _)) => {
                    exit_as(code, signal, &forwarded)
                }
                Ok(Received::Message(SudoAnswer::Refused { message }, _)) => {
                    eprintln!("{message}");
                    std::process::exit(1)
                }
                Ok(Received::Closed) => fail("the sandbox's agent went away".into()),
                Err(e) => fail(format!("reading the agent's answer: {e}")),
            }
        }
    }
}

/// Ends as the command ended: its exit code, or the signal that killed it (as sudo does),
/// else 128 + the signal as a shell reports it.
fn exit_as(code: Option<i32>, signal: Option<i32>, blocked: &SigSet) -> ! {
    if let Some(sig) = signal.and_then(|s| Signal::try_from(s).ok()) {
        // SAFETY: back to the default action, then the signal, unblocked.
        unsafe {
            libc::signal(sig as i32, libc::SIG_DFL);
        }
        let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(blocked), None);
        let _ = nix::sys::signal::raise(sig);
    }
    std::process::exit(code.unwrap_or(128 + signal.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(args: &[&str]) -> RunRequest {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        match parse(&args).unwrap() {
            Parsed::Run(req) => *req,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn options_then_assignments_then_the_command() {
        let req = run_of(&["-E", "-u", "alice", "A=1", "B_2=x=y", "env", "-u", "C=3"]);
        assert_eq!(req.user.as_deref(), Some("alice"));
        assert!(req.preserve_env);
        assert_eq!(
            req.set_env,
            [("A".into(), "1".into()), ("B_2".into(), "x=y".into())]
        );
        assert_eq!(req.command, ["env", "-u", "C=3"]);
        assert_eq!(run_of(&["-nuuser", "id"]).user.as_deref(), Some("user"));
        assert_eq!(run_of(&["--user=bob", "id"]).user.as_deref(), Some("bob"));
        assert_eq!(run_of(&["--", "-weird"]).command, ["-weird"]);
        assert_eq!(run_of(&["1=x", "echo"]).command, ["1=x", "echo"]);
        assert_eq!(run_of(&["-D", "/tmp", "pwd"]).cwd, "/tmp");
    }

    #[test]
    fn shells_need_no_command() {
        let login = run_of(&["-i"]);
        assert_eq!((login.shell, login.command.len()), (Shell::Login, 0));
        assert_eq!(run_of(&["-s", "echo", "hi"]).shell, Shell::Plain);
        assert_eq!(run_of(&["-iu", "user", "pwd"]).shell, Shell::Login);
    }

    #[test]
    fn bad_and_informational_options() {
        let parse_of =
            |args: &[&str]| parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        assert!(parse_of(&[]).unwrap_err().contains("command is needed"));
        assert!(
            parse_of(&["-u"])
                .unwrap_err()
                .contains("requires an argument")
        );
        assert!(
            parse_of(&["-Z", "x"])
                .unwrap_err()
                .contains("invalid option -- 'Z'")
        );
        assert!(parse_of(&["--nope"]).unwrap_err().contains("'--nope'"));
        assert!(
            matches!(parse_of(&["-l"]).unwrap(), Parsed::Print(t, 0) if t.contains("NOPASSWD: ALL"))
        );
        assert!(matches!(parse_of(&["-v"]).unwrap(), Parsed::Print(t, 0) if t.is_empty()));
    }
}
