//! Each running sandbox's CPU, memory and disk use, sampled at an interval (E2B's is 5 s) and
//! kept as a bounded series per sandbox for `GET /sandboxes/{id}/metrics`.
//!
//! CPU and memory come from the sandbox's cgroup (so they are its own, not the host's); disk
//! is what its writable layers hold. A paused sandbox is not sampled (nothing of it runs), and
//! its series is kept until it ends.

use crate::live::{Live, LiveSandbox};
use crate::store::{SandboxRecord, Store, now_ns};
use sandkit::wire::SandboxMetric;
use sandkit::wire::time::format_rfc3339_millis;
use std::collections::{HashMap, HashSet, VecDeque};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

/// Samples kept per sandbox: about 2 h 45 min at the default interval.
pub const SAMPLES_KEPT: usize = 2_000;
/// Directory entries a disk measurement visits at most: a sandbox with millions of files is
/// reported as the size of the part counted.
const DISK_WALK_LIMIT: usize = 200_000;

const MIB: i64 = 1024 * 1024;

/// Every sandbox's samples.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<HashMap<String, Series>>,
}

#[derive(Debug, Default)]
struct Series {
    samples: VecDeque<SandboxMetric>,
    /// The CPU time counted at the last sample, and when: the next one's CPU use is the
    /// difference.
    last_cpu: Option<(i64, u64)>,
}

/// What one measurement of a sandbox found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// Its CPU time so far in nanoseconds; `None` without a CPU accounting cgroup.
    pub cpu_ns: Option<u64>,
    /// Memory in use and of it page cache, bytes.
    pub memory: Option<u64>,
    pub cache: Option<u64>,
    /// Bytes its writable layers hold.
    pub disk: u64,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Adds a sample of `record`'s sandbox made of `reading`.
    pub fn record(&self, record: &SandboxRecord, reading: Reading) {
        let Ok(mut all) = self.series.lock() else {
            return;
        };
        let series = all.entry(record.id.clone()).or_default();
        let cpu_count = record.spec.cpu_count.max(1);
        // CPU use is a rate between two readings; the first one is only where it starts (its
        // counter also holds the set-up done before the sandbox was handed out).
        let (since_ms, before_ns) = match (series.last_cpu, reading.cpu_ns) {
            (Some(last), _) => last,
            (None, Some(ns)) => {
                series.last_cpu = Some((reading.at_ms, ns));
                return;
            }
            (None, None) => (reading.at_ms, 0),
        };
        let cpu_used_pct = match reading.cpu_ns {
            Some(now_ns) if reading.at_ms > since_ms => {
                let used = now_ns.saturating_sub(before_ns) as f64;
                let available = (reading.at_ms - since_ms) as f64 * 1e6 * f64::from(cpu_count);
                // Two decimals, as E2B reports it.
                ((used / available * 100.0).clamp(0.0, 100.0) * 100.0).round() / 100.0
            }
            _ => 0.0,
        };
        if let Some(ns) = reading.cpu_ns {
            series.last_cpu = Some((reading.at_ms, ns));
        }
        let memory = reading.memory.unwrap_or(0);
        let cache = reading.cache.unwrap_or(0).min(memory);
        if series.samples.len() == SAMPLES_KEPT {
            series.samples.pop_front();
        }
        series.samples.push_back(SandboxMetric {
            timestamp: format_rfc3339_millis(reading.at_ms),
            timestamp_unix: reading.at_ms.div_euclid(1000),
            cpu_count,
            cpu_used_pct,
            mem_used: bytes(memory - cache),
            mem_total: i64::from(record.spec.memory_mb) * MIB,
            mem_cache: bytes(cache),
            disk_used: bytes(reading.disk),
            disk_total: i64::from(record.spec.disk_size_mb) * MIB,
        });
    }

    /// The samples of sandbox `id` taken from `start` to `end` (Unix seconds, both included).
    pub fn range(&self, id: &str, start: Option<i64>, end: Option<i64>) -> Vec<SandboxMetric> {
        let Ok(all) = self.series.lock() else {
            return Vec::new();
        };
        all.get(id).map_or_else(Vec::new, |s| {
            s.samples
                .iter()
                .filter(|m| start.is_none_or(|t| m.timestamp_unix >= t))
                .filter(|m| end.is_none_or(|t| m.timestamp_unix <= t))
                .cloned()
                .collect()
        })
    }

    /// The latest sample of sandbox `id`.
    pub fn latest(&self, id: &str) -> Option<SandboxMetric> {
        self.series.lock().ok()?.get(id)?.samples.back().cloned()
    }

    /// Forgets every sandbox not in `keep` (those that ended).
    fn retain(&self, keep: &HashSet<String>) {
        if let Ok(mut all) = self.series.lock() {
            all.retain(|id, _| keep.contains(id));
        }
    }
}

