//! Files of one sandbox, reached from the host without ever leaving the sandbox's view.
//!
//! Every path is resolved with `openat2(RESOLVE_IN_ROOT)` against the sandbox's root
//! directory (`/proc/<agent>/root` when isolated): `..` stops at the sandbox's `/`, and a
//! symlink to `/etc/passwd` means the sandbox's `/etc/passwd`, never the host's. Operations
//! then act on the resolved parent directory by descriptor (`*at` calls), so a path swapped
//! for a symlink between resolving and acting cannot redirect them either.
//!
//! These calls block; callers run them on tokio's blocking pool.

use crate::sandbox::ids::IdMap;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Why a filesystem operation failed, in the terms the protocol reports.
#[derive(Debug)]
pub enum FsError {
    NotFound(String),
    AlreadyExists(String),
    /// A directory where a file is needed, or the reverse, or a bad path.
    Invalid(String),
    NoSpace(String),
    Other(String),
}

impl FsError {
    fn from_errno(e: Errno, what: &str) -> FsError {
        match e {
            Errno::ENOENT => FsError::NotFound(format!("{what}: no such file or directory")),
            Errno::EEXIST => FsError::AlreadyExists(format!("{what}: already exists")),
            Errno::ENOTDIR => FsError::Invalid(format!("{what}: not a directory")),
            Errno::EISDIR => FsError::Invalid(format!("{what}: is a directory")),
            Errno::ENOTEMPTY => FsError::Invalid(format!("{what}: directory not empty")),
            Errno::ELOOP => FsError::Invalid(format!("{what}: too many levels of symbolic links")),
            Errno::ENAMETOOLONG => FsError::Invalid(format!("{what}: file name too long")),
            Errno::ENOSPC | Errno::EDQUOT => FsError::NoSpace(format!("{what}: no space left")),
            Errno::EXDEV => FsError::Invalid(format!("{what}: cannot move across filesystems")),
            // A device with nothing behind it (`/dev/tty` of a process without a terminal).
            Errno::ENXIO => FsError::Invalid(format!("{what}: no such device or address")),
            other => FsError::Other(format!("{what}: {}", other.desc())),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            FsError::NotFound(m)
            | FsError::AlreadyExists(m)
            | FsError::Invalid(m)
            | FsError::NoSpace(m)
            | FsError::Other(m) => m,
        }
    }
}

pub type FsResult<T> = Result<T, FsError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    File,
    Directory,
    Symlink,
    Other,
}

/// `EntryInfo`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub file_type: FileType,
    /// Absolute, as seen inside the sandbox.
    pub path: String,
    pub size: i64,
    pub mode: u32,
    pub permissions: String,
    pub owner: String,
    pub group: String,
    pub modified_unix_ms: i64,
    pub symlink_target: Option<String>,
}

/// A sandbox's filesystem, with the owner given to what it creates.
pub struct SandboxFs {
    root: OwnedFd,
    /// The sandbox's ids on the host.
    ids: IdMap,
    /// The owner of what is created, as host ids.
    uid: u32,
    gid: u32,
    /// Inside id → name, for `owner` and `group`.
    names: Vec<(u32, String)>,
}

/// `path` made absolute and normalised lexically, `..` stopping at `/` (as the kernel does
/// under `RESOLVE_IN_ROOT`).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn split(path: &str) -> FsResult<(String, String)> {
    let norm = normalize(path);
    if norm == "/" {
        return Err(FsError::Invalid(
            "the operation needs a path below /".into(),
        ));
    }
    let (parent, name) = norm.rsplit_once('/').unwrap_or(("", &norm));
    let parent = if parent.is_empty() { "/" } else { parent };
    Ok((parent.to_string(), name.to_string()))
}

