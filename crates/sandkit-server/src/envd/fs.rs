//! Files of one sandbox, reached from the host without ever leaving the sandbox's view.
//!
//! Every path is resolved with `openat2(RESOLVE_IN_ROOT)` against the sandbox's root
//! directory (`/proc/<agent>/root` when isolated): `..` stops at the sandbox's `/`, and a
//! symlink to `/etc/passwd` means the sandbox's `/etc/passwd`, never the host's. Operations
//! then act on the resolved parent directory by descriptor (`*at` calls), so a path swapped
//! for a symlink between resolving and acting cannot redirect them either.
//!
//! These calls block; callers run them on tokio's blocking pool.

use crate::sandbox::User;
use crate::sandbox::ids::IdMap;
use crate::sandbox::lookup::AccountNames;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

/// Why a filesystem operation failed, in the terms the protocol reports.
#[derive(Debug)]
pub enum FsError {
    NotFound(String),
    AlreadyExists(String),
    /// A directory where a file is needed, or the reverse, or a bad path.
    Invalid(String),
    NoSpace(String),
    /// The user may not (a name in a directory only root may change, say).
    PermissionDenied(String),
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
            Errno::EACCES | Errno::EPERM => {
                FsError::PermissionDenied(format!("{what}: permission denied"))
            }
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
            | FsError::PermissionDenied(m)
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
    /// For a symlink: what it resolves to (absolute, inside the sandbox), or its own path when
    /// it resolves to nothing.
    pub symlink_target: Option<String>,
    /// The `user.e2b.*` extended attributes, without the prefix.
    pub metadata: BTreeMap<String, String>,
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
    names: Arc<AccountNames>,
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

/// The mode as Go's `FileMode.String()` writes it, which is what envd sends: one letter per
/// special bit (`d`, `L`, `D`, `p`, `S`, `u`, `g`, `c`, `t`, in Go's order), `-` when there
/// is none, then `rwxrwxrwx`.
fn permissions(st: &FileStat) -> String {
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let bits = st.st_mode;
    let flags = [
        ('d', kind == SFlag::S_IFDIR),
        ('L', kind == SFlag::S_IFLNK),
        ('D', kind == SFlag::S_IFBLK || kind == SFlag::S_IFCHR),
        ('p', kind == SFlag::S_IFIFO),
        ('S', kind == SFlag::S_IFSOCK),
        ('u', bits & libc::S_ISUID != 0),
        ('g', bits & libc::S_ISGID != 0),
        ('c', kind == SFlag::S_IFCHR),
        ('t', bits & libc::S_ISVTX != 0),
    ];
    let mut s = String::with_capacity(12);
    s.extend(flags.iter().filter(|(_, on)| *on).map(|(c, _)| *c));
    if s.is_empty() {
        s.push('-');
    }
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
    /// Opens the sandbox rooted at `root` (a directory path on the host) whose ids are `ids`,
    /// for `user`: what it creates or writes becomes the user's. As envd's, the calls act with
    /// the sandbox root's rights whoever the user is; the user drives only path resolution
    /// and ownership.
    pub fn open(root: &Path, ids: IdMap, user: &User) -> FsResult<SandboxFs> {
        let root = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| FsError::Other(format!("the sandbox's filesystem is unavailable: {e}")))?;
        Ok(SandboxFs {
            root,
            ids,
            uid: ids.to_host(user.uid),
            gid: ids.to_host(user.gid),
            names: user.names.clone(),
        })
    }

    /// The name a process in the sandbox sees for host id `host` in `table` (an unmapped id is
    /// the kernel's overflow id, 65534); the number when it has none.
    fn name_of(&self, table: &[(u32, String)], host: u32) -> String {
        let id = self.ids.to_inside(host).unwrap_or(OVERFLOW_ID);
        table
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

    /// What `name` in `parent` is, as envd reports it: a symlink with the type and mode of
    /// what it resolves to and that resolved path as `symlink_target`; one that resolves to
    /// nothing with no type, mode 0 and its own path.
    fn entry_at(&self, parent: &OwnedFd, name: &str, path: &str) -> FsResult<Entry> {
        let st = fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| FsError::from_errno(e, path))?;
        let (file_type, mode, symlink_target, target) = if file_type(&st) == FileType::Symlink {
            match self.eval_symlinks(path) {
                Ok((resolved, target)) => (
                    file_type(&target),
                    target.st_mode & 0o777,
                    Some(resolved.clone()),
                    Some(resolved),
                ),
                Err(_) => (FileType::Other, 0, Some(path.to_string()), None),
            }
        } else {
            (
                file_type(&st),
                st.st_mode & 0o777,
                None,
                Some(path.to_string()),
            )
        };
        let metadata = target.map_or_else(BTreeMap::new, |t| self.metadata_of(&t));
        Ok(Entry {
            name: name.to_string(),
            file_type,
            path: path.to_string(),
            size: st.st_size,
            mode,
            permissions: permissions(&st),
            owner: self.name_of(&self.names.users, st.st_uid),
            group: self.name_of(&self.names.groups, st.st_gid),
            modified_unix_ms: st.st_mtime * 1000 + st.st_mtime_nsec / 1_000_000,
            symlink_target,
            metadata,
        })
    }

