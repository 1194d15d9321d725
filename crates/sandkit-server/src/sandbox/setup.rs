//! The isolated sandbox's view, built by the agent (PID 1) with the host's privileges inside
//! fresh mount, IPC, network and PID namespaces, before it drops them:
//!
//! - `/` and the template's other layers: overlays whose read-only layers are id-mapped to the
//!   sandbox's user namespace, with the sandbox's own files (see [`super::identity`]) on top,
//!   and whose upper directories are the sandbox's own (`u<n>` in its directory, or on its
//!   disk image mounted at `fs/` there: see [`super::disk`]);
//! - private `/tmp`, `/run`, `/dev/shm` (size-limited tmpfs), a minimal `/dev`, a fresh `/proc`
//!   and a read-only `/sys`, with the kernel interfaces container runtimes hide masked;
//! - then `pivot_root` into it: nothing else of the host stays reachable.
//!
//! Every mount is made here, in a mount namespace the sandbox's user namespace does not own, so
//! nothing inside can mount, unmount or remount anything.

use super::agent::AgentConfig;
use super::disk;
use super::identity;
use super::ids::IdMap;
use super::mounts::{self, err};
use super::template::Template;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Sizes of the sandbox's memory-backed directories besides `/tmp`.
const RUN_SIZE: &str = "64m";
const SHM_SIZE: &str = "64m";

/// The character devices of a sandbox's `/dev`: name, major, minor.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Kernel files and directories hidden from sandboxes (as runc's defaults hide them).
const PROC_MASKED: &[&str] = &[
    "kcore",
    "keys",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "latency_stats",
    "acpi",
    "asound",
    "scsi",
];
/// Kernel interfaces shown read-only.
const PROC_READ_ONLY: &[&str] = &["bus", "fs", "irq", "sys", "sysrq-trigger"];
const SYS_MASKED: &[&str] = &["firmware", "devices/virtual/powercap"];

fn at(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn mkdir(path: &Path) -> Result<(), String> {
    std::fs::create_dir(path).map_err(|e| err("mkdir", path, e))
}

fn mkdir_or_kept(path: &Path) -> Result<(), String> {
    match std::fs::create_dir(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(err("mkdir", path, e)),
        _ => Ok(()),
    }
}

/// A directory the sandbox needs (a mount point a template may lack), owned by its root.
fn ensure_dir(path: &Path, ids: &IdMap, mode: u32) -> Result<(), String> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(path).map_err(|e| err("mkdir", path, e))?;
    ids.own(path, 0, 0, mode)
}

/// Where an agent stages what nobody else needs, in memory: a tmpfs of its own mount namespace
/// over `<state>/stage` (the lower layers' mount points, the sandbox's own files).
/// The sandbox's directory on disk gets its overlays' upper and work directories only: each
/// directory made on disk costs a journaled write, which is what setting a sandbox up would
/// otherwise spend most of its time on.
pub const STAGE: &str = "stage";

