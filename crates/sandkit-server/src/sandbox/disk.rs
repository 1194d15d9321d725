//! Each sandbox's disk: its writable layers live on a filesystem of their own size, an ext4
//! image in the sandbox's directory (a sparse file) mounted from a loop device. A sandbox that
//! fills it gets `ENOSPC` (and its `/files` uploads 507), never the host's disk.
//!
//! The image is made once per sandkitd (`mkfs.ext4`) and copied for each sandbox, holes kept,
//! so a new sandbox's disk takes the 152 KiB of its empty filesystem's metadata. The
//! agent mounts it in the sandbox's mount namespace only, with `discard`: what a sandbox
//! deletes goes back to the host as holes in its image. The loop device is detached by the
//! kernel when the last mount of it goes, with the sandbox's namespace.

use nix::mount::{MsFlags, mount, umount2};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The image's name in a sandbox's directory.
pub const IMAGE: &str = "disk";
/// Where the agent mounts it, in the sandbox's directory (seen in its mount namespace only).
pub const MOUNT: &str = "fs";

/// The ioctls and flags of `linux/loop.h`.
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_GET_STATUS64: libc::c_ulong = 0x4C05;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

/// `struct loop_info64`.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    size_limit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config`: attaches a file and sets its flags in one call, so no device is
/// left attached without `LO_FLAGS_AUTOCLEAR` if the caller dies in between.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// The sandboxes' disks on this machine: the empty image each one starts from.
#[derive(Debug)]
pub struct Disks {
    blank: PathBuf,
    pub size_mb: u32,
}

impl Disks {
    /// Makes the empty filesystem of `size_mb` MiB in `state_dir`. The error says why disks
    /// cannot be limited here (no loop devices, no `mkfs.ext4`).
    pub fn prepare(state_dir: &Path, size_mb: u32) -> Result<Disks, String> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/loop-control")
            .map_err(|e| format!("no loop devices (/dev/loop-control: {e})"))?;
        let blank = state_dir.join("disk.blank");
        let _ = std::fs::remove_file(&blank);
        File::create(&blank)
            .and_then(|f| f.set_len(u64::from(size_mb) << 20))
            .map_err(|e| format!("making {}: {e}", blank.display()))?;
        // A journal (a paused sandbox's files outlive a crash of the host consistent), no
        // blocks reserved for root or for growing the filesystem later (their zeros were
        // 500 KiB of each copy), and the journal and inode tables left unwritten: mkfs writes
        // the superblocks and bitmaps only, 152 KiB for 1 GiB.
        let args = [
            "-q",
            "-F",
            "-m",
            "0",
            "-O",
            "^resize_inode",
            "-E",
            "nodiscard,lazy_itable_init=1,lazy_journal_init=1",
        ];
        let made = ["mkfs.ext4", "/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"]
            .iter()
            .find_map(|mkfs| {
                match std::process::Command::new(mkfs)
                    .args(args)
                    .arg(&blank)
                    .stdin(std::process::Stdio::null())
                    .output()
                {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    other => Some(other),
                }
            });
        match made {
            None => Err("mkfs.ext4 not found (Debian's e2fsprogs has it)".into()),
            Some(Err(e)) => Err(format!("mkfs.ext4: {e}")),
            Some(Ok(out)) if !out.status.success() => Err(format!(
                "mkfs.ext4 failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Some(Ok(_)) => Ok(Disks { blank, size_mb }),
        }
    }

    /// Gives the sandbox directory `dir` its disk image, a copy of the empty one, unless it
    /// has one.
    pub fn provide(&self, dir: &Path) -> io::Result<()> {
        let image = dir.join(IMAGE);
        if image.exists() {
            return Ok(());
        }
        sparse_copy(&self.blank, &image)
    }
}

/// Copies `from` to the new file `to`, its holes left holes (`std::fs::copy` would write a
/// 1 GiB image's zeros out).
pub fn sparse_copy(from: &Path, to: &Path) -> io::Result<()> {
    use nix::unistd::{Whence, lseek};
    let src = File::open(from)?;
    let len = src.metadata()?.len();
    let dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    dst.set_len(len)?;
    let mut buf = vec![0u8; 256 << 10];
    let mut at: i64 = 0;
    while (at as u64) < len {
        let data = match lseek(&src, at, Whence::SeekData) {
            Ok(data) => data,
            Err(nix::errno::Errno::ENXIO) => break,
            Err(e) => return Err(e.into()),
        };
        let hole = lseek(&src, data, Whence::SeekHole)?;
        let mut pos = data as u64;
        while pos < hole as u64 {
            let n = buf.len().min((hole as u64 - pos) as usize);
            src.read_exact_at(&mut buf[..n], pos)?;
            dst.write_all_at(&buf[..n], pos)?;
            pos += n as u64;
        }
        at = hole;
    }
    Ok(())
}

/// Attaches `image` to a free loop device that the kernel detaches when nothing uses it any
/// more, and mounts its filesystem at `at` (in the caller's mount namespace).
pub fn mount_image(image: &Path, at: &Path) -> Result<(), String> {
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}: {e}", image.display());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(|e| err("open", &e))?;
    let control = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")
        .map_err(|e| err("attach", &format!("/dev/loop-control: {e}")))?;
    // Another sandbox may take the device between asking for a free one and attaching to it:
    // then it is busy, and another is asked for.
    for _ in 0..64 {
        // SAFETY: an ioctl without arguments on the loop control device.
        let n = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
        if n < 0 {
            return Err(err("no free loop device for", &io::Error::last_os_error()));
        }
        let path = format!("/dev/loop{n}");
        let device = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(d) => d,
            Err(e) => return Err(err("attach", &format!("{path}: {e}"))),
        };
        // SAFETY: all-zero is a valid `loop_config` (C structs of integers and arrays).
        let mut config: LoopConfig = unsafe { std::mem::zeroed() };
        config.fd = file.as_raw_fd() as u32;
        config.info.flags = LO_FLAGS_AUTOCLEAR;
        // SAFETY: `config` is a `struct loop_config` that outlives the call.
        let r = unsafe { libc::ioctl(device.as_raw_fd(), LOOP_CONFIGURE as _, &config) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EBUSY) {
                continue;
            }
            return Err(err("attach", &format!("{path}: {e}")));
        }
        // Once mounted, the mount holds the device; closing `device` then leaves the mount its
        // only user, and a failed mount detaches it at once.
        return mount(
            Some(path.as_str()),
            at,
            Some("ext4"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOATIME,
            // The image's inode tables are holes, zeros already: the kernel need not write them.
            Some("discard,noinit_itable"),
        )
        .map_err(|e| err(&format!("mount {path} of"), &e));
    }
    Err(err(
        "attach",
        &"every free loop device was taken meanwhile, 64 times",
    ))
}