    /// `path` with every symlink resolved inside the sandbox (Go's `filepath.EvalSymlinks`,
    /// which envd uses), and what it ends at. Each step stats one name in an already
    /// resolved directory, so no link can lead outside the sandbox.
    fn eval_symlinks(&self, path: &str) -> Result<(String, FileStat), Missing> {
        let mut pending: std::collections::VecDeque<String> =
            path.split('/').map(str::to_string).collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut links = 0;
        let mut last = None;
        while let Some(part) = pending.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    resolved.pop();
                    last = None;
                    continue;
                }
                _ => {}
            }
            let dir_path = format!("/{}", resolved.join("/"));
            let here = if resolved.is_empty() {
                format!("/{part}")
            } else {
                format!("{dir_path}/{part}")
            };
            let dir = self
                .resolve(&dir_path, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
                .map_err(|e| Missing(dir_path.clone(), e))?;
            let st = fstatat(&dir, part.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| Missing(here.clone(), e))?;
            if file_type(&st) != FileType::Symlink {
                resolved.push(part);
                last = Some(st);
                continue;
            }
            links += 1;
            if links > 255 {
                return Err(Missing(here, Errno::ELOOP));
            }
            let target = nix::fcntl::readlinkat(&dir, part.as_str())
                .map_err(|e| Missing(here.clone(), e))?
                .to_string_lossy()
                .into_owned();
            if target.starts_with('/') {
                resolved.clear();
            }
            for (i, p) in target.split('/').enumerate() {
                pending.insert(i, p.to_string());
            }
            last = None;
        }
        let resolved = format!("/{}", resolved.join("/"));
        let st = match last {
            Some(st) => st,
            None => {
                let fd = self
                    .resolve(&resolved, OFlag::O_PATH, Mode::empty())
                    .map_err(|e| Missing(resolved.clone(), e))?;
                nix::sys::stat::fstat(&fd).map_err(|e| Missing(resolved.clone(), e))?
            }
        };
        Ok((resolved, st))
    }

    /// The `user.e2b.*` attributes of `path` (inside the sandbox); none when they cannot be
    /// read, as envd treats them (best effort).
    fn metadata_of(&self, path: &str) -> BTreeMap<String, String> {
        match self.resolve(path, OFlag::O_PATH, Mode::empty()) {
            Ok(fd) => xattr::read(&fd).unwrap_or_default(),
            Err(_) => BTreeMap::new(),
        }
    }

    /// `Stat`: the entry itself (a symlink as envd reports one, see `entry_at`).
    pub fn stat(&self, path: &str) -> FsResult<Entry> {
        let norm = normalize(path);
        let missing = |e: Errno| match e {
            Errno::ENOENT => FsError::NotFound(format!(
                "file not found: lstat {norm}: no such file or directory"
            )),
            e => FsError::Other(format!(
                "error getting file info: lstat {norm}: {}",
                e.desc()
            )),
        };
        if norm == "/" {
            let st = nix::sys::stat::fstat(&self.root).map_err(missing)?;
            return Ok(Entry {
                name: "/".into(),
                file_type: FileType::Directory,
                path: "/".into(),
                size: st.st_size,
                mode: st.st_mode & 0o777,
                permissions: permissions(&st),
                owner: self.name_of(&self.names.users, st.st_uid),
                group: self.name_of(&self.names.groups, st.st_gid),
                modified_unix_ms: st.st_mtime * 1000 + st.st_mtime_nsec / 1_000_000,
                symlink_target: None,
                metadata: self.metadata_of("/"),
            });
        }
        let (parent, name) = split(&norm)?;
        let dir = self
            .resolve(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(missing)?;
        match fstatat(&dir, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(_) => self.entry_at(&dir, &name, &norm),
            Err(e) => Err(missing(e)),
        }
    }

    /// `ListDir`: entries to `depth` levels (1 = the directory's own entries).
    pub fn list(&self, path: &str, depth: u32) -> FsResult<Vec<Entry>> {
        let norm = normalize(path);
        let resolved = match self.eval_symlinks(&norm) {
            Ok((resolved, _)) => resolved,
            Err(Missing(at, Errno::ENOENT)) => {
                return Err(FsError::NotFound(format!(
                    "path not found: lstat {at}: no such file or directory"
                )));
            }
            Err(Missing(_, Errno::ELOOP)) => {
                return Err(FsError::Invalid(format!(
                    "cyclic symlink or chain >255 links at \"{norm}\""
                )));
            }
            Err(Missing(at, e)) => {
                return Err(FsError::Other(format!(
                    "error resolving symlink: lstat {at}: {}",
                    e.desc()
                )));
            }
        };
        let dir = self
            .resolve(&norm, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(|e| match e {
                Errno::ENOTDIR => FsError::Invalid(format!("path is not a directory: {resolved}")),
                e => FsError::from_errno(e, &norm),
            })?;
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
                    FsError::AlreadyExists(format!("directory already exists: {norm}"))
                } else {
                    FsError::Invalid(format!(
                        "path already exists but it is not a directory: {norm}"
                    ))
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
        let (from, to) = (normalize(from), normalize(to));
        let (from_parent, from_name) = split(&from)?;
        let (to_parent, to_name) = split(&to)?;
        let dst = self.make_parents(&to_parent)?;
        let failed = |e: Errno| match e {
            Errno::ENOENT => FsError::NotFound(format!(
                "source file not found: rename {from} {to}: no such file or directory"
            )),
            e => FsError::from_errno(e, &format!("error renaming: rename {from} {to}")),
        };
        let src = self
            .resolve(
                &from_parent,
                OFlag::O_PATH | OFlag::O_DIRECTORY,
                Mode::empty(),
            )
            .map_err(failed)?;
        nix::fcntl::renameat(&src, from_name.as_str(), &dst, to_name.as_str()).map_err(failed)?;
        self.entry_at(&dst, &to_name, &to)
    }

    /// `Remove`: a file, a symlink (not its target), or a directory with everything in it.
    /// A path that is not there is already removed (envd's `os.RemoveAll`).
    pub fn remove(&self, path: &str) -> FsResult<()> {
        let norm = normalize(path);
        let (parent, name) = split(&norm)?;
        let failed = |e: Errno| {
            FsError::from_errno(
                e,
                &format!("error removing file or directory: unlinkat {norm}"),
            )
        };
        let dir = match self.resolve(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()) {
            Ok(dir) => dir,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(failed(e)),
        };
        let st = match fstatat(&dir, name.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(failed(e)),
        };
        match remove_at(&dir, &name, file_type(&st) == FileType::Directory) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(failed(e)),
        }
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
            .map_err(|e| match e {
                Errno::ENOENT => FsError::NotFound(format!("path '{norm}' does not exist")),
                Errno::EISDIR => FsError::Invalid(format!("path '{norm}' is a directory")),
                e => FsError::from_errno(e, &format!("error opening file '{norm}'")),
            })?;
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

    /// Refuses a write to `path` that cannot succeed whatever the bytes: its parents are
    /// made (as envd makes them), and a directory or other non-file in its place is refused.
    pub fn check_write(&self, path: &str) -> FsResult<()> {
        let norm = normalize(path);
        let (parent, _) = split(&norm)?;
        let dir = self.make_parents(&parent).map_err(|e| match e {
            FsError::Invalid(m) => FsError::Other(format!("error ensuring directories: {m}")),
            other => other,
        })?;
        let denied = |e: Errno| FsError::from_errno(e, &format!("error opening file: open {norm}"));
        match self.resolve(&norm, OFlag::O_PATH, Mode::empty()) {
            Ok(fd) => match nix::sys::stat::fstat(&fd).map(|st| file_type(&st)) {
                Ok(FileType::Directory) => {
                    Err(FsError::Invalid(format!("path is a directory: {norm}")))
                }
                Ok(FileType::File) => self
                    .resolve(&norm, OFlag::O_WRONLY | OFlag::O_NONBLOCK, Mode::empty())
                    .map(drop)
                    .map_err(denied),
                Err(_) => Ok(()),
                Ok(_) => Err(FsError::Invalid(format!(
                    "path '{norm}' is not a regular file"
                ))),
            },
            Err(Errno::ENOENT) => nix::unistd::faccessat(
                &dir,
                ".",
                nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
                AtFlags::AT_EACCESS,
            )
            .map_err(denied),
            Err(e) => Err(denied(e)),
        }
    }

    /// Opens a file to be written in place, as envd writes it (parents created, owned by the
    /// user, truncated): a watcher sees `create` (for a new file) and `write`s of the file
    /// itself, never a temporary name. A symlink is written through, inside the sandbox.
    /// Callers serialise writers of one path (see `files.rs`).
    pub fn open_write(&self, path: &str) -> FsResult<FileWrite> {
        let norm = normalize(path);
        let (parent, name) = split(&norm)?;
        let dir = self.make_parents(&parent).map_err(|e| match e {
            FsError::Invalid(m) => FsError::Other(format!("error ensuring directories: {m}")),
            other => other,
        })?;
        let is_dir = || FsError::Invalid(format!("path is a directory: {norm}"));
        let opening = |e: Errno| match e {
            Errno::EISDIR => is_dir(),
            Errno::ENOSPC | Errno::EDQUOT => FsError::NoSpace(format!(
                "not enough inodes available: open {norm}: no space left on device"
            )),
            e => FsError::from_errno(e, &format!("error opening file: open {norm}")),
        };
        let write = OFlag::O_WRONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
        let (fd, created) = match self.resolve(&norm, write, Mode::empty()) {
            Ok(fd) => (fd, false),
            Err(Errno::ENOENT) => {
                // A new name in the resolved parent; a dangling symlink there is followed
                // (created through), as `O_CREAT` does, but then not removed on failure.
                let how = OpenHow::new()
                    .flags(write | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC)
                    .mode(Mode::from_bits_truncate(0o644))
                    .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
                match openat2(dir.as_fd(), name.as_str(), how) {
                    Ok(fd) => (fd, true),
                    Err(Errno::EEXIST) => (
                        self.resolve(
                            &norm,
                            write | OFlag::O_CREAT,
                            Mode::from_bits_truncate(0o644),
                        )
                        .map_err(opening)?,
                        false,
                    ),
                    Err(e) => return Err(opening(e)),
                }
            }
            Err(e) => return Err(opening(e)),
        };
        let st = nix::sys::stat::fstat(&fd).map_err(opening)?;
        if file_type(&st) != FileType::File {
            return Err(if file_type(&st) == FileType::Directory {
                is_dir()
            } else {
                FsError::Invalid(format!("path '{norm}' is not a regular file"))
            });
        }
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty())).map_err(opening)?;
        let _ = nix::unistd::fchown(
            &fd,
            Some(nix::unistd::Uid::from_raw(self.uid)),
            Some(nix::unistd::Gid::from_raw(self.gid)),
        );
        if !created {
            nix::unistd::ftruncate(&fd, 0).map_err(opening)?;
        }
        Ok(FileWrite {
            file: Some(std::fs::File::from(fd)),
            dir,
            name,
            created,
            kept: false,
        })
    }
}

