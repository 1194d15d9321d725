//! The mount calls a sandbox's view is built from. Errors are strings naming the step and the
//! path, for the agent to report to sandkitd.

use nix::mount::{MsFlags, mount};
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

pub fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

fn cpath(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| err("path", path, e))
}

/// Nothing mounted from here on propagates back to the host's namespace.
pub fn make_everything_private() -> Result<(), String> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make / private: {e}"))
}

pub fn bind(src: &Path, dst: &Path) -> Result<(), String> {
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| err("bind-mount onto", dst, e))
}

/// Makes the mount at `path` read-only (with `flags` kept on it).
pub fn remount_read_only(path: &Path, flags: MsFlags) -> Result<(), String> {
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
        None::<&str>,
    )
    .map_err(|e| err("make read-only", path, e))
}

/// `path` becomes a read-only view of itself.
pub fn read_only(path: &Path) -> Result<(), String> {
    bind(path, path)?;
    remount_read_only(path, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
}

pub fn tmpfs(dst: &Path, flags: MsFlags, options: &str) -> Result<(), String> {
    mount(
        Some("tmpfs"),
        dst,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | flags,
        Some(options),
    )
    .map_err(|e| err("mount tmpfs on", dst, e))
}

/// Hides a kernel file (`/dev/null` over it) or directory (an empty read-only tmpfs over it),
/// as container runtimes mask `/proc/kcore` or `/sys/firmware`. Missing paths are skipped.
pub fn mask(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => tmpfs(
            path,
            MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC,
            "size=0,mode=555",
        ),
        Ok(_) => bind(Path::new("/dev/null"), path),
    }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// Mounts `src` read-only at `dst` with its owners shifted by the mapping of `userns`: a file
/// the host's root owns appears owned by the sandbox's root, and so on for every id below
/// 65536. What a sandbox's root writes through an overlay on it is then its own.
pub fn idmapped_bind(src: &Path, dst: &Path, userns: BorrowedFd<'_>) -> Result<(), String> {
    let c_src = cpath(src)?;
    let c_dst = cpath(dst)?;
    // SAFETY: a valid path; the flags make a detached copy of the mount tree.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c_src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | AT_RECURSIVE,
        )
    };
    if tree < 0 {
        return Err(err("open_tree", src, std::io::Error::last_os_error()));
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let empty = c"";
    // SAFETY: our descriptor, an empty path with AT_EMPTY_PATH, a correctly sized struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        return Err(err(
            "id-map the mount of",
            src,
            format!(
                "{e} (sandboxes need id-mapped mounts: Linux 5.19 or later, and the template's \
                 and the state directory's filesystems must support them, as ext4, xfs, btrfs \
                 and, since Linux 6.3, tmpfs do)"
            ),
        ));
    }
    // SAFETY: our detached tree, attached at a valid path.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            c_dst.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(err("move_mount onto", dst, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// An overlay at `dst`. Paths are relative to the working directory (short, and free of the
/// `,` and `:` the option string would need escaped).
pub fn overlay(dst: &Path, lowers: &[String], upper: &str, work: &str) -> Result<(), String> {
    let options = format!(
        "lowerdir={},upperdir={upper},workdir={work}",
        lowers.join(":")
    );
    mount(
        Some("overlay"),
        dst,
        Some("overlay"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| err("mount overlay on", dst, e))
}
