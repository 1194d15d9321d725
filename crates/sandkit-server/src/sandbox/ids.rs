//! Host ids for sandboxes' user namespaces. Each sandbox maps its ids 0..65535 (root, `user`,
//! `nobody` and every system account) onto a range of host ids of its own, so that its root is
//! an unprivileged stranger on the host and no two sandboxes share an owner on disk.
//!
//! Range N is `FIRST + N * RANGE ..`; a range is claimed with an `flock` on a file in a
//! directory that every sandkitd of the machine shares, so two servers never hand out the same
//! range, and the claims of a server that dies are released with its process.

use serde::{Deserialize, Serialize};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Ids per sandbox: the whole 16-bit space a distribution's accounts live in.
pub const RANGE: u32 = 65536;
/// The first host id handed out: far above any real account or `/etc/subuid` range.
pub const FIRST: u32 = 1 << 30;
/// How many ranges fit below 2^32 - 1 (which is "no id").
const SLOTS: u32 = (u32::MAX - FIRST) / RANGE;

/// Where claims live when `/run` can hold them (shared by every sandkitd of the machine).
const SHARED_CLAIMS: &str = "/run/sandkitd/id-ranges";

/// One sandbox's mapping: inside id `i` is host id `base + i`, for `i < RANGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub base: u32,
}

impl IdMap {
    /// The mapping that changes nothing (sandboxes without a user namespace).
    pub const IDENTITY: IdMap = IdMap { base: 0 };

    /// The host id of inside id `id`.
    pub fn to_host(&self, id: u32) -> u32 {
        self.base + id.min(RANGE - 1)
    }

    /// The inside id of host id `host`; `None` when it is not mapped (then the sandbox sees the
    /// kernel's overflow id, `nobody`).
    pub fn to_inside(&self, host: u32) -> Option<u32> {
        if *self == IdMap::IDENTITY {
            return Some(host);
        }
        host.checked_sub(self.base).filter(|i| *i < RANGE)
    }

    /// Gives `path` (made by sandkitd, the host's root) to the sandbox's `uid` and `gid`, with
    /// `mode`: without the chown, the sandbox would see `nobody`'s.
    pub fn own(&self, path: &Path, uid: u32, gid: u32, mode: u32) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let err = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
        std::os::unix::fs::chown(path, Some(self.to_host(uid)), Some(self.to_host(gid)))
            .map_err(|e| err("chown", e))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| err("chmod", e))
    }

    /// Gives `path` the owner and mode a template's `model` has: its ids below [`RANGE`] are
    /// the template's own, mapped like every id of its layers; any other is root's.
    pub fn own_like(&self, path: &Path, model: &std::fs::Metadata) -> Result<(), String> {
        use std::os::unix::fs::MetadataExt;
        let inside = |host: u32| if host < RANGE { host } else { 0 };
        self.own(
            path,
            inside(model.uid()),
            inside(model.gid()),
            model.mode() & 0o7777,
        )
    }

    /// Gives every file under `dir` owned by an id of this range the same id of range `to`
    /// (a sandbox's files moving to another range). Set-user-id and set-group-id bits, which a
    /// change of owner clears, are put back. Symbolic links are changed, not followed.
    pub fn move_tree(&self, dir: &Path, to: IdMap) -> std::io::Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let moved = |id: u32| self.to_inside(id).map_or(id, |i| to.to_host(i));
        let mut stack = vec![dir.to_path_buf()];
        while let Some(path) = stack.pop() {
            let meta = std::fs::symlink_metadata(&path)?;
            let (uid, gid) = (moved(meta.uid()), moved(meta.gid()));
            if (uid, gid) != (meta.uid(), meta.gid()) {
                std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
                let mode = meta.mode() & 0o7777;
                if !meta.file_type().is_symlink() && mode & 0o6000 != 0 {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
                }
            }
            if meta.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    stack.push(entry?.path());
                }
            }
        }
        Ok(())
    }

    /// The line written to `/proc/<pid>/uid_map` and `gid_map`.
    pub fn map_line(&self) -> String {
        format!("0 {} {RANGE}\n", self.base)
    }
}

/// A claimed range; dropping it gives the range back.
#[derive(Debug)]
pub struct IdClaim {
    pub map: IdMap,
    _lock: std::fs::File,
}

impl IdClaim {
    /// A second hold on the same claim: the range is free again only once both are dropped
    /// (the `flock` belongs to the open file, which both share).
    pub fn try_clone(&self) -> std::io::Result<IdClaim> {
        Ok(IdClaim {
            map: self.map,
            _lock: self._lock.try_clone()?,
        })
    }
}

/// Hands out ranges.
#[derive(Debug)]
pub struct IdRanges {
    dir: PathBuf,
    /// Where the next search starts: recently freed ranges are reused last.
    next: AtomicU32,
}

impl IdRanges {
    /// Claims live in `/run/sandkitd/id-ranges`, or under `fallback` (then only this server's
    /// sandboxes are kept apart from each other) when `/run` is not writable.
    pub fn new(fallback: &Path) -> std::io::Result<IdRanges> {
        let dir = match std::fs::create_dir_all(SHARED_CLAIMS) {
            Ok(()) => PathBuf::from(SHARED_CLAIMS),
            Err(_) => {
                let dir = fallback.join(".id-ranges");
                std::fs::create_dir_all(&dir)?;
                dir
            }
        };
        Ok(IdRanges {
            dir,
            next: AtomicU32::new(0),
        })
    }

