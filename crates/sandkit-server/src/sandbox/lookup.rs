//! Accounts looked up in the sandbox's own `/etc/passwd` and `/etc/group` at each call, as
//! envd's `user.Lookup` and `user.GroupIds` read them: an account added in the sandbox
//! (`useradd alice`) can run commands and own files at once, and a group joined later
//! (`usermod -aG devs user`) counts from the next call on.

use super::User;
use super::ids::RANGE;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, SFlag, fstat};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A larger account file is not read (envd would; a sandbox gains nothing from it but a way
/// to make every call slow).
const MAX_FILE: usize = 1 << 20;

/// What the sandbox's `/etc/passwd` and `/etc/group` say: its accounts (by name; `None` for a
/// line whose ids are unusable) and the names they give ids.
pub struct AccountFiles {
    users: Vec<(String, Option<User>)>,
    names: Arc<AccountNames>,
    /// Each account's login shell, where it names one.
    shells: Vec<(String, String)>,
}

/// Inside id → name, for the `owner` and `group` of file entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountNames {
    pub users: Vec<(u32, String)>,
    pub groups: Vec<(u32, String)>,
}

/// What identifies a version of both files (device, inode, size, modification and change
/// times): `useradd` and `usermod` write a new file and rename it over the old one.
type Stamp = [Option<[i64; 7]>; 2];

/// The files as last read and their `Stamp` then: a call checks the stamp (two `openat2`
/// and `fstat`; 13 µs a lookup, where reading and parsing both took 50) and reads again only
/// when either file changed.
#[derive(Default)]
pub struct AccountCache(Mutex<Option<(Stamp, Arc<AccountFiles>)>>);

const FILES: [&str; 2] = ["etc/passwd", "etc/group"];

impl AccountCache {
    /// Both files under `root` (the sandbox's `/` on the host), resolved inside it so that no
    /// symlink of the sandbox's leads out; `None` when `/etc/passwd` is unreadable, not a
    /// regular file or too large. A missing `/etc/group` is an empty one.
    pub fn get(&self, root: &Path) -> Option<Arc<AccountFiles>> {
        let root = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let stamp = FILES.map(|f| stamp_of(&root, f));
        let mut cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, files)) = cached.as_ref()
            && *at == stamp
        {
            return Some(files.clone());
        }
        // Read after the stamp was taken: a change in between is seen by the next call.
        let files = Arc::new(AccountFiles::from_text(
            read_small(&root, FILES[0])?,
            read_small(&root, FILES[1]).unwrap_or_default(),
        ));
        *cached = Some((stamp, files.clone()));
        Some(files)
    }
}

impl AccountFiles {
    /// Every account of the files, read once per version of them: a call then only finds its
    /// name. A name given twice is its first line's, as `getpwnam` finds it.
    fn from_text(passwd: String, group: String) -> AccountFiles {
        let names = Arc::new(AccountNames {
            users: names_by_id(&passwd),
            groups: names_by_id(&group),
        });
        // (member, group id) of every membership `/etc/group` lists.
        let mut memberships: Vec<(&str, u32)> = Vec::new();
        for g in records(&group) {
            if let (Some(gid), Some(members)) = (id(g.get(2)), g.get(3)) {
                memberships.extend(
                    members
                        .split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(|m| (m, gid)),
                );
            }
        }
        let mut users: Vec<(String, Option<User>)> = Vec::new();
        let mut shells = Vec::new();
        for f in records(&passwd) {
            let Some(name) = f.first().filter(|n| !n.is_empty()) else {
                continue;
            };
            if users.iter().any(|(n, _)| n == name) {
                continue;
            }
            if let Some(shell) = f.get(6).filter(|s| !s.is_empty()) {
                shells.push(((*name).to_string(), (*shell).to_string()));
            }
            let user = (|| {
                let (uid, gid) = (id(f.get(2))?, id(f.get(3))?);
                let mut groups = vec![gid];
                for (_, g) in memberships.iter().filter(|(m, _)| m == name) {
                    if !groups.contains(g) {
                        groups.push(*g);
                    }
                }
                let home = f.get(5).copied().unwrap_or_default();
                Some(User {
                    name: (*name).to_string(),
                    uid,
                    gid,
                    // envd's default for an account without one.
                    home: if home.is_empty() { "/" } else { home }.to_string(),
                    groups,
                    names: names.clone(),
                })
            })();
            users.push(((*name).to_string(), user));
        }
        AccountFiles {
            users,
            names,
            shells,
        }
    }

    /// The account called `name`: its ids, its home, and every group it is in (its own
    /// first, then those of `/etc/group` that list it as a member). `None` when there is no
    /// such account, or its ids are outside the sandbox's range (no process could take them).
    pub fn user(&self, name: &str) -> Option<User> {
        self.users.iter().find(|(n, _)| n == name)?.1.clone()
    }

    /// The account whose id is `uid` (the first line with it, as `getpwuid` finds).
    pub fn by_uid(&self, uid: u32) -> Option<User> {
        let (_, name) = self.names.users.iter().find(|(id, _)| *id == uid)?;
        self.user(name)
    }

    /// The login shell of the account called `name`, where its line names one.
    pub fn shell(&self, name: &str) -> Option<&str> {
        let (_, shell) = self.shells.iter().find(|(n, _)| n == name)?;
        Some(shell)
    }

    /// Every account's and group's name by id.
    pub fn names(&self) -> Arc<AccountNames> {
        self.names.clone()
    }
}

