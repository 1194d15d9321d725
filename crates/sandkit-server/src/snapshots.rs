//! Snapshots: copies of a sandbox's disk image that new sandboxes start from, as E2B's
//! snapshots are templates made from a sandbox. Each lives in `<dir>/<id>/`: the image
//! (`disk.img`, sparse) and its record (`snapshot.json`, written last, so a directory without
//! one is an unfinished copy, removed when the server starts). Memory is not kept: a sandbox
//! made from a snapshot starts its processes afresh on the snapshot's files.
//!
//! Each snapshot also keeps a spare copy of its image (`spare.img`), written out to the disk
//! ahead of time, which the next sandbox made from it takes. A fresh copy's pages are still
//! in memory, and attaching it to a loop device writes them out first: for 64 MiB of files,
//! 40 of a create's 110 ms, and the copy itself 25 more.

use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The one tag a snapshot has: E2B's ids and names carry a tag, `default` unless given.
pub const TAG: &str = "default";
const IMAGE: &str = "disk.img";
const RECORD: &str = "snapshot.json";
const SPARE: &str = "spare.img";
/// A spare being written; removed at start, where it is an unfinished one.
const SPARE_NEW: &str = "spare.img.new";

/// One snapshot as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub team: String,
    /// The name given at its creation; it moves to a newer snapshot given the same name.
    pub name: Option<String>,
    /// The sandbox it was made from.
    pub sandbox_id: String,
    /// The template whose layers its sandboxes run on (its own files are the image).
    pub template_id: String,
    /// The first host id of the range that owns the image's files.
    pub host_ids: Option<u32>,
    pub created_ns: i64,
}

impl Snapshot {
    /// Its id as the API reports it: the name if it has one, else the raw id; tagged.
    pub fn snapshot_id(&self) -> String {
        format!("{}:{TAG}", self.name.as_deref().unwrap_or(&self.id))
    }

    /// Its full names, tagged (none when it was not named).
    pub fn names(&self) -> Vec<String> {
        self.name.iter().map(|n| format!("{n}:{TAG}")).collect()
    }

    /// Whether `reference` names it: its id or name, bare or with its tag.
    pub fn answers_to(&self, reference: &str) -> bool {
        let bare = reference
            .strip_suffix(TAG)
            .and_then(|r| r.strip_suffix(':'))
            .unwrap_or(reference);
        bare == self.id || self.name.as_deref() == Some(bare)
    }

    /// The order of a listing, newest first.
    fn key(&self) -> (std::cmp::Reverse<i64>, &str) {
        (std::cmp::Reverse(self.created_ns), &self.id)
    }
}

/// Every snapshot of the server.
#[derive(Debug)]
pub struct Snapshots {
    dir: PathBuf,
    all: Mutex<Vec<Snapshot>>,
}

