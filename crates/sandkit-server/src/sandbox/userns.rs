//! The sandbox's user namespace. The agent makes it before building the sandbox's view (the
//! id-mapped layers need its mapping), and enters it last, when everything that needs the
//! host's privileges is done. Every other namespace of the sandbox belongs to the host's user
//! namespace, so the sandbox's root holds capabilities over nothing but its own files and
//! processes: it can neither mount, nor change the network, nor set the hostname.

use super::ids::IdMap;
use nix::errno::Errno;
use nix::unistd::{ForkResult, Gid, Uid, fork};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// A user namespace whose ids 0..65535 are `map`'s host ids, as a descriptor. A helper process
/// unshares it and waits while this (privileged, single-threaded) process writes its maps
/// through `proc`, a procfs of this process's PID namespace.
pub fn create(map: &IdMap, proc: &Path) -> Result<OwnedFd, String> {
    let line = map.map_line();
    let pipe =
        || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
    let (ready_r, ready_w) = pipe()?;
    let (hold_r, hold_w) = pipe()?;
    // SAFETY: the agent is single-threaded; the child only makes system calls and exits.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(ready_r);
            drop(hold_w);
            let status = match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0i32,
                Err(e) => e as i32,
            };
            let _ = nix::unistd::write(&ready_w, &status.to_ne_bytes());
            // Wait until the parent has what it needs (it closes its end).
            let _ = nix::unistd::read(&hold_r, &mut [0u8; 1]);
            // SAFETY: leave without running the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(hold_r);
            let mut status = [0u8; 4];
            let read = nix::unistd::read(&ready_r, &mut status);
            let result = match read {
                Ok(4) if i32::from_ne_bytes(status) == 0 => {
                    map_and_open(&proc.join(child.as_raw().to_string()), &line)
                }
                Ok(4) => Err(format!(
                    "unshare(CLONE_NEWUSER): {}",
                    Errno::from_raw(i32::from_ne_bytes(status)).desc()
                )),
                _ => Err("the user namespace helper ended early".to_string()),
            };
            drop(hold_w);
            let _ = nix::sys::wait::waitpid(child, None);
            result
        }
    }
}

fn map_and_open(process: &Path, line: &str) -> Result<OwnedFd, String> {
    for file in ["uid_map", "gid_map"] {
        let path = process.join(file);
        std::fs::write(&path, line).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    let path = process.join("ns/user");
    std::fs::File::open(&path)
        .map(OwnedFd::from)
        .map_err(|e| format!("open {}: {e}", path.display()))
}

/// Moves this process into `ns` as its root (host id `base`), with no supplementary groups.
pub fn enter_as_root(ns: OwnedFd) -> Result<(), String> {
    nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|e| format!("setns(user namespace): {e}"))?;
    drop(ns);
    nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    let (root_g, root_u) = (Gid::from_raw(0), Uid::from_raw(0));
    nix::unistd::setresgid(root_g, root_g, root_g).map_err(|e| format!("setresgid: {e}"))?;
    nix::unistd::setresuid(root_u, root_u, root_u).map_err(|e| format!("setresuid: {e}"))?;
    Ok(())
}
