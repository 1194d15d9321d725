//! Each sandbox's own event log, as `GET /sandboxes/{id}/logs` and `/v2/.../logs` serve it:
//! created, paused, resumed, killed, expired, processes started and ended, daemon errors.
//!
//! The whole book is one plain-data value, [`LogBook`] (serde both ways), so a persistent
//! store can write and read it as it is; [`SandboxLogs`] only adds the lock around it.
//!
//! Bounds: the newest [`MAX_ENTRIES`] entries per sandbox. A sandbox's log lives as long as
//! the sandbox (paused included) and [`KEEP_ENDED_MS`] after it ended, for at most
//! [`MAX_ENDED`] ended sandboxes (the longest-ended go first).
//!
//! Timestamps are milliseconds, strictly increasing within one sandbox's log (an entry in
//! the same millisecond as the previous one is stamped one millisecond later), so a
//! timestamp cursor pages without duplicates or gaps.
//!
//! Nothing secret goes in: no tokens, no API keys, no environment values (a process entry
//! names its command and pid only).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// Entries kept per sandbox (the oldest are dropped first).
pub const MAX_ENTRIES: usize = 1000;
/// How long an ended sandbox's log can still be read.
pub const KEEP_ENDED_MS: i64 = 10 * 60 * 1000;
/// Ended sandboxes whose logs are kept at once.
pub const MAX_ENDED: usize = 1000;
/// The longest command text an entry keeps (longer ones are cut, marked with `…`).
const MAX_COMMAND_CHARS: usize = 512;

/// E2B's `LogLevel`, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// The API's spelling back to a level; `None` for anything else.
    pub fn parse(s: &str) -> Option<LogLevel> {
        [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Unix milliseconds, unique within the sandbox's log.
    pub timestamp_ms: i64,
    pub level: LogLevel,
    pub message: String,
    /// Machine-readable details; always `event`, the kind of entry.
    pub fields: BTreeMap<String, String>,
}

/// What happened to a sandbox, to be written down.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Created {
        template: &'a str,
        timeout_secs: u32,
    },
    Paused,
    /// Paused at its timeout (`autoPause`) instead of ending.
    AutoPaused,
    Resumed {
        timeout_secs: u32,
    },
    /// Resumed by a request to its daemon or ports (`autoResume`).
    AutoResumed,
    Killed,
    /// Its time ran out.
    Expired,
    /// sandkitd stopped, and the sandbox with it.
    ServerStopped,
    ProcessStarted {
        pid: i32,
        cmd: &'a str,
        args: &'a [String],
    },
    ProcessEnded {
        pid: i32,
        /// As envd words it: `exit status 3`, `signal: killed`.
        status: &'a str,
        exit_code: i32,
        exited: bool,
    },
    /// Something sandkitd failed to do for the sandbox.
    DaemonError {
        action: &'a str,
        error: &'a str,
    },
}

impl Event<'_> {
    /// Level, message and fields of the entry.
    fn describe(&self) -> (LogLevel, String, Vec<(&'static str, String)>) {
        use Event::*;
        let info = LogLevel::Info;
        match self {
            Created {
                template,
                timeout_secs,
            } => (
                info,
                format!("Sandbox created from template {template}"),
                vec![
                    ("event", "created".into()),
                    ("template", template.to_string()),
                    ("timeoutSeconds", timeout_secs.to_string()),
                ],
            ),
            Paused => (
                info,
                "Sandbox paused".into(),
                vec![("event", "paused".into())],
            ),
            AutoPaused => (
                info,
                "Sandbox paused at its timeout (autoPause)".into(),
                vec![("event", "auto-paused".into())],
            ),
            Resumed { timeout_secs } => (
                info,
                "Sandbox resumed".into(),
                vec![
                    ("event", "resumed".into()),
                    ("timeoutSeconds", timeout_secs.to_string()),
                ],
            ),
            AutoResumed => (
                info,
                "Sandbox resumed by a request (autoResume)".into(),
                vec![("event", "auto-resumed".into())],
            ),
            Killed => (
                info,
                "Sandbox killed".into(),
                vec![("event", "killed".into())],
            ),
            Expired => (
                info,
                "Sandbox reached its timeout and was killed".into(),
                vec![("event", "expired".into())],
            ),
            ServerStopped => (
                LogLevel::Warn,
                "Sandbox ended: sandkitd stopped".into(),
                vec![("event", "server-stopped".into())],
            ),
            ProcessStarted { pid, cmd, args } => {
                let command = command_text(cmd, args);
                (
                    info,
                    format!("Process {pid} started: {command}"),
                    vec![
                        ("event", "process-started".into()),
                        ("pid", pid.to_string()),
                        ("cmd", command),
                    ],
                )
            }
            ProcessEnded {
                pid,
                status,
                exit_code,
                exited,
            } => (
                // A failure is worth a warning; the daemon itself did nothing wrong.
                if *exited && *exit_code == 0 {
                    info
                } else {
                    LogLevel::Warn
                },
                format!("Process {pid} ended: {status}"),
                vec![
                    ("event", "process-ended".into()),
                    ("pid", pid.to_string()),
                    ("exitCode", exit_code.to_string()),
                    ("status", status.to_string()),
                ],
            ),
            DaemonError { action, error } => (
                LogLevel::Error,
                format!("Could not {action}: {error}"),
                vec![
                    ("event", "daemon-error".into()),
                    ("action", action.to_string()),
                    ("error", error.to_string()),
                ],
            ),
        }
    }
}