/// Waits, `limit` at most, until no loop device has `image` attached. A sandbox's last mount
/// of its disk goes with its last process, and the loop device a moment later; but a file of
/// it that someone still holds open keeps that filesystem mounted, and mounting the image again
/// meanwhile would make two filesystems write one file.
pub fn wait_detached(image: &Path, limit: std::time::Duration) -> io::Result<()> {
    let until = std::time::Instant::now() + limit;
    while is_attached(image)? {
        if std::time::Instant::now() >= until {
            return Err(io::Error::other(format!(
                "its disk {} is still mounted from its last run (a file on it held open)",
                image.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Ok(())
}

/// Whether a loop device has the file `image` attached. Each attached device is asked for its
/// file's device and inode, not its name: that name is the path in the mount namespace that
/// attached it, which a sandbox's agent has left by `pivot_root`.
pub fn is_attached(image: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(image)?;
    let (dev, ino) = (meta.dev(), meta.ino());
    let Ok(devices) = std::fs::read_dir("/sys/block") else {
        return Ok(false);
    };
    Ok(devices.flatten().any(|device| {
        // Only an attached device has a backing file.
        if !device.path().join("loop/backing_file").exists() {
            return false;
        }
        let Ok(loop_device) = File::open(Path::new("/dev").join(device.file_name())) else {
            return false;
        };
        // SAFETY: all-zero is a valid `loop_info64`, which the ioctl fills.
        let mut info: LoopInfo64 = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a `struct loop_info64` that outlives the call.
        let r = unsafe { libc::ioctl(loop_device.as_raw_fd(), LOOP_GET_STATUS64 as _, &mut info) };
        r == 0 && info.device == dev && info.inode == ino
    }))
}

/// Runs `work` on the files of `image`, mounted in a mount namespace of a thread of its own
/// (the host and the sandboxes never see it).
pub fn with_image_mounted<T: Send>(
    image: &Path,
    work: impl FnOnce(&Path) -> io::Result<T> + Send,
) -> io::Result<T> {
    // Not while its last run's filesystem is still mounted.
    wait_detached(image, std::time::Duration::from_secs(5))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
                super::mounts::make_everything_private().map_err(io::Error::other)?;
                let at = image.with_extension("mnt");
                std::fs::create_dir_all(&at)?;
                mount_image(image, &at).map_err(io::Error::other)?;
                let result = work(&at);
                let _ = umount2(&at, nix::mount::MntFlags::MNT_DETACH);
                let _ = std::fs::remove_dir(&at);
                result
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the disk image's thread panicked")))
    })
}

/// The bytes in use on the filesystem at `path` (an isolated sandbox's root: its overlay
/// answers for the disk its writable layers are on).
pub fn used_bytes(path: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    Some(
        (s.blocks() as u64)
            .saturating_sub(s.blocks_free() as u64)
            .saturating_mul(s.fragment_size() as u64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_copy_keeps_the_data_and_the_holes() {
        let dir = std::env::temp_dir().join(format!("sandkit-sparse-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let from = dir.join("from");
        let f = File::create(&from).unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        f.write_all_at(&[7u8; 300_000], 10 << 20).unwrap();
        f.write_all_at(b"tail", (64 << 20) - 4).unwrap();
        drop(f);
        sparse_copy(&from, &dir.join("to")).unwrap();
        let (a, b) = (
            std::fs::read(&from).unwrap(),
            std::fs::read(dir.join("to")).unwrap(),
        );
        assert!(a == b, "the copy differs");
        use std::os::unix::fs::MetadataExt;
        let blocks = std::fs::metadata(dir.join("to")).unwrap().blocks() * 512;
        assert!(
            blocks < 4 << 20,
            "{blocks} bytes allocated for 300 KB of data"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