impl Snapshots {
    /// The snapshots kept in `dir` (made if missing); unfinished ones are removed.
    pub fn open(dir: PathBuf) -> std::io::Result<Snapshots> {
        std::fs::create_dir_all(&dir)?;
        let mut all = Vec::new();
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let kept = std::fs::read(entry.path().join(RECORD))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Snapshot>(&bytes).ok());
            match kept {
                Some(snapshot) if entry.file_name() == snapshot.id.as_str() => {
                    let _ = std::fs::remove_file(entry.path().join(SPARE_NEW));
                    all.push(snapshot)
                }
                _ => remove(&entry.path()),
            }
        }
        Ok(Snapshots {
            dir,
            all: Mutex::new(all),
        })
    }

    /// A new, empty snapshot directory and its id; [`Snapshots::add`] makes it a snapshot, and
    /// one never added is removed by [`Snapshots::discard`] (or at the next start).
    pub fn reserve(&self) -> std::io::Result<(String, PathBuf)> {
        let id = crate::random::sandbox_id();
        let dir = self.dir.join(&id);
        std::fs::create_dir(&dir)?;
        Ok((id, dir))
    }

    /// Where the disk image of the snapshot directory `dir` goes.
    pub fn image_in(dir: &Path) -> PathBuf {
        dir.join(IMAGE)
    }

    /// The image of snapshot `id`.
    pub fn image(&self, id: &str) -> PathBuf {
        Self::image_in(&self.dir.join(id))
    }

    /// Where the spare copy of snapshot `id`'s image is, when it has one.
    pub fn spare(&self, id: &str) -> PathBuf {
        self.dir.join(id).join(SPARE)
    }

    /// Gives snapshot `id` a spare copy of its image, written out to the disk, unless it has
    /// one or one is being made. Blocking. A snapshot removed before or meanwhile gets none.
    pub fn refill(&self, id: &str) -> std::io::Result<()> {
        let dir = self.dir.join(id);
        if dir.join(SPARE).exists() {
            return Ok(());
        }
        let new = dir.join(SPARE_NEW);
        match crate::sandbox::disk::sparse_copy(&dir.join(IMAGE), &new) {
            // Being made, or the snapshot is gone.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound
                ) =>
            {
                return Ok(());
            }
            Err(e) => {
                let _ = std::fs::remove_file(&new);
                return Err(e);
            }
            Ok(()) => {}
        }
        let written = std::fs::File::open(&new)
            .and_then(|f| f.sync_data())
            .and_then(|()| std::fs::rename(&new, dir.join(SPARE)));
        if written.is_err() {
            let _ = std::fs::remove_file(&new);
        }
        if !dir.join(RECORD).exists() {
            remove(&dir);
        }
        written
    }

    /// Removes a reserved directory that did not become a snapshot.
    pub fn discard(dir: &Path) {
        remove(dir);
    }

    /// Records `snapshot`, whose image is in its reserved directory. A name another snapshot
    /// of the team has moves to this one.
    pub fn add(&self, snapshot: Snapshot) -> std::io::Result<()> {
        let mut all = self
            .all
            .lock()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        if let Some(name) = &snapshot.name {
            for older in all.iter_mut() {
                if older.team == snapshot.team && older.name.as_ref() == Some(name) {
                    older.name = None;
                    write_record(&self.dir, older)?;
                }
            }
        }
        write_record(&self.dir, &snapshot)?;
        all.push(snapshot);
        Ok(())
    }

    /// The team's snapshot that `reference` names (its id or name, bare or tagged).
    pub fn find(&self, team: &str, reference: &str) -> Option<Snapshot> {
        let all = self.all.lock().ok()?;
        all.iter()
            .find(|s| s.team == team && s.answers_to(reference))
            .cloned()
    }

    /// A page of the team's snapshots, newest first: those made from `sandbox_id` and named by
    /// `name` when given, after the one `after` names (a token from an earlier page). Returns
    /// the page and the token of the next one, if there are more.
    pub fn page(
        &self,
        team: &str,
        sandbox_id: Option<&str>,
        name: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Snapshot>, Option<String>), ApiError> {
        let after = after.map(parse_token).transpose()?;
        let mut matching: Vec<Snapshot> = self
            .all
            .lock()
            .map_err(|e| {
                ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            })?
            .iter()
            .filter(|s| s.team == team)
            .filter(|s| sandbox_id.is_none_or(|id| s.sandbox_id == id))
            .filter(|s| name.is_none_or(|n| s.answers_to(n)))
            .filter(|s| {
                after
                    .as_ref()
                    .is_none_or(|(ns, id)| s.key() > (std::cmp::Reverse(*ns), id.as_str()))
            })
            .cloned()
            .collect();
        matching.sort_by(|a, b| a.key().cmp(&b.key()));
        let more = matching.len() > limit;
        matching.truncate(limit);
        let next = more
            .then(|| {
                matching
                    .last()
                    .map(|s| format!("{}.{}", s.created_ns, s.id))
            })
            .flatten();
        Ok((matching, next))
    }

    /// Removes the team's snapshot that `reference` names; `None` when there is none.
    /// Sandboxes made from it keep their own copies of its files.
    pub fn remove(&self, team: &str, reference: &str) -> Option<Snapshot> {
        let removed = {
            let mut all = self.all.lock().ok()?;
            let at = all
                .iter()
                .position(|s| s.team == team && s.answers_to(reference))?;
            all.remove(at)
        };
        remove(&self.dir.join(&removed.id));
        Some(removed)
    }
}

/// `<created_ns>.<id>` of the last snapshot of a page.
fn parse_token(token: &str) -> Result<(i64, String), ApiError> {
    token
        .split_once('.')
        .and_then(|(ns, id)| Some((ns.parse().ok()?, id.to_string())))
        .ok_or_else(|| ApiError::bad_request("invalid nextToken"))
}