/// The `/proc/self/fd` name of a descriptor: path-based calls through it reach exactly the
/// opened inode (an `O_PATH` one included), wherever it is.
fn fd_path(fd: &impl AsRawFd) -> CString {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// File metadata as envd keeps it: extended attributes `user.e2b.<key>`.
pub mod xattr {
    use super::{BTreeMap, Errno, fd_path};
    use std::os::fd::AsRawFd;

    pub const PREFIX: &str = "user.e2b.";

    fn names(fd: &impl AsRawFd) -> Result<Vec<String>, Errno> {
        let path = fd_path(fd);
        let mut buf = vec![0u8; 1024];
        loop {
            // SAFETY: `path` is a C string and `buf` is writable for its length.
            let n = unsafe { libc::listxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                buf.truncate(n as usize);
                break;
            }
            match Errno::last() {
                Errno::ERANGE if buf.len() < 1 << 16 => buf.resize(buf.len() * 4, 0),
                e => return Err(e),
            }
        }
        Ok(buf
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect())
    }

    fn value(fd: &impl AsRawFd, name: &str) -> Result<Vec<u8>, Errno> {
        let path = fd_path(fd);
        let name = std::ffi::CString::new(name).map_err(|_| Errno::EINVAL)?;
        let mut buf = vec![0u8; 4096];
        loop {
            // SAFETY: both are C strings and `buf` is writable for its length.
            let n = unsafe {
                libc::getxattr(
                    path.as_ptr(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n >= 0 {
                buf.truncate(n as usize);
                return Ok(buf);
            }
            match Errno::last() {
                Errno::ERANGE if buf.len() < 1 << 16 => buf.resize(buf.len() * 4, 0),
                e => return Err(e),
            }
        }
    }

    /// The metadata of the file open as `fd`; empty where the filesystem has no extended
    /// attributes. Values that are not UTF-8 are left out, as envd does.
    pub fn read(fd: &impl AsRawFd) -> Result<BTreeMap<String, String>, Errno> {
        let mut out = BTreeMap::new();
        let names = match names(fd) {
            Ok(n) => n,
            Err(Errno::ENOTSUP) => return Ok(out),
            Err(e) => return Err(e),
        };
        for name in names {
            let Some(key) = name.strip_prefix(PREFIX) else {
                continue;
            };
            match value(fd, &name) {
                Ok(v) => {
                    if let Ok(v) = String::from_utf8(v) {
                        out.insert(key.to_string(), v);
                    }
                }
                Err(Errno::ENODATA) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Replaces the file's whole metadata with `metadata` (keys absent from it are removed).
    /// `ENOTSUP`: the filesystem keeps none (envd then writes the file without it).
    pub fn replace(fd: &impl AsRawFd, metadata: &BTreeMap<String, String>) -> Result<(), Errno> {
        let path = fd_path(fd);
        for name in names(fd)? {
            let Some(key) = name.strip_prefix(PREFIX) else {
                continue;
            };
            if metadata.contains_key(key) {
                continue;
            }
            let name = std::ffi::CString::new(name.as_str()).map_err(|_| Errno::EINVAL)?;
            // SAFETY: both are C strings.
            if unsafe { libc::removexattr(path.as_ptr(), name.as_ptr()) } < 0 {
                match Errno::last() {
                    Errno::ENODATA => {}
                    e => return Err(e),
                }
            }
        }
        for (k, v) in metadata {
            let name = std::ffi::CString::new(format!("{PREFIX}{k}")).map_err(|_| Errno::EINVAL)?;
            // SAFETY: both are C strings and `v` is readable for its length.
            let r = unsafe {
                libc::setxattr(path.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0)
            };
            if r < 0 {
                return Err(Errno::last());
            }
        }
        Ok(())
    }
}

/// The id the kernel shows for one outside the sandbox's range (`nobody`, `nogroup`).
const OVERFLOW_ID: u32 = 65534;

/// A path, or a prefix of it, that does not resolve: where, and why.
#[derive(Debug)]
struct Missing(String, Errno);

/// A file being written in place; see [`SandboxFs::open_write`]. Dropped before
/// [`FileWrite::keep`], a file the write created is removed again, so a failed upload of a
/// new file leaves nothing behind (an existing file is left as far as it was written, as
/// envd leaves it).
pub struct FileWrite {
    file: Option<std::fs::File>,
    dir: OwnedFd,
    name: String,
    created: bool,
    kept: bool,
}

impl FileWrite {
    /// The file to write to.
    pub fn take_file(&mut self) -> Option<std::fs::File> {
        self.file.take()
    }

    /// Keeps the written file (`file`, given back) with `metadata` as its whole metadata;
    /// returns the metadata it now has.
    pub fn keep(
        mut self,
        file: &std::fs::File,
        metadata: &BTreeMap<String, String>,
    ) -> FsResult<BTreeMap<String, String>> {
        self.kept = true;
        match xattr::replace(file, metadata) {
            Ok(()) | Err(Errno::ENOTSUP) => {}
            Err(Errno::ENOSPC) | Err(Errno::EDQUOT) => {
                return Err(FsError::NoSpace(
                    "not enough space for file metadata: no space left on device".into(),
                ));
            }
            Err(e) => {
                return Err(FsError::Other(format!(
                    "error writing file metadata: {}",
                    e.desc()
                )));
            }
        }
        Ok(xattr::read(file).unwrap_or_default())
    }
}

impl Drop for FileWrite {
    fn drop(&mut self) {
        if self.kept || !self.created {
            return;
        }
        let _ = nix::unistd::unlinkat(
            &self.dir,
            self.name.as_str(),
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