/// The name of each id in a passwd- or group-like file (the first of an id wins, as
/// `getpwuid` finds).
fn names_by_id(text: &str) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = Vec::new();
    for f in records(text) {
        if let (Some(name), Some(id)) = (f.first(), id(f.get(2)))
            && !out.iter().any(|(i, _)| *i == id)
        {
            out.push((id, (*name).to_string()));
        }
    }
    out
}

/// The file's [`Stamp`] half, resolved as [`read_small`] resolves it; `None` when it is not
/// there.
fn stamp_of(root: &OwnedFd, path: &str) -> Option<[i64; 7]> {
    let fd = open_in(root, path, OFlag::O_PATH)?;
    let st = fstat(&fd).ok()?;
    Some([
        st.st_dev as i64,
        st.st_ino as i64,
        st.st_size,
        st.st_mtime,
        st.st_mtime_nsec,
        st.st_ctime,
        st.st_ctime_nsec,
    ])
}

/// `path` under `root`, opened with `flags`, resolved inside it.
fn open_in(root: &OwnedFd, path: &str, flags: OFlag) -> Option<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    loop {
        match openat2(root.as_fd(), path, how) {
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
            other => return other.ok(),
        }
    }
}

/// The colon-separated fields of each line that is not blank or a comment.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

/// An id field within the sandbox's range.
fn id(field: Option<&&str>) -> Option<u32> {
    field?.parse().ok().filter(|i| *i < RANGE)
}

/// A regular file of at most [`MAX_FILE`] bytes at `path` under `root`, as UTF-8 (lossily).
/// Opened without blocking, so a FIFO put in its place cannot hold the call.
fn read_small(root: &OwnedFd, path: &str) -> Option<String> {
    let fd = open_in(
        root,
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
    )?;
    let st = fstat(&fd).ok()?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG
        || st.st_size as u64 > MAX_FILE as u64
    {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() > MAX_FILE {
        return None;
    }
    Some(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        # a comment\n\
        user:x:1000:1000:user:/home/user:/bin/bash\n\
        alice:x:1500:1500::/home/alice:/bin/sh\n\
        nohome:x:1600:1600::::\n\
        far:x:70000:70000::/far:/bin/sh\n\
        broken:x:abc:1:::\n";
    const GROUP: &str = "root:x:0:\nsudo:x:27:user\nuser:x:1000:\n\
        devs:x:2000:alice, user\nalice:x:1500:\nalso:x:2001:bob,alice\nbad:x:zz:alice\n";

    #[test]
    fn an_account_has_its_ids_home_and_every_group_it_is_in() {
        let files = AccountFiles::from_text(PASSWD.into(), GROUP.into());
        let alice = files.user("alice").unwrap();
        assert_eq!((alice.uid, alice.gid), (1500, 1500));
        assert_eq!(alice.home, "/home/alice");
        assert_eq!(alice.groups, vec![1500, 2000, 2001]);
        let user = files.user("user").unwrap();
        assert_eq!(user.groups, vec![1000, 27, 2000]);
        assert_eq!(files.user("root").unwrap().groups, vec![0]);
        assert_eq!(files.user("nohome").unwrap().home, "/");
    }

    #[test]
    fn unknown_broken_or_out_of_range_accounts_are_none() {
        let files = AccountFiles::from_text(PASSWD.into(), GROUP.into());
        for name in ["bob", "", "far", "broken", "# a comment", "x"] {
            assert!(files.user(name).is_none(), "{name}");
        }
    }

    #[test]
    fn names_by_id_take_the_first_of_each() {
        let files = AccountFiles::from_text(format!("{PASSWD}again:x:1500:1:::\n"), GROUP.into());
        let names = files.names();
        assert!(names.users.contains(&(1500, "alice".into())));
        assert!(!names.users.iter().any(|(_, n)| n == "again"));
        assert!(names.groups.contains(&(2000, "devs".into())));
        assert!(names.groups.contains(&(27, "sudo".into())));
    }

    #[test]
    fn files_are_read_inside_the_root_only_when_regular_and_again_when_changed() {
        let dir = std::env::temp_dir().join(format!("sandkit-lookup-{}", std::process::id()));
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("passwd"), PASSWD).unwrap();
        // An absolute symlink resolves inside the root: to its own /etc/passwd.
        std::os::unix::fs::symlink("/etc/passwd", etc.join("group")).unwrap();
        let cache = AccountCache::default();
        let files = cache.get(&dir).unwrap();
        assert!(files.user("alice").is_some());
        assert_eq!(files.names().groups.len(), files.names().users.len());
        // Unchanged: the same reading. Replaced (as useradd does) or edited: read again.
        assert!(Arc::ptr_eq(&files, &cache.get(&dir).unwrap()));
        std::fs::write(
            etc.join("new"),
            format!("{PASSWD}zed:x:1800:1800::/z:/bin/sh\n"),
        )
        .unwrap();
        std::fs::rename(etc.join("new"), etc.join("passwd")).unwrap();
        assert_eq!(cache.get(&dir).unwrap().user("zed").unwrap().uid, 1800);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(etc.join("passwd"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"amy:x:1900:1900::/a:/bin/sh\n").unwrap();
        drop(f);
        assert_eq!(cache.get(&dir).unwrap().user("amy").unwrap().uid, 1900);
        std::fs::remove_file(etc.join("passwd")).unwrap();
        nix::unistd::mkfifo(&etc.join("passwd"), Mode::from_bits_truncate(0o644)).unwrap();
        assert!(cache.get(&dir).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