/// Builds the view and moves into it. `userns`, the sandbox's user namespace when it has one,
/// id-maps the template's layers.
pub fn isolate(
    config: &AgentConfig,
    template: &Template,
    userns: Option<BorrowedFd<'_>>,
) -> Result<(), String> {
    let state = Path::new(&config.state_dir);
    // Overlay options name paths relative to the state directory: short and unescaped.
    nix::unistd::chdir(state).map_err(|e| err("chdir", state, e))?;
    mounts::make_everything_private()?;
    let stage = Path::new(STAGE);
    mounts::tmpfs(stage, MsFlags::empty(), "mode=700")?;
    let ids = &config.ids.unwrap_or(IdMap::IDENTITY);
    let own_files = identity::stage(template, ids, &stage.join("id"))?;
    let dir = Path::new(&config.dir)
        .file_name()
        .map(PathBuf::from)
        .ok_or("the sandbox directory has no name")?;
    let root = dir.join("root");
    let layers = attach_lowers(template, &own_files, userns)?;
    let writable = if config.disk {
        let fs = dir.join(disk::MOUNT);
        mkdir_or_kept(&fs)?;
        disk::mount_image(&dir.join(disk::IMAGE), &fs)?;
        if let Some(from) = config.moved_from {
            IdMap { base: from }
                .move_tree(&fs, *ids)
                .map_err(|e| err("moving the copied files' owners in", &fs, e))?;
        }
        fs
    } else {
        dir.clone()
    };
    mount_overlays(template, &layers, &writable, &root, ids)?;

    // Mount points every template has: the sandbox's own files add any it lacks.
    let tmp = at(&root, "/tmp");
    let host_root = ids.to_host(0);
    let owner = format!("uid={host_root},gid={host_root}");
    mounts::tmpfs(
        &tmp,
        MsFlags::empty(),
        &format!("mode=1777,size={}m,{owner}", config.tmp_size_mb),
    )?;
    let run = at(&root, "/run");
    mounts::tmpfs(
        &run,
        MsFlags::empty(),
        &format!("mode=755,size={RUN_SIZE},{owner}"),
    )?;
    let run_lock = run.join("lock");
    mkdir(&run_lock)?;
    ids.own(&run_lock, 0, 0, 0o1777)?;

    setup_dev(&root, ids, &owner)?;
    setup_proc(&root)?;
    setup_sys(&root)?;
    if template.sudo {
        // sudo's client is this very executable (see `sudo.rs`), read-only in the sandbox.
        let sudo = at(&root, super::sudo::COMMAND);
        mounts::bind(Path::new("/proc/self/exe"), &sudo)?;
        mounts::remount_read_only(&sudo, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)?;
    }

    // Into the new root; the old one is detached, and with it the host's.
    nix::unistd::chdir(&root).map_err(|e| err("chdir", &root, e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detach the old root: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir /: {e}"))?;

    loopback_up()
}

/// Attaches every layer's lowers (id-mapped when the sandbox has a user namespace) at
/// `stage/l/<layer>.<n>`, the sandbox's own files first; returns each layer's lowerdir list.
fn attach_lowers(
    template: &Template,
    own_files: &[Option<PathBuf>],
    userns: Option<BorrowedFd<'_>>,
) -> Result<Vec<Vec<String>>, String> {
    let stage = Path::new(STAGE).join("l");
    mkdir(&stage)?;
    let mut all = Vec::with_capacity(template.layers.len());
    for (i, layer) in template.layers.iter().enumerate() {
        let mut lowers: Vec<String> = own_files[i]
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        for (j, lower) in layer.lowers.iter().enumerate() {
            let at = stage.join(format!("{i}.{j}"));
            mkdir(&at)?;
            match userns {
                Some(ns) => mounts::idmapped_bind(lower, &at, ns)?,
                None => {
                    mounts::bind(lower, &at)?;
                    mounts::remount_read_only(&at, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)?;
                }
            }
            lowers.push(at.to_string_lossy().into_owned());
        }
        all.push(lowers);
    }
    Ok(all)
}

/// Mounts the overlays: `/` first, then the others at once, each by a process of its own. An
/// overlay's mount is mostly the filesystem's journaled writes (its work directory, its
/// checks), which wait on the disk rather than the CPU, so they overlap well.
fn mount_overlays(
    template: &Template,
    lowers: &[Vec<String>],
    dir: &Path,
    root: &Path,
    ids: &IdMap,
) -> Result<(), String> {
    let one = |i: usize| mount_overlay(template, i, &lowers[i], dir, root, ids);
    one(0)?;
    let mut children = Vec::new();
    for i in 1..template.layers.len() {
        let (report_r, report_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        // SAFETY: the agent is single-threaded; the child mounts and exits.
        match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
            nix::unistd::ForkResult::Child => {
                let code = match one(i) {
                    Ok(()) => 0,
                    Err(message) => {
                        let _ = nix::unistd::write(&report_w, message.as_bytes());
                        1
                    }
                };
                // SAFETY: leave without the parent's exit handlers.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(report_w);
                children.push((child, report_r));
            }
        }
    }
    let mut failure = None;
    for (child, report) in children {
        let mut message = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::fs::File::from(report), &mut message);
        let status = nix::sys::wait::waitpid(child, None);
        let ok = matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 0)));
        if !ok && failure.is_none() {
            failure = Some(if message.is_empty() {
                format!("mounting an overlay: {status:?}")
            } else {
                String::from_utf8_lossy(&message).into_owned()
            });
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Layer `i`'s overlay, with its upper and work directories `<dir>/u<i>` and `<dir>/w<i>`.
fn mount_overlay(
    template: &Template,
    i: usize,
    lowers: &[String],
    dir: &Path,
    root: &Path,
    ids: &IdMap,
) -> Result<(), String> {
    let layer = &template.layers[i];
    let (upper, work) = (dir.join(format!("u{i}")), dir.join(format!("w{i}")));
    // A reboot finds them made, the upper one holding the sandbox's files.
    mkdir_or_kept(&upper)?;
    mkdir_or_kept(&work)?;
    // The merged directory shows the upper directory's owner and mode: the template's.
    if let Some(bottom) = layer.lowers.last() {
        let meta = std::fs::metadata(bottom).map_err(|e| err("stat", bottom, e))?;
        ids.own_like(&upper, &meta)?;
    }
    let target = at(root, &layer.target);
    if i > 0 {
        ensure_dir(&target, ids, 0o755)?;
    }
    mounts::overlay(
        &target,
        lowers,
        &upper.to_string_lossy(),
        &work.to_string_lossy(),
    )
}

/// A minimal `/dev`, not writable by the sandbox: the harmless character devices, a private
/// devpts for terminals, and `/dev/shm`.
fn setup_dev(root: &Path, ids: &IdMap, owner: &str) -> Result<(), String> {
    let dev = at(root, "/dev");
    // Not nodev, for the devices below; nothing in the sandbox can make one (a user namespace
    // may not), nor write here (the host's root owns it).
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755,size=64k"),
    )
    .map_err(|e| err("mount tmpfs on", &dev, e))?;
    // Made by the agent while it is still the host's root: cheaper than a bind mount each.
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        nix::sys::stat::mknod(
            &path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(*major, *minor),
        )
        .map_err(|e| err("mknod", &path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| err("chmod", &path, e))?;
    }
    let pts = dev.join("pts");
    mkdir(&pts)?;
    let tty_gid = ids.to_host(5);
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(format!("newinstance,ptmxmode=0666,mode=620,gid={tty_gid}").as_str()),
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
    mkdir(&shm)?;
    mounts::tmpfs(
        &shm,
        MsFlags::empty(),
        &format!("mode=1777,size={SHM_SIZE},{owner}"),
    )?;
    Ok(())
}