fn write_record(dir: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let at = dir.join(&snapshot.id);
    let temp = at.join(format!("{RECORD}.new"));
    std::fs::write(&temp, serde_json::to_vec(snapshot)?)?;
    std::fs::rename(&temp, at.join(RECORD))
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(id: &str, name: Option<&str>, created_ns: i64) -> Snapshot {
        Snapshot {
            id: id.into(),
            team: "t".into(),
            name: name.map(Into::into),
            sandbox_id: "s".into(),
            template_id: "base".into(),
            host_ids: None,
            created_ns,
        }
    }

    /// A store in a fresh directory `<temp>/snapshots-<test>-<pid>`, with one snapshot per
    /// `(id, name)`, each with its directory and an image holding `image <id>`, made in that
    /// order (the last is the newest).
    fn store_with(test: &str, snapshots: &[(&str, Option<&str>)]) -> (PathBuf, Snapshots) {
        let dir = std::env::temp_dir().join(format!("snapshots-{test}-{}", std::process::id()));
        let snaps = Snapshots::open(dir.clone()).unwrap();
        for (i, (id, name)) in snapshots.iter().enumerate() {
            std::fs::create_dir(dir.join(id)).unwrap();
            std::fs::write(snaps.image(id), format!("image {id}")).unwrap();
            snaps.add(snapshot(id, *name, i as i64)).unwrap();
        }
        (dir, snaps)
    }

    #[test]
    fn answers_to_its_id_and_name_bare_or_tagged() {
        let s = snapshot("abc", Some("mine"), 1);
        for yes in ["abc", "abc:default", "mine", "mine:default"] {
            assert!(s.answers_to(yes), "{yes}");
        }
        for no in ["ab", "mine:v2", "abc:", ":default", "other"] {
            assert!(!s.answers_to(no), "{no}");
        }
        assert_eq!(s.snapshot_id(), "mine:default");
        assert_eq!(snapshot("abc", None, 1).snapshot_id(), "abc:default");
        assert!(snapshot("abc", None, 1).names().is_empty());
    }

    #[test]
    fn pages_newest_first_and_survive_a_removal() {
        let (dir, snaps) = store_with(
            "test",
            &[
                ("a", None),
                ("b", None),
                ("c", None),
                ("d", None),
                ("e", None),
            ],
        );
        let (first, token) = snaps.page("t", None, None, None, 2).unwrap();
        assert_eq!(
            first.iter().map(|s| &s.id[..]).collect::<Vec<_>>(),
            ["e", "d"]
        );
        // The page's last snapshot goes: the next page still starts after it.
        snaps.remove("t", "d").unwrap();
        let (second, token) = snaps.page("t", None, None, token.as_deref(), 2).unwrap();
        assert_eq!(
            second.iter().map(|s| &s.id[..]).collect::<Vec<_>>(),
            ["c", "b"]
        );
        let (third, token) = snaps.page("t", None, None, token.as_deref(), 2).unwrap();
        assert_eq!(third.iter().map(|s| &s.id[..]).collect::<Vec<_>>(), ["a"]);
        assert_eq!(token, None);
        assert!(snaps.page("t", None, None, Some("x"), 2).is_err());
        assert!(
            snaps
                .page("other", None, None, None, 2)
                .unwrap()
                .0
                .is_empty()
        );
        // Kept across a restart; a directory without a record is an unfinished copy, and so
        // is a spare being written.
        std::fs::create_dir(dir.join("unfinished")).unwrap();
        std::fs::write(dir.join("a").join(SPARE_NEW), "half").unwrap();
        let reopened = Snapshots::open(dir.clone()).unwrap();
        assert_eq!(reopened.page("t", None, None, None, 10).unwrap().0.len(), 4);
        assert!(!dir.join("unfinished").exists());
        assert!(!dir.join("a").join(SPARE_NEW).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_spare_copy_is_made_once_and_not_for_a_removed_snapshot() {
        let (dir, snaps) = store_with("spare", &[("a", None), ("b", None)]);
        snaps.refill("a").unwrap();
        assert_eq!(std::fs::read(snaps.spare("a")).unwrap(), b"image a");
        // One is enough: a second refill leaves it as it is.
        std::fs::write(snaps.spare("a"), "kept").unwrap();
        snaps.refill("a").unwrap();
        assert_eq!(std::fs::read(snaps.spare("a")).unwrap(), b"kept");
        // Removed while its copy was made (its record gone): the copy goes with it.
        std::fs::remove_file(dir.join("b").join(RECORD)).unwrap();
        snaps.refill("b").unwrap();
        assert!(!dir.join("b").exists());
        // Removed before: nothing to copy, and no error to report.
        snaps.remove("t", "a").unwrap();
        snaps.refill("a").unwrap();
        assert!(!dir.join("a").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_name_moves_to_the_newer_snapshot() {
        let (dir, snaps) = store_with("name", &[("a", Some("n")), ("b", Some("n"))]);
        assert_eq!(snaps.find("t", "n:default").unwrap().id, "b");
        assert_eq!(snaps.find("t", "a").unwrap().name, None);
        let reopened = Snapshots::open(dir.clone()).unwrap();
        assert_eq!(reopened.find("t", "a").unwrap().name, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
