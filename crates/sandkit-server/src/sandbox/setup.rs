//! The isolated sandbox's filesystem view, built by the agent (PID 1) inside its own mount
//! namespace: the host's root, read-only, with a private `/tmp`, `/run`, `/dev` and `/proc`,
//! the sandbox's own writable `/home/user`, its own `/etc/passwd` and `/etc/group`, and
//! sandkitd's directory of sandboxes hidden. Then `pivot_root` into it.

use super::agent::AgentConfig;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use std::path::{Path, PathBuf};

fn at(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

fn bind(src: &Path, dst: &Path, flags: MsFlags) -> Result<(), String> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | flags,
        None::<&str>,
    )
    .map_err(|e| err("bind-mount onto", dst, e))
}

fn tmpfs(dst: &Path, options: &str) -> Result<(), String> {
    mount(
        Some("tmpfs"),
        dst,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options),
    )
    .map_err(|e| err("mount tmpfs on", dst, e))
}

/// `mount_setattr(2)` with `AT_RECURSIVE`: makes a whole mount tree read-only at once (a
/// remount would only change the top mount of a recursive bind).
fn make_read_only_recursive(path: &Path) -> Result<(), String> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const MOUNT_ATTR_RDONLY: u64 = 0x1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| err("path", path, e))?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: a valid path, a correctly sized attribute struct, no descriptor use.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(err("make read-only", path, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn write_file(path: &Path, content: &str) -> Result<(), String> {
    std::fs::write(path, content).map_err(|e| err("write", path, e))
}

/// Builds the view and moves into it. Runs as root in fresh mount, UTS, IPC, network and PID
/// namespaces.
pub fn isolate(config: &AgentConfig) -> Result<(), String> {
    let dir = Path::new(&config.dir);
    let root = dir.join("root");
    // Nothing done here may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make / private: {e}"))?;
    bind(Path::new("/"), &root, MsFlags::MS_REC)?;
    make_read_only_recursive(&root)?;

    tmpfs(&at(&root, "/tmp"), "mode=1777")?;
    tmpfs(&at(&root, "/run"), "mode=755")?;
    let run_e2b = at(&root, "/run/e2b");
    std::fs::create_dir(&run_e2b).map_err(|e| err("mkdir", &run_e2b, e))?;
    for (name, content) in &config.dot_files {
        write_file(&run_e2b.join(name), content)?;
    }
    tmpfs(&at(&root, "/home"), "mode=755")?;
    let home = at(&root, "/home/user");
    std::fs::create_dir(&home).map_err(|e| err("mkdir", &home, e))?;
    bind(&dir.join("home"), &home, MsFlags::empty())?;

    // Other sandboxes live under the state directory: out of sight (under /tmp it already is).
    let state = at(&root, &config.state_dir);
    if !Path::new(&config.state_dir).starts_with("/tmp") && state.is_dir() {
        tmpfs(&state, "mode=755,size=4k")?;
    }

    for file in ["passwd", "group", "hostname"] {
        let target = at(&root, &format!("/etc/{file}"));
        if target.exists() {
            bind(&dir.join("etc").join(file), &target, MsFlags::empty())?;
        }
    }

    setup_dev(&root)?;
    let proc_dir = at(&root, "/proc");
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| err("mount proc on", &proc_dir, e))?;

    // Into the new root; the old one is detached, so nothing of the host stays reachable
    // except through the read-only bind.
    nix::unistd::chdir(&root).map_err(|e| err("chdir", &root, e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detach the old root: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;

    nix::unistd::sethostname(&config.hostname).map_err(|e| format!("sethostname: {e}"))?;
    loopback_up()?;
    Ok(())
}

/// A minimal `/dev`: the usual character devices bound from the host, a private devpts for
/// terminals, and `/dev/shm`.
fn setup_dev(root: &Path) -> Result<(), String> {
    let dev = at(root, "/dev");
    tmpfs(&dev, "mode=755")?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host = Path::new("/dev").join(name);
        if !host.exists() {
            continue;
        }
        let target = dev.join(name);
        std::fs::File::create(&target).map_err(|e| err("create", &target, e))?;
        bind(&host, &target, MsFlags::empty())?;
    }
    let pts = dev.join("pts");
    std::fs::create_dir(&pts).map_err(|e| err("mkdir", &pts, e))?;
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    )
    .map_err(|e| err("mount devpts on", &pts, e))?;
    let links = [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    for (name, target) in links {
        std::os::unix::fs::symlink(target, dev.join(name))
            .map_err(|e| err("symlink", &dev.join(name), e))?;
    }
    let shm = dev.join("shm");
    std::fs::create_dir(&shm).map_err(|e| err("mkdir", &shm, e))?;
    tmpfs(&shm, "mode=1777")?;
    Ok(())
}

/// Brings `lo` up, so programs in the sandbox can talk to each other over 127.0.0.1.
fn loopback_up() -> Result<(), String> {
    // SAFETY: a datagram socket for the interface ioctls, closed below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(format!("socket: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `ifreq` is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write `req`, which outlives the calls.
    let result = unsafe {
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err("SIOCGIFFLAGS")
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) < 0 {
                Err("SIOCSIFFLAGS")
            } else {
                Ok(())
            }
        }
    };
    let error = std::io::Error::last_os_error();
    // SAFETY: our socket.
    unsafe { libc::close(sock) };
    result.map_err(|what| format!("bring lo up: {what}: {error}"))
}