    /// Claims a free range.
    pub fn claim(&self) -> std::io::Result<IdClaim> {
        let start = self.next.load(Ordering::Relaxed);
        for offset in 0..SLOTS {
            let slot = (start + offset) % SLOTS;
            if let Some(lock) = self.try_lock(slot)? {
                self.next.store((slot + 1) % SLOTS, Ordering::Relaxed);
                return Ok(IdClaim {
                    map: IdMap {
                        base: FIRST + slot * RANGE,
                    },
                    _lock: lock,
                });
            }
        }
        Err(std::io::Error::other(format!(
            "all {SLOTS} host id ranges are in use"
        )))
    }

    /// Claims the range that starts at host id `base` (a sandbox's again, after a restart):
    /// its files on disk are owned by it.
    pub fn claim_base(&self, base: u32) -> std::io::Result<IdClaim> {
        let slot = base
            .checked_sub(FIRST)
            .filter(|o| o % RANGE == 0 && o / RANGE < SLOTS)
            .map(|o| o / RANGE)
            .ok_or_else(|| std::io::Error::other(format!("{base} is not a range's first id")))?;
        match self.try_lock(slot)? {
            Some(lock) => Ok(IdClaim {
                map: IdMap { base },
                _lock: lock,
            }),
            None => Err(std::io::Error::other(format!(
                "host ids {base}+ are in use by another sandbox"
            ))),
        }
    }

    fn try_lock(&self, slot: u32) -> std::io::Result<Option<std::fs::File>> {
        try_flock(&self.dir.join(slot.to_string()))
    }
}

/// An exclusive `flock` on `path` (made if missing), or `None` when another holds it. The
/// lock lasts as long as the returned file is open, and ends with the process.
pub(crate) fn try_flock(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    // SAFETY: flock on a descriptor we own; LOCK_NB never blocks.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(Some(file));
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(None)
    } else {
        Err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_inside_ids_to_the_range_and_back() {
        let m = IdMap { base: FIRST };
        assert_eq!(m.to_host(0), FIRST);
        assert_eq!(m.to_host(1000), FIRST + 1000);
        assert_eq!(m.to_inside(FIRST + 65534), Some(65534));
        assert_eq!(m.to_inside(0), None);
        assert_eq!(m.to_inside(FIRST + RANGE), None);
        assert_eq!(m.map_line(), "0 1073741824 65536\n");
        assert_eq!(IdMap::IDENTITY.to_inside(5), Some(5));
        // The last range ends below u32::MAX, which means "no id".
        assert!(u64::from(FIRST) + u64::from(SLOTS) * u64::from(RANGE) <= u64::from(u32::MAX));
    }

    #[test]
    fn a_tree_moves_to_another_range() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if !nix::unistd::getuid().is_root() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("sandkit-move-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        std::fs::write(dir.join("home/file"), b"x").unwrap();
        std::fs::write(dir.join("setuid"), b"x").unwrap();
        std::os::unix::fs::symlink("file", dir.join("home/link")).unwrap();
        let (from, to) = (
            IdMap { base: FIRST },
            IdMap {
                base: FIRST + RANGE,
            },
        );
        for (path, id) in [
            ("home", 1000),
            ("home/file", 1000),
            ("home/link", 0),
            ("setuid", 0),
        ] {
            std::os::unix::fs::lchown(
                dir.join(path),
                Some(from.to_host(id)),
                Some(from.to_host(id)),
            )
            .unwrap();
        }
        std::fs::set_permissions(dir.join("setuid"), std::fs::Permissions::from_mode(0o4755))
            .unwrap();
        from.move_tree(&dir, to).unwrap();
        for (path, id) in [
            ("home", 1000),
            ("home/file", 1000),
            ("home/link", 0),
            ("setuid", 0),
        ] {
            let meta = std::fs::symlink_metadata(dir.join(path)).unwrap();
            assert_eq!(
                (meta.uid(), meta.gid()),
                (to.to_host(id), to.to_host(id)),
                "{path}"
            );
        }
        let root_owned = std::fs::symlink_metadata(&dir).unwrap();
        assert_eq!(root_owned.uid(), 0, "ids outside the range stay");
        let mode = std::fs::metadata(dir.join("setuid")).unwrap().mode();
        assert_eq!(mode & 0o7777, 0o4755, "the set-user-id bit is kept");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn claims_are_exclusive_until_dropped() {
        let dir = std::env::temp_dir().join(format!("sandkit-ids-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Two instances on one claims directory, as two servers on one machine.
        let a = IdRanges {
            dir: dir.clone(),
            next: AtomicU32::new(0),
        };
        let b = IdRanges {
            dir: dir.clone(),
            next: AtomicU32::new(0),
        };
        let first = a.claim().unwrap();
        let second = b.claim().unwrap();
        assert_ne!(first.map, second.map);
        let base = first.map;
        drop(first);
        let b_again = IdRanges {
            dir: dir.clone(),
            next: AtomicU32::new(0),
        };
        assert_eq!(
            b_again.claim().unwrap().map,
            base,
            "a dropped claim is free"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
