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

/// A larger account file is not read (envd would; a sandbox gains nothing from it but a way
/// to make every call slow).
const MAX_FILE: usize = 1 << 20;

/// The sandbox's `/etc/passwd` and `/etc/group`, as text.
pub struct AccountFiles {
    passwd: String,
    group: String,
}

/// Inside id → name, for the `owner` and `group` of file entries.
#[derive(Debug, Clone, Default)]
pub struct AccountNames {
    pub users: Vec<(u32, String)>,
    pub groups: Vec<(u32, String)>,
}

impl AccountFiles {
    /// Reads both files under `root` (the sandbox's `/` on the host), resolved inside it so
    /// that no symlink of the sandbox's leads out; `None` when `/etc/passwd` is unreadable, not
    /// a regular file or too large. A missing `/etc/group` is an empty one.
    pub fn read(root: &Path) -> Option<AccountFiles> {
        let root = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        Some(AccountFiles {
            passwd: read_small(&root, "etc/passwd")?,
            group: read_small(&root, "etc/group").unwrap_or_default(),
        })
    }

    #[cfg(test)]
    fn from_text(passwd: &str, group: &str) -> AccountFiles {
        AccountFiles {
            passwd: passwd.into(),
            group: group.into(),
        }
    }

    /// The account called `name`: its ids, its home, and every group it is in (its own
    /// first, then those of `/etc/group` that list it as a member). `None` when there is no
    /// such account, or its ids are outside the sandbox's range (no process could take them).
    pub fn user(&self, name: &str) -> Option<User> {
        if name.is_empty() {
            return None;
        }
        let fields = records(&self.passwd).find(|f| f.first() == Some(&name))?;
        let uid = id(fields.get(2))?;
        let gid = id(fields.get(3))?;
        let home = fields.get(5).copied().unwrap_or_default();
        let mut groups = vec![gid];
        for g in records(&self.group) {
            let Some(gid) = id(g.get(2)) else {
                continue;
            };
            let member = g
                .get(3)
                .is_some_and(|m| m.split(',').any(|m| m.trim() == name));
            if member && !groups.contains(&gid) {
                groups.push(gid);
            }
        }
        Some(User {
            name: name.into(),
            uid,
            gid,
            // envd's default for an account without one.
            home: if home.is_empty() {
                "/".into()
            } else {
                home.into()
            },
            groups,
        })
    }

    /// Every account's and group's name by id (the first of an id wins, as `getpwuid` finds).
    pub fn names(&self) -> AccountNames {
        let table = |text: &str| {
            let mut out: Vec<(u32, String)> = Vec::new();
            for f in records(text) {
                if let (Some(name), Some(id)) = (f.first(), id(f.get(2)))
                    && !out.iter().any(|(i, _)| *i == id)
                {
                    out.push((id, (*name).to_string()));
                }
            }
            out
        };
        AccountNames {
            users: table(&self.passwd),
            groups: table(&self.group),
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
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = loop {
        match openat2(root.as_fd(), path, how) {
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
            other => break other.ok()?,
        }
    };
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
    Some(String::from_utf8_lossy(&bytes).into_owned())
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
        let files = AccountFiles::from_text(PASSWD, GROUP);
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
        let files = AccountFiles::from_text(PASSWD, GROUP);
        for name in ["bob", "", "far", "broken", "# a comment", "x"] {
            assert!(files.user(name).is_none(), "{name}");
        }
    }

    #[test]
    fn names_by_id_take_the_first_of_each() {
        let files = AccountFiles::from_text(&format!("{PASSWD}again:x:1500:1:::\n"), GROUP);
        let names = files.names();
        assert!(names.users.contains(&(1500, "alice".into())));
        assert!(!names.users.iter().any(|(_, n)| n == "again"));
        assert!(names.groups.contains(&(2000, "devs".into())));
        assert!(names.groups.contains(&(27, "sudo".into())));
    }

    #[test]
    fn files_are_read_inside_the_root_and_only_when_regular() {
        let dir = std::env::temp_dir().join(format!("sandkit-lookup-{}", std::process::id()));
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("passwd"), PASSWD).unwrap();
        // An absolute symlink resolves inside the root: to its own /etc/passwd.
        std::os::unix::fs::symlink("/etc/passwd", etc.join("group")).unwrap();
        let files = AccountFiles::read(&dir).unwrap();
        assert!(files.user("alice").is_some());
        assert_eq!(files.names().groups.len(), files.names().users.len());
        std::fs::remove_file(etc.join("passwd")).unwrap();
        nix::unistd::mkfifo(&etc.join("passwd"), Mode::from_bits_truncate(0o644)).unwrap();
        assert!(AccountFiles::read(&dir).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