/// A fresh `/proc` for the sandbox's PID namespace, with the kernel's settings read-only and
/// its sensitive files masked.
fn setup_proc(root: &Path) -> Result<(), String> {
    let proc_dir = at(root, "/proc");
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| err("mount proc on", &proc_dir, e))?;
    // The sandbox's own network: servers of any user may use low ports (only the sandbox's
    // loopback sees them) and `ping` works without privileges. Best effort: an IPv4-less
    // kernel has no such settings.
    let net = proc_dir.join("sys/net/ipv4");
    let _ = std::fs::write(net.join("ip_unprivileged_port_start"), "0");
    let _ = std::fs::write(net.join("ping_group_range"), "0 2147483647");
    for name in PROC_MASKED {
        mounts::mask(&proc_dir.join(name))?;
    }
    for name in PROC_READ_ONLY {
        let path = proc_dir.join(name);
        if path.exists() {
            mounts::read_only(&path)?;
        }
    }
    // After `sys` is made read-only: that bind of it onto itself would hide a mount below.
    own_boot_id(root)
}

/// A boot id of the sandbox's own, as a VM has one: new at each boot (a resume that reboots
/// gets another), kept while it is paused with its memory. Programs tell reboots apart by it.
/// Written to the sandbox's `/dev` (a tmpfs of its own; an anonymous file cannot be a bind
/// mount's source), mounted over the kernel's, then unlinked: the mount holds the file.
fn own_boot_id(root: &Path) -> Result<(), String> {
    let target = at(root, "/proc/sys/kernel/random/boot_id");
    if !target.exists() {
        return Ok(());
    }
    let source = at(root, "/dev/.boot_id");
    let id = format!("{}\n", crate::random::uuid_v4());
    std::fs::write(&source, id).map_err(|e| err("write", &source, e))?;
    let mounted = mounts::bind(&source, &target)
        .and_then(|()| mounts::remount_read_only(&target, MsFlags::MS_NOSUID | MsFlags::MS_NODEV));
    let _ = std::fs::remove_file(&source);
    mounted
}

/// A read-only `/sys` (the sandbox's network devices only), firmware and power caps masked.
fn setup_sys(root: &Path) -> Result<(), String> {
    let sys = at(root, "/sys");
    mount(
        Some("sysfs"),
        &sys,
        Some("sysfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| err("mount sysfs on", &sys, e))?;
    for name in SYS_MASKED {
        mounts::mask(&sys.join(name))?;
    }
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