/// `cmd args…` as one line, cut at [`MAX_COMMAND_CHARS`]: `/bin/bash -l -c 'exit 3'` reads
/// as the caller wrote it.
fn command_text(cmd: &str, args: &[String]) -> String {
    let mut text = cmd.to_string();
    for arg in args {
        text.push(' ');
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        if !plain {
            // Single-quoted as a shell would read it back: ' becomes '\''.
            text.push('\'');
            text.push_str(&arg.replace('\'', "'\\''"));
            text.push('\'');
        } else {
            text.push_str(arg);
        }
    }
    match text.char_indices().nth(MAX_COMMAND_CHARS) {
        Some((cut, _)) => {
            text.truncate(cut);
            text.push('…');
            text
        }
        None => text,
    }
}

/// One sandbox's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxLog {
    /// Only this team may read it.
    pub team: String,
    /// When the sandbox ended, if it has.
    pub ended_ms: Option<i64>,
    /// The newest timestamp handed out, even if its entry has been dropped since.
    pub last_ms: i64,
    /// Oldest first.
    pub entries: VecDeque<LogEntry>,
}

/// Which way a page runs from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first, from the cursor on.
    Forward,
    /// Newest first, from the cursor back.
    Backward,
}

/// What a logs request asks for.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// Unix milliseconds, inclusive: the first timestamp (forward) or the last (backward).
    pub cursor_ms: Option<i64>,
    pub direction: Direction,
    pub limit: usize,
    /// The least severe level returned.
    pub min_level: LogLevel,
    /// Case-sensitive substring of the message.
    pub search: Option<String>,
}

/// Every sandbox's log: the value a persistent store saves and loads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBook {
    pub sandboxes: HashMap<String, SandboxLog>,
}

impl LogBook {
    /// Starts the log of a new sandbox.
    pub fn open(&mut self, id: &str, team: &str, now_ms: i64) {
        self.prune(now_ms);
        self.sandboxes.insert(
            id.to_string(),
            SandboxLog {
                team: team.to_string(),
                ..Default::default()
            },
        );
    }

    /// Writes down `event` for sandbox `id` (nothing if it has no log).
    pub fn record(&mut self, id: &str, event: &Event<'_>, now_ms: i64) {
        let Some(log) = self.sandboxes.get_mut(id) else {
            return;
        };
        let (level, message, fields) = event.describe();
        let timestamp_ms = now_ms.max(log.last_ms.saturating_add(1));
        log.last_ms = timestamp_ms;
        if log.entries.len() >= MAX_ENTRIES {
            log.entries.pop_front();
        }
        log.entries.push_back(LogEntry {
            timestamp_ms,
            level,
            message,
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        });
    }

    /// Writes down how sandbox `id` ended; from now on its log is kept for [`KEEP_ENDED_MS`].
    pub fn end(&mut self, id: &str, event: &Event<'_>, now_ms: i64) {
        self.record(id, event, now_ms);
        if let Some(log) = self.sandboxes.get_mut(id) {
            log.ended_ms.get_or_insert(now_ms);
        }
        self.prune(now_ms);
    }

    /// Drops the logs of sandboxes ended too long ago, and the longest-ended beyond
    /// [`MAX_ENDED`]. Runs on every open and end, so it counts before it copies: when the
    /// limit is passed it keeps nine tenths of it, and the sort comes once per many ends
    /// rather than on each (with thousands of sandboxes ending, it was each kill's main cost).
    fn prune(&mut self, now_ms: i64) {
        let mut ended = 0;
        self.sandboxes.retain(|_, log| match log.ended_ms {
            None => true,
            Some(t) => {
                let keep = now_ms - t < KEEP_ENDED_MS;
                ended += usize::from(keep);
                keep
            }
        });
        if ended <= MAX_ENDED {
            return;
        }
        let mut ended: Vec<(i64, String)> = self
            .sandboxes
            .iter()
            .filter_map(|(id, log)| log.ended_ms.map(|t| (t, id.clone())))
            .collect();
        ended.sort();
        let keep = MAX_ENDED - MAX_ENDED / 10;
        for (_, id) in &ended[..ended.len() - keep] {
            self.sandboxes.remove(id);
        }
    }