fn bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Samples every running sandbox every `interval` until `stop` turns true or its sender is
/// gone.
pub async fn run(
    store: Arc<Store>,
    live: Arc<Live>,
    metrics: Arc<Metrics>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut disk = HashMap::new();
    loop {
        tokio::select! {
            _ = ticks.tick() => sample_all(&store, &live, &metrics, &mut disk).await,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

/// One sample of every running sandbox. The readings are taken in one blocking task: one per
/// sandbox made a thread handoff each, which was a third of the sampler's CPU with 2,000
/// sandboxes.
async fn sample_all(
    store: &Store,
    live: &Live,
    metrics: &Metrics,
    disk: &mut HashMap<String, DiskUse>,
) {
    let running: Vec<_> = live
        .all()
        .into_iter()
        .filter_map(|sandbox| {
            let record = store.get_any(&sandbox.id)?;
            (record.state == sandkit::wire::SandboxState::Running).then_some((record, sandbox))
        })
        .collect();
    let mut walkers = std::mem::take(disk);
    let readings = tokio::task::spawn_blocking(move || {
        let readings: Vec<_> = running
            .into_iter()
            .map(|(record, sandbox)| {
                let walker = walkers.entry(record.id.clone()).or_default();
                let reading = read(&sandbox, walker);
                (record, reading)
            })
            .collect();
        (readings, walkers)
    })
    .await;
    if let Ok((readings, walkers)) = readings {
        *disk = walkers;
        for (record, reading) in readings {
            metrics.record(&record, reading);
        }
    }
    // Paused sandboxes keep their series; ended ones lose it.
    let ids: HashSet<String> = store.all_ids().into_iter().collect();
    disk.retain(|id, _| ids.contains(id));
    metrics.retain(&ids);
}

/// Measures one sandbox. Blocking: cgroup files, and its disk's `statvfs` (or, for a sandbox
/// whose files are on the host's disk, a walk of its writable layers).
fn read(sandbox: &LiveSandbox, disk: &mut DiskUse) -> Reading {
    let usage = sandbox.handle.usage();
    Reading {
        at_ms: now_ns().div_euclid(1_000_000),
        cpu_ns: usage.cpu_ns,
        memory: usage.memory,
        cache: usage.cache,
        disk: sandbox
            .handle
            .disk_used()
            .unwrap_or_else(|| disk.writable_layers_size(&sandbox.handle.dir())),
    }
}

/// Directory entries of one sandbox remembered at most (a path each, about 100 bytes): a
/// sandbox with more is still measured, its other directories read at every sample.
const ENTRIES_KEPT: usize = 20_000;

/// The disk use of one sandbox's writable layers, measured again at every sample. What each
/// directory holds is remembered while the directory's ctime stays the same (an entry added,
/// removed or renamed changes it, and no process can set it back), so an idle sandbox costs
/// one `stat` per file and directory instead of reading every directory again.
#[derive(Debug, Default)]
struct DiskUse {
    listings: HashMap<PathBuf, Listing>,
    /// The entries in `listings`.
    kept: usize,
}

#[derive(Debug)]
struct Listing {
    /// The directory's ctime (seconds, nanoseconds) when its entries were read.
    ctime: (i64, i64),
    entries: Vec<PathBuf>,
}

impl DiskUse {
    /// The bytes on disk under a sandbox's directory that are its own: the overlays' upper
    /// directories (`u<n>`) when isolated, its home otherwise. Each file is counted once.
    fn writable_layers_size(&mut self, dir: &Path) -> u64 {
        // Listings are carried over from the last walk as their directories are visited again:
        // those of directories gone are dropped with `last`.
        let mut last = std::mem::take(&mut self.listings);
        self.kept = 0;
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return 0;
        };
        let mut stack = Vec::new();
        self.push_entries(&mut last, dir, &meta, &mut stack);
        stack.retain(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name == "home" || (name.starts_with('u') && name[1..].parse::<u32>().is_ok())
        });
        let mut seen = HashSet::new();
        let (mut total, mut visited) = (0u64, 0usize);
        while let Some(path) = stack.pop() {
            visited += 1;
            if visited > DISK_WALK_LIMIT {
                break;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            total += meta.blocks() * 512;
            if meta.is_dir() {
                self.push_entries(&mut last, &path, &meta, &mut stack);
            }
        }
        total
    }

    /// Pushes the paths of `dir`'s entries: those the last walk read while `dir`'s ctime is
    /// the same, else read again. Keeps the listing for the next walk.
    fn push_entries(
        &mut self,
        last: &mut HashMap<PathBuf, Listing>,
        dir: &Path,
        meta: &std::fs::Metadata,
        out: &mut Vec<PathBuf>,
    ) {
        let ctime = (meta.ctime(), meta.ctime_nsec());
        let listing = match last.remove(dir) {
            Some(listing) if listing.ctime == ctime => listing,
            _ => {
                let read_at = now_ns().div_euclid(1_000_000_000);
                let Ok(entries) = std::fs::read_dir(dir) else {
                    return;
                };
                let entries = entries.flatten().map(|e| e.path()).collect();
                // A ctime within the last two seconds may be a coarse clock tick that a change
                // after this read shares: such a listing is not kept.
                if ctime.0 + 2 > read_at {
                    out.extend(entries);
                    return;
                }
                Listing { ctime, entries }
            }
        };
        out.extend(listing.entries.iter().cloned());
        if self.kept + listing.entries.len() <= ENTRIES_KEPT {
            self.kept += listing.entries.len();
            self.listings.insert(dir.to_path_buf(), listing);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SandboxSpec;

    fn record(started_ms: i64) -> SandboxRecord {
        SandboxRecord {
            id: "sbx".into(),
            start_ns: started_ms * 1_000_000,
            end_ms: i64::MAX,
            state: sandkit::wire::SandboxState::Running,
            paused_at_ms: None,
            host_ids: None,
            envd_access_token: String::new(),
            traffic_access_token: String::new(),
            spec: SandboxSpec {
                cpu_count: 2,
                memory_mb: 512,
                disk_size_mb: 1024,
                ..Default::default()
            },
        }
    }

    #[test]
    fn cpu_use_is_the_share_of_all_cpus_between_samples() {
        let metrics = Metrics::new();
        let r = record(1_000_000);
        // The first reading is where the CPU count starts: no sample yet.
        metrics.record(
            &r,
            Reading {
                at_ms: 1_000_000,
                cpu_ns: Some(0),
                ..Default::default()
            },
        );
        assert!(metrics.latest("sbx").is_none());
        // One CPU busy for the next second: half of two CPUs.
        metrics.record(
            &r,
            Reading {
                at_ms: 1_001_000,
                cpu_ns: Some(1_000_000_000),
                memory: Some(300 * MIB as u64),
                cache: Some(100 * MIB as u64),
                disk: 4096,
            },
        );
        // Idle for the next second.
        metrics.record(
            &r,
            Reading {
                at_ms: 1_002_000,
                cpu_ns: Some(1_000_000_000),
                ..Default::default()
            },
        );
        let all = metrics.range("sbx", None, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].cpu_used_pct, 50.0);
        assert_eq!(all[1].cpu_used_pct, 0.0);
        assert_eq!(
            (all[0].mem_used, all[0].mem_cache, all[0].mem_total),
            (200 * MIB, 100 * MIB, 512 * MIB)
        );
        assert_eq!((all[0].disk_used, all[0].disk_total), (4096, 1024 * MIB));
        assert_eq!(all[0].timestamp_unix, 1_001);
        assert_eq!(all[0].timestamp, "1970-01-01T00:16:41.000Z");
        assert_eq!(metrics.range("sbx", Some(1_002), None).len(), 1);
        assert_eq!(metrics.range("sbx", None, Some(1_001)).len(), 1);
        assert_eq!(metrics.range("sbx", Some(1_003), None).len(), 0);
        assert_eq!(metrics.latest("sbx").map(|m| m.timestamp_unix), Some(1_002));
    }

    #[test]
    fn the_series_is_bounded() {
        let metrics = Metrics::new();
        let r = record(0);
        for i in 0..(SAMPLES_KEPT as i64 + 10) {
            metrics.record(
                &r,
                Reading {
                    at_ms: 1000 * (i + 1),
                    ..Default::default()
                },
            );
        }
        let all = metrics.range("sbx", None, None);
        assert_eq!(all.len(), SAMPLES_KEPT);
        assert_eq!(all[0].timestamp_unix, 11, "the oldest went first");
        metrics.retain(&HashSet::new());
        assert!(metrics.latest("sbx").is_none());
    }

    #[test]
    fn disk_use_sees_every_change_to_directories_it_remembers() {
        use std::fs;
        let dir = std::env::temp_dir().join(format!("sandkit-disk-use-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for sub in ["u0/etc", "u1", "home", "w0/work", "root"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        fs::write(dir.join("u0/etc/a"), vec![1u8; 10_000]).unwrap();
        // Not a writable layer: never counted.
        fs::write(dir.join("w0/work/x"), vec![1u8; 50_000]).unwrap();
        // What a walker that remembers nothing finds.
        let fresh = |dir: &Path| DiskUse::default().writable_layers_size(dir);
        let mut disk = DiskUse::default();
        let first = disk.writable_layers_size(&dir);
        assert_eq!(first, fresh(&dir));
        assert!(first >= 12_288, "the file's blocks are counted: {first}");
        assert!(
            disk.listings.is_empty(),
            "directories changed just now are not remembered"
        );

        // Once their ctimes are settled, the listings are kept and used.
        std::thread::sleep(Duration::from_millis(2_100));
        assert_eq!(disk.writable_layers_size(&dir), first);
        assert!(disk.listings.contains_key(&dir.join("u0/etc")));

        // A file added to a remembered directory, one grown, a directory removed.
        fs::write(dir.join("u0/etc/b"), vec![1u8; 40_000]).unwrap();
        let added = disk.writable_layers_size(&dir);
        assert!(added >= first + 40_960, "{added} after {first}");
        assert_eq!(added, fresh(&dir));
        fs::write(dir.join("u1/c"), vec![1u8; 1]).unwrap();
        fs::write(dir.join("u1/c"), vec![1u8; 100_000]).unwrap();
        let grown = disk.writable_layers_size(&dir);
        assert!(grown >= added + 100_000, "{grown} after {added}");
        assert_eq!(grown, fresh(&dir));
        fs::remove_dir_all(dir.join("u0/etc")).unwrap();
        assert_eq!(disk.writable_layers_size(&dir), fresh(&dir));
        assert!(
            !disk.listings.contains_key(&dir.join("u0/etc")),
            "a directory gone is forgotten"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
