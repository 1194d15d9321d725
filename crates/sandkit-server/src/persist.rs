//! Sandbox records on disk (`--state-dir`): one JSON file per sandbox in `<state>/records`,
//! replaced atomically (a temporary file, fsync, rename, fsync of the directory), so that a
//! record is on disk before the call that changed it answers, and a crash at any instant leaves
//! either the old record or the new one, never a torn one.
//!
//! The files hold the sandboxes' access tokens: the directory is root's alone (0700), each file
//! 0600.

use crate::logs::LogBook;
use crate::store::{Change, SandboxRecord};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The records' directory under the state directory.
pub const RECORDS_DIR: &str = "records";
/// The sandboxes' logs, saved when sandkitd stops.
pub const LOGS_FILE: &str = "logs.json";

/// Writes the store's changes to `<state>/records`.
#[derive(Debug)]
pub struct Persist {
    dir: PathBuf,
    state_dir: PathBuf,
    /// The number of the last change written per sandbox: changes are made in order under the
    /// store's lock but written after it, so an older one that comes late is skipped. Held
    /// while writing, which keeps the writes themselves in order.
    written: Mutex<HashMap<String, u64>>,
}

impl Persist {
    /// Opens (making it if needed) `<state_dir>/records` and reads every record in it. Files
    /// that cannot be read as a record are reported and left alone.
    pub fn open(state_dir: &Path) -> std::io::Result<(Persist, Vec<SandboxRecord>, LogBook)> {
        std::fs::create_dir_all(state_dir)?;
        std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700))?;
        let dir = state_dir.join(RECORDS_DIR);
        std::fs::create_dir_all(&dir)?;
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') {
                // A write that a crash interrupted: the rename never happened.
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(record) => records.push(record),
                Err(e) => eprintln!("sandkitd: skipping {}: {e}", path.display()),
            }
        }
        // Logs are saved at a clean stop only: after a crash, those of before the last start.
        let logs = std::fs::read(state_dir.join(LOGS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok((
            Persist {
                dir,
                state_dir: state_dir.to_path_buf(),
                written: Mutex::new(HashMap::new()),
            },
            records,
            logs,
        ))
    }

    /// Saves the sandboxes' logs (at a clean stop).
    pub fn save_logs(&self, book: &LogBook) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(book).map_err(std::io::Error::other)?;
        write_atomically(&self.state_dir, LOGS_FILE, &bytes)
    }

    /// Writes `changes` (in the order they were made). A failure to write is reported on
    /// stderr: the server goes on with what it has in memory.
    pub fn write(&self, changes: Vec<Change>) {
        let Ok(mut written) = self.written.lock() else {
            return;
        };
        for change in changes {
            let (id, seq) = match &change {
                Change::Saved(r, seq) => (r.id.clone(), *seq),
                Change::Removed(id, seq) => (id.clone(), *seq),
            };
            if written.get(&id).is_some_and(|last| *last >= seq) {
                continue;
            }
            let result = match &change {
                Change::Saved(record, _) => self.save(record),
                Change::Removed(id, _) => self.remove(id),
            };
            if let Err(e) = result {
                eprintln!("sandkitd: could not write the record of sandbox {id}: {e}");
            }
            written.insert(id, seq);
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn save(&self, record: &SandboxRecord) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        write_atomically(&self.dir, &format!("{}.json", record.id), &bytes)
    }

    fn remove(&self, id: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => self.sync_dir(),
        }
    }

    /// A rename or removal is durable once the directory is.
    fn sync_dir(&self) -> std::io::Result<()> {
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

/// Replaces `dir/name` with `bytes` (0600): a temporary file, fsync, rename, fsync of `dir`.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temp = dir.join(format!(".{name}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SandboxSpec, Store};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sandkit-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn every_change_is_on_disk_when_the_call_returns() {
        let dir = temp_dir("changes");
        let (persist, records, logs) = Persist::open(&dir).unwrap();
        assert!(records.is_empty());
        let store = Store::persisted(persist, records, logs);
        let spec = SandboxSpec {
            team: "t".into(),
            timeout_secs: 60,
            ..Default::default()
        };
        let a = store.create(spec.clone(), 1_000_000_000);
        let b = store.create(spec, 1_000_000_000);
        store.pause("t", &a.id, 2_000_000_000).unwrap();
        store.kill("t", &b.id, 2_000_000_000).unwrap();
        // Read back as a restart would, while the first store still runs.
        let (_, mut read, _) = Persist::open(&dir).unwrap();
        assert_eq!(read.len(), 1);
        let back = read.remove(0);
        assert_eq!(back.id, a.id);
        assert_eq!(back.state, sandkit::wire::SandboxState::Paused);
        assert_eq!(back.paused_at_ms, Some(2_000));
        assert_eq!(back.envd_access_token, a.envd_access_token);
        let mode = std::fs::metadata(dir.join(RECORDS_DIR).join(format!("{}.json", a.id)))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_write_is_dropped_and_a_bad_file_skipped() {
        let dir = temp_dir("torn");
        std::fs::create_dir_all(dir.join(RECORDS_DIR)).unwrap();
        std::fs::write(dir.join(RECORDS_DIR).join(".abc.tmp"), b"{\"id\":").unwrap();
        std::fs::write(dir.join(RECORDS_DIR).join("bad.json"), b"not json").unwrap();
        let (_, records, _) = Persist::open(&dir).unwrap();
        assert!(records.is_empty());
        assert!(!dir.join(RECORDS_DIR).join(".abc.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