fn permissions(st: &FileStat) -> String {
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let first = match kind {
        SFlag::S_IFDIR => 'd',
        SFlag::S_IFLNK => 'L',
        SFlag::S_IFIFO => 'p',
        SFlag::S_IFSOCK => 'S',
        SFlag::S_IFCHR => 'c',
        SFlag::S_IFBLK => 'D',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(first);
    for shift in [6u32, 3, 0] {
        let bits = (st.st_mode >> shift) & 0o7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn file_type(st: &FileStat) -> FileType {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => FileType::File,
        SFlag::S_IFDIR => FileType::Directory,
        SFlag::S_IFLNK => FileType::Symlink,
        _ => FileType::Other,
    }
}

impl SandboxFs {
    /// Opens the sandbox rooted at `root` (a directory path on the host) whose ids are `ids`;
    /// what it creates belongs to `uid`/`gid` (the sandbox's ids).
    pub fn open(
        root: &Path,
        ids: IdMap,
        uid: u32,
        gid: u32,
        names: Vec<(u32, String)>,
    ) -> FsResult<SandboxFs> {
        let root = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| FsError::Other(format!("the sandbox's filesystem is unavailable: {e}")))?;
        Ok(SandboxFs {
            root,
            ids,
            uid: ids.to_host(uid),
            gid: ids.to_host(gid),
            names,
        })
    }

    /// The name a process in the sandbox sees for host id `host` (an unmapped id is the
    /// kernel's overflow id, `nobody`).
    fn name_of(&self, host: u32) -> String {
        let Some(id) = self.ids.to_inside(host) else {
            return "nobody".into();
        };
        self.names
            .iter()
            .find(|(i, _)| *i == id)
            .map_or_else(|| id.to_string(), |(_, n)| n.clone())
    }

    /// Resolves `path` inside the sandbox and opens it with `flags`.
    fn resolve(&self, path: &str, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .mode(mode)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match openat2(self.root.as_fd(), normalize(path).as_str(), how) {
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                other => return other,
            }
        }
    }

    fn dir(&self, path: &str) -> FsResult<OwnedFd> {
        self.resolve(path, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(|e| FsError::from_errno(e, path))
    }

    fn entry_at(&self, parent: &OwnedFd, name: &str, path: &str) -> FsResult<Entry> {
        let st = fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| FsError::from_errno(e, path))?;
        let file_type = file_type(&st);
        let symlink_target = (file_type == FileType::Symlink)
            .then(|| nix::fcntl::readlinkat(parent, name).ok())
            .flatten()
            .map(|t| t.to_string_lossy().into_owned());
        Ok(Entry {
            name: name.to_string(),
            file_type,
            path: path.to_string(),
            size: st.st_size,
            mode: st.st_mode & 0o7777,
            permissions: permissions(&st),
            owner: self.name_of(st.st_uid),
            group: self.name_of(st.st_gid),
            modified_unix_ms: st.st_mtime * 1000 + st.st_mtime_nsec / 1_000_000,
            symlink_target,
        })
    }

    /// `Stat`: the entry itself (a symlink is reported as one).
    pub fn stat(&self, path: &str) -> FsResult<Entry> {
        let norm = normalize(path);
        if norm == "/" {
            let st = nix::sys::stat::fstat(&self.root).map_err(|e| FsError::from_errno(e, "/"))?;
            return Ok(Entry {
                name: "/".into(),
                file_type: FileType::Directory,
                path: "/".into(),
                size: st.st_size,
                mode: st.st_mode & 0o7777,
                permissions: permissions(&st),
                owner: self.name_of(st.st_uid),
                group: self.name_of(st.st_gid),
                modified_unix_ms: st.st_mtime * 1000 + st.st_mtime_nsec / 1_000_000,
                symlink_target: None,
            });
        }
        let (parent, name) = split(&norm)?;
        let dir = self.dir(&parent)?;
        self.entry_at(&dir, &name, &norm)
    }

    /// `ListDir`: entries to `depth` levels (1 = the directory's own entries).
    pub fn list(&self, path: &str, depth: u32) -> FsResult<Vec<Entry>> {
        let norm = normalize(path);
        let dir = self
            .resolve(&norm, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(|e| FsError::from_errno(e, &norm))?;
        let mut out = Vec::new();
        self.list_into(dir, &norm, depth.max(1), &mut out)?;
        Ok(out)
    }

    fn list_into(
        &self,
        dir: OwnedFd,
        path: &str,
        depth: u32,
        out: &mut Vec<Entry>,
    ) -> FsResult<()> {
        let parent = nix::unistd::dup(&dir).map_err(|e| FsError::from_errno(e, path))?;
        let mut names: Vec<String> = Vec::new();
        let mut d = nix::dir::Dir::from_fd(dir).map_err(|e| FsError::from_errno(e, path))?;
        for item in d.iter() {
            let item = item.map_err(|e| FsError::from_errno(e, path))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let child = if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            };
            let Ok(entry) = self.entry_at(&parent, &name, &child) else {
                continue; // gone meanwhile
            };
            let is_dir = entry.file_type == FileType::Directory;
            out.push(entry);
            if depth > 1 && is_dir {
                let how = OpenHow::new()
                    .flags(
                        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    )
                    .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
                if let Ok(sub) = openat2(parent.as_fd(), name.as_str(), how) {
                    self.list_into(sub, &child, depth - 1, out)?;
                }
            }
        }
        Ok(())
    }

    fn chown(&self, parent: &OwnedFd, name: &str) {
        let _ = nix::unistd::fchownat(
            parent,
            name,
            Some(nix::unistd::Uid::from_raw(self.uid)),
            Some(nix::unistd::Gid::from_raw(self.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        );
    }

    /// Creates the directory and its missing parents, owned by the user. `AlreadyExists` if it
    /// was already there.
    pub fn make_dir(&self, path: &str) -> FsResult<Entry> {
        let norm = normalize(path);
        let (parent, name) = split(&norm)?;
        let dir = self.make_parents(&parent)?;
        match nix::sys::stat::mkdirat(&dir, name.as_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) => self.chown(&dir, &name),
            Err(Errno::EEXIST) => {
                let existing = self.entry_at(&dir, &name, &norm)?;
                return Err(if existing.file_type == FileType::Directory {
                    FsError::AlreadyExists(format!("directory '{norm}' already exists"))
                } else {
                    FsError::Invalid(format!("'{norm}' exists and is not a directory"))
                });
            }
            Err(e) => return Err(FsError::from_errno(e, &norm)),
        }
        self.entry_at(&dir, &name, &norm)
    }

    /// Opens directory `path`, creating it and any missing parents.
    fn make_parents(&self, path: &str) -> FsResult<OwnedFd> {
        match self.dir(path) {
            Ok(d) => return Ok(d),
            Err(FsError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let (parent, name) = split(path)?;
        let up = self.make_parents(&parent)?;
        match nix::sys::stat::mkdirat(&up, name.as_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) => self.chown(&up, &name),
            Err(Errno::EEXIST) => {}
            Err(e) => return Err(FsError::from_errno(e, path)),
        }
        self.dir(path)
    }

    /// `Move`.
    pub fn rename(&self, from: &str, to: &str) -> FsResult<Entry> {
        let (from_parent, from_name) = split(from)?;
        let (to_parent, to_name) = split(to)?;
        let src = self.dir(&from_parent)?;
        let dst = self.make_parents(&to_parent)?;
        nix::fcntl::renameat(&src, from_name.as_str(), &dst, to_name.as_str())
            .map_err(|e| FsError::from_errno(e, &normalize(from)))?;
        self.entry_at(&dst, &to_name, &normalize(to))
    }

    /// `Remove`: a file, a symlink (not its target), or a directory with everything in it.
    pub fn remove(&self, path: &str) -> FsResult<()> {
        let norm = normalize(path);
        let (parent, name) = split(&norm)?;
        let dir = self.dir(&parent)?;
        let st = fstatat(&dir, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| FsError::from_errno(e, &norm))?;
        remove_at(&dir, &name, file_type(&st) == FileType::Directory)
            .map_err(|e| FsError::from_errno(e, &norm))
    }

    /// Opens directory `path` (a final symlink followed, inside the sandbox) as an `O_PATH`
    /// descriptor: `NotFound` when it is missing, `Invalid` when it is not a directory.
    pub fn open_dir(&self, path: &str) -> FsResult<OwnedFd> {
        let norm = normalize(path);
        let fd = self
            .resolve(&norm, OFlag::O_PATH, Mode::empty())
            .map_err(|e| FsError::from_errno(e, &norm))?;
        let st = nix::sys::stat::fstat(&fd).map_err(|e| FsError::from_errno(e, &norm))?;
        if file_type(&st) != FileType::Directory {
            return Err(FsError::Invalid(format!(
                "path '{norm}' is not a directory"
            )));
        }
        Ok(fd)
    }

    /// Opens a regular file for reading. Anything else is refused before a byte is read: a
    /// pipe would block sandkitd's reader forever, and `/dev/tty` is sandkitd's own terminal
    /// (hence `O_NONBLOCK` and `O_NOCTTY` on the open itself).
    pub fn open_read(&self, path: &str) -> FsResult<std::fs::File> {
        let norm = normalize(path);
        let fd = self
            .resolve(
                &norm,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
                Mode::empty(),
            )
            .map_err(|e| FsError::from_errno(e, &norm))?;
        let st = nix::sys::stat::fstat(&fd).map_err(|e| FsError::from_errno(e, &norm))?;
        match file_type(&st) {
            FileType::File => {}
            FileType::Directory => {
                return Err(FsError::Invalid(format!("path '{norm}' is a directory")));
            }
            _ => {
                return Err(FsError::Invalid(format!(
                    "path '{norm}' is not a regular file"
                )));
            }
        }
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
            .map_err(|e| FsError::from_errno(e, &norm))?;
        Ok(std::fs::File::from(fd))
    }

    /// Starts writing a file (parents created), owned by the user. The bytes go to a
    /// temporary file next to it, which [`PendingWrite::commit`] renames over the target: a
    /// reader, or a concurrent writer, sees the old file or a new one whole, never a mix.
    pub fn create_write(&self, path: &str) -> FsResult<PendingWrite> {
        let norm = normalize(path);
        let (parent, name) = split(&norm)?;
        let dir = self.make_parents(&parent)?;
        if let Ok(st) = fstatat(&dir, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            && file_type(&st) == FileType::Directory
        {
            return Err(FsError::Invalid(format!("path '{norm}' is a directory")));
        }
        let mut attempt = 0u32;
        let (fd, tmp) = loop {
            let tmp = format!(".{name}.sandkit-{}-{attempt}.tmp", std::process::id());
            let how = OpenHow::new()
                .flags(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC)
                .mode(Mode::from_bits_truncate(0o644))
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
            match openat2(dir.as_fd(), tmp.as_str(), how) {
                Ok(fd) => break (fd, tmp),
                Err(Errno::EEXIST) if attempt < 1000 => attempt += 1,
                Err(e) => return Err(FsError::from_errno(e, &norm)),
            }
        };
        let _ = nix::unistd::fchown(
            &fd,
            Some(nix::unistd::Uid::from_raw(self.uid)),
            Some(nix::unistd::Gid::from_raw(self.gid)),
        );
        Ok(PendingWrite {
            file: Some(std::fs::File::from(fd)),
            dir,
            tmp,
            name,
            path: norm,
            committed: false,
        })
    }
}

/// A file being written; see [`SandboxFs::create_write`]. Dropped without a commit, it leaves
/// the target as it was.
pub struct PendingWrite {
    file: Option<std::fs::File>,
    dir: OwnedFd,
    tmp: String,
    name: String,
    path: String,
    committed: bool,
}

impl PendingWrite {
    /// The file to write to.
    pub fn take_file(&mut self) -> Option<std::fs::File> {
        self.file.take()
    }

    /// Puts the written file in place.
    pub fn commit(mut self) -> FsResult<()> {
        nix::fcntl::renameat(&self.dir, self.tmp.as_str(), &self.dir, self.name.as_str())
            .map_err(|e| FsError::from_errno(e, &self.path))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let _ = nix::unistd::unlinkat(
            &self.dir,
            self.tmp.as_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
    }
}

/// Removes `name` in `dir`, recursively for a directory, never following symlinks.
fn remove_at(dir: &OwnedFd, name: &str, is_dir: bool) -> Result<(), Errno> {
    if !is_dir {
        return nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    }
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    let sub = openat2(dir.as_fd(), name, how)?;
    let handle = nix::unistd::dup(&sub)?;
    let mut children = Vec::new();
    let mut d = nix::dir::Dir::from_fd(sub)?;
    for item in d.iter() {
        let item = item?;
        let child = item.file_name().to_string_lossy().into_owned();
        if child == "." || child == ".." {
            continue;
        }
        let child_is_dir = match item.file_type() {
            Some(nix::dir::Type::Directory) => true,
            Some(_) => false,
            None => fstatat(&handle, child.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map(|st| file_type(&st) == FileType::Directory)
                .unwrap_or(false),
        };
        children.push((child, child_is_dir));
    }
    for (child, child_is_dir) in children {
        match remove_at(&handle, &child, child_is_dir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::RemoveDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_inside_the_root() {
        assert_eq!(normalize("/home/user/../../../etc"), "/etc");
        assert_eq!(normalize("a/./b//c/"), "/a/b/c");
        assert_eq!(normalize(".."), "/");
        assert!(split("/").is_err());
        assert_eq!(split("/a").unwrap(), ("/".into(), "a".into()));
        assert_eq!(split("/a/b/../c").unwrap(), ("/a".into(), "c".into()));
    }
}