    /// One page of the team's sandbox `id`'s log; `None` when the team has no such log.
    pub fn page(&self, team: &str, id: &str, q: &LogQuery, now_ms: i64) -> Option<Vec<LogEntry>> {
        let log = self.sandboxes.get(id).filter(|l| l.team == team)?;
        if log.ended_ms.is_some_and(|t| now_ms - t >= KEEP_ENDED_MS) {
            return None;
        }
        let wanted = |e: &&LogEntry| {
            e.level >= q.min_level && q.search.as_deref().is_none_or(|s| e.message.contains(s))
        };
        let page = match q.direction {
            Direction::Forward => log
                .entries
                .iter()
                .filter(|e| q.cursor_ms.is_none_or(|c| e.timestamp_ms >= c))
                .filter(wanted)
                .take(q.limit)
                .cloned()
                .collect(),
            Direction::Backward => log
                .entries
                .iter()
                .rev()
                .filter(|e| q.cursor_ms.is_none_or(|c| e.timestamp_ms <= c))
                .filter(wanted)
                .take(q.limit)
                .cloned()
                .collect(),
        };
        Some(page)
    }
}

/// The log book behind a lock, shared by the store, the running sandboxes and the API.
#[derive(Debug, Default)]
pub struct SandboxLogs {
    book: Mutex<LogBook>,
}

impl SandboxLogs {
    /// A book to start from (empty, or one a persistent store loaded).
    pub fn new(book: LogBook) -> SandboxLogs {
        SandboxLogs {
            book: Mutex::new(book),
        }
    }

    /// The book under the lock. Never held across an await; nothing panics while holding it,
    /// and a poisoned book is still consistent.
    pub fn lock(&self) -> MutexGuard<'_, LogBook> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the whole book, to be saved.
    pub fn snapshot(&self) -> LogBook {
        self.lock().clone()
    }

    /// Writes down `event` for sandbox `id`, now.
    pub fn record(&self, id: &str, event: &Event<'_>) {
        self.lock().record(id, event, now_ms());
    }
}

/// What a running sandbox writes its own entries with.
#[derive(Debug, Clone)]
pub struct SandboxLogger {
    logs: Arc<SandboxLogs>,
    id: String,
}

impl SandboxLogger {
    pub fn new(logs: Arc<SandboxLogs>, id: &str) -> SandboxLogger {
        SandboxLogger {
            logs,
            id: id.to_string(),
        }
    }

    pub fn record(&self, event: &Event<'_>) {
        self.logs.record(&self.id, event);
    }
}

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> i64 {
    crate::store::now_ns().div_euclid(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn query(direction: Direction, cursor_ms: Option<i64>, limit: usize) -> LogQuery {
        LogQuery {
            cursor_ms,
            direction,
            limit,
            min_level: LogLevel::Debug,
            search: None,
        }
    }

    #[test]
    fn timestamps_are_unique_and_the_bound_drops_the_oldest() {
        let mut book = LogBook::default();
        book.open("s", "t", T0);
        for _ in 0..MAX_ENTRIES + 5 {
            book.record("s", &Event::Paused, T0);
        }
        let all = book
            .page("t", "s", &query(Direction::Forward, None, usize::MAX), T0)
            .unwrap();
        assert_eq!(all.len(), MAX_ENTRIES);
        assert_eq!(all[0].timestamp_ms, T0 + 5);
        assert!(
            all.windows(2)
                .all(|w| w[0].timestamp_ms < w[1].timestamp_ms)
        );
    }

    #[test]
    fn other_teams_and_long_ended_sandboxes_have_no_log() {
        let mut book = LogBook::default();
        book.open("s", "t", T0);
        book.end("s", &Event::Killed, T0);
        let q = query(Direction::Backward, None, 10);
        assert!(book.page("other", "s", &q, T0).is_none());
        assert_eq!(book.page("t", "s", &q, T0).unwrap().len(), 1);
        assert!(book.page("t", "s", &q, T0 + KEEP_ENDED_MS).is_none());
        book.open("s2", "t", T0 + KEEP_ENDED_MS);
        assert!(!book.sandboxes.contains_key("s"), "pruned");
    }

    #[test]
    fn commands_are_quoted_and_cut() {
        let args = ["-c".to_string(), "exit 3".to_string()];
        assert_eq!(command_text("bash", &args), "bash -c 'exit 3'");
        let nested = ["-c".to_string(), "sh -c 'exit 3'".to_string()];
        assert_eq!(
            command_text("bash", &nested),
            r"bash -c 'sh -c '\''exit 3'\'''"
        );
        let long = "x".repeat(MAX_COMMAND_CHARS * 2);
        assert_eq!(
            command_text(&long, &[]).chars().count(),
            MAX_COMMAND_CHARS + 1
        );
    }

    #[test]
    fn the_book_round_trips_through_json() {
        let mut book = LogBook::default();
        book.open("s", "t", T0);
        book.record(
            "s",
            &Event::Created {
                template: "base",
                timeout_secs: 5,
            },
            T0,
        );
        let json = serde_json::to_string(&book).unwrap();
        assert_eq!(serde_json::from_str::<LogBook>(&json).unwrap(), book);
    }
}
