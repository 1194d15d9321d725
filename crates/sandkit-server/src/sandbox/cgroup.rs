//! Control groups for sandboxes: each sandbox's processes live in a cgroup of their own, so a
//! limit such as `pids.max` holds for the whole process tree (a fork bomb stays inside it) and
//! the whole tree can be found and killed when the sandbox ends.
//!
//! A cgroup is one directory per controller hierarchy. With cgroup v1 every controller (or group
//! of co-mounted controllers) has its own hierarchy, e.g. `/sys/fs/cgroup/pids`; with cgroup v2
//! there is a single hierarchy, and a controller must be enabled for a cgroup's children by
//! writing `+<controller>` to its `cgroup.subtree_control`. Hybrid machines have both: a
//! controller bound to a v1 hierarchy is then absent from v2. Hierarchies are found in
//! `/proc/self/mountinfo` rather than at assumed paths.
//!
//! Layout: `<hierarchy>/sandkitd/<pid>.<nonce>/<sandbox id>`. The middle level belongs to one
//! sandkitd instance (several run at once, also inside one test process); instances whose pid
//! is dead are cleaned up by the next one to start.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The directory under each hierarchy's root that holds every sandkitd instance's cgroups.
const BASE_DIR: &str = "sandkitd";
/// The controller every sandbox needs.
const PIDS: &str = "pids";
/// The controller that pauses a sandbox (v1; on v2 every cgroup has `cgroup.freeze`).
const FREEZER: &str = "freezer";
/// The controllers that limit and measure a sandbox's memory and CPU (`cpuacct` is v1 only;
/// v2's `cpu.stat` always counts).
const MEMORY: &str = "memory";
const CPU: &str = "cpu";
const CPUACCT: &str = "cpuacct";
/// The CFS period CPU quotas are expressed in, in microseconds.
const CPU_PERIOD_US: u64 = 100_000;
/// How long a freeze may take to settle before it is reported as failed.
const FREEZE_PATIENCE: Duration = Duration::from_secs(5);
/// How long a v1 freeze may stay FREEZING before FROZEN is written again.
const FREEZE_REWRITE: Duration = Duration::from_millis(10);
/// How many times `remove` kills what is listed before it only waits.
const KILL_ROUNDS: usize = 50;
/// How long `remove` waits for killed processes to leave before giving up on `rmdir`.
const REMOVE_PATIENCE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// One mounted controller hierarchy and this instance's directory in it.
#[derive(Debug)]
struct Hierarchy {
    version: Version,
    /// The controllers sandboxes use from this hierarchy.
    controllers: Vec<&'static str>,
    /// Where the hierarchy is mounted (its root as far as we can see).
    mount: PathBuf,
    /// `<mount>/sandkitd/<pid>.<nonce>`: the parent of this instance's sandbox cgroups.
    parent: PathBuf,
}

/// Where this sandkitd's sandbox cgroups live, for the controllers found.
#[derive(Debug)]
pub struct Cgroups {
    /// Never empty; the first one holds `pids`. More controllers may add more hierarchies (v1)
    /// or more entries in `controllers` of an existing one (v2).
    hierarchies: Vec<Hierarchy>,
}

impl Cgroups {
    /// Finds the pids controller (a v1 hierarchy with `pids`, else a v2 hierarchy whose
    /// `cgroup.controllers` lists it), removes stale instances' directories and creates this
    /// instance's parent cgroup `<hierarchy>/sandkitd/<pid>.<nonce>`, enabling `pids` for
    /// children on the way down on v2.
    ///
    /// Returns why not when there is no usable pids controller or the directory cannot be made
    /// (e.g. a read-only `/sys/fs/cgroup`).
    pub fn new() -> Result<Cgroups, String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("read /proc/self/mountinfo: {e}"))?;
        let mounts = parse_mountinfo(&mountinfo);
        let (version, mount) = find_controller(&mounts, PIDS)
            .ok_or_else(|| "no cgroup hierarchy with the pids controller is mounted".to_string())?;
        remove_stale_instances(&mount.join(BASE_DIR));
        let instance = format!("{}.{}", std::process::id(), nonce());
        let parent = create_instance_dir(&mount, version, &instance)?;
        let mut hierarchies = vec![Hierarchy {
            version,
            controllers: vec![PIDS],
            mount: mount.clone(),
            parent: parent.clone(),
        }];
        // Pausing: a v1 freezer hierarchy of its own, or `cgroup.freeze` of the v2 cgroups.
        match find_controller(&mounts, FREEZER) {
            Some((Version::V1, freezer)) if freezer != mount => {
                remove_stale_instances(&freezer.join(BASE_DIR));
                if let Ok(parent) = create_instance_dir(&freezer, Version::V1, &instance) {
                    hierarchies.push(Hierarchy {
                        version: Version::V1,
                        controllers: vec![FREEZER],
                        mount: freezer,
                        parent,
                    });
                }
            }
            _ if version == Version::V2 && parent.join("cgroup.freeze").exists() => {
                hierarchies[0].controllers.push(FREEZER);
            }
            _ => {}
        }
        // Limits and usage: best effort; what is missing is reported by `limits`.
        for controller in [MEMORY, CPU, CPUACCT] {
            match find_controller(&mounts, controller) {
                Some((Version::V1, at)) => {
                    if let Some(h) = hierarchies.iter_mut().find(|h| h.mount == at) {
                        // Co-mounted with one we use already (`cpu,cpuacct`).
                        h.controllers.push(controller);
                        continue;
                    }
                    remove_stale_instances(&at.join(BASE_DIR));
                    if let Ok(parent) = create_instance_dir(&at, Version::V1, &instance) {
                        hierarchies.push(Hierarchy {
                            version: Version::V1,
                            controllers: vec![controller],
                            mount: at,
                            parent,
                        });
                    }
                }
                Some((Version::V2, at)) if version == Version::V2 && at == mount => {
                    let base = mount.join(BASE_DIR);
                    let enabled = [&mount, &base, &parent]
                        .iter()
                        .all(|dir| enable_for_children(dir, controller).is_ok());
                    if enabled {
                        hierarchies[0].controllers.push(controller);
                    }
                }
                _ => {}
            }
        }
        Ok(Cgroups { hierarchies })
    }

    /// Which limits sandboxes get: memory, CPU, both or neither, and what is missing.
    pub fn limits(&self) -> (bool, bool) {
        let has = |c: &str| self.hierarchies.iter().any(|h| h.controllers.contains(&c));
        (has(MEMORY), has(CPU))
    }

    /// Whether sandboxes can be paused (a freezer), and if not, why.
    pub fn freezer(&self) -> Result<(), String> {
        if self
            .hierarchies
            .iter()
            .any(|h| h.controllers.contains(&FREEZER))
        {
            Ok(())
        } else {
            Err("no cgroup freezer (v1 `freezer` hierarchy or v2 `cgroup.freeze`)".into())
        }
    }

    /// Human description for the banner, e.g. "pids (cgroup v1 at /sys/fs/cgroup/pids)".
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .hierarchies
            .iter()
            .map(|h| {
                let version = match h.version {
                    Version::V1 => "v1",
                    Version::V2 => "v2",
                };
                format!(
                    "{} (cgroup {version} at {})",
                    h.controllers.join(", "),
                    h.mount.display()
                )
            })
            .collect();
        parts.join("; ")
    }

    /// Creates the cgroup of one sandbox (`name` is the sandbox id: `[a-z0-9-]` only, anything
    /// else is refused) and sets `pids.max` to `limits.max_pids`, and its memory and CPU
    /// limits where those controllers are.
    pub fn create(&self, name: &str, limits: &Limits) -> Result<SandboxCgroup, String> {
        if !is_valid_name(name) {
            return Err(format!(
                "invalid cgroup name {name:?}: only [a-z0-9-] is allowed"
            ));
        }
        let mut dirs = Vec::with_capacity(self.hierarchies.len());
        for hierarchy in &self.hierarchies {
            let dir = hierarchy.parent.join(name);
            if let Err(e) = fs::create_dir(&dir) {
                remove_dirs_quietly(&dirs);
                return Err(describe_err("create", &dir, e));
            }
            dirs.push(dir);
        }
        // The freezer's directory and how to freeze it.
        let freezer = self
            .hierarchies
            .iter()
            .zip(&dirs)
            .find(|(h, _)| h.controllers.contains(&FREEZER))
            .map(|(h, dir)| (h.version, dir.clone()));
        let controllers = self
            .hierarchies
            .iter()
            .zip(&dirs)
            .flat_map(|(h, dir)| {
                h.controllers
                    .iter()
                    .map(move |c| (*c, h.version, dir.clone()))
            })
            .collect();
        match SandboxCgroup::configure(dirs.clone(), limits, freezer, controllers) {
            Ok(cgroup) => Ok(cgroup),
            Err(e) => {
                remove_dirs_quietly(&dirs);
                Err(e)
            }
        }
    }
}

impl Drop for Cgroups {
    /// Removes this instance's (by now empty) parents, and the shared `sandkitd/` if no other
    /// instance uses it; failures are left for the next instance's stale cleanup.
    fn drop(&mut self) {
        for hierarchy in &self.hierarchies {
            let _ = fs::remove_dir(&hierarchy.parent);
            let _ = fs::remove_dir(hierarchy.mount.join(BASE_DIR));
        }
    }
}

/// What one sandbox may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Processes and threads.
    pub max_pids: u32,
    /// CPUs' worth of time per period (a quota, not a pinning to cores).
    pub cpu_count: u32,
    /// Memory, page cache included; beyond it the kernel reclaims, then kills inside.
    pub memory_mb: u32,
}

/// What a sandbox has used, as its cgroup counts it; `None` where the controller is missing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// CPU time since the cgroup was made, in nanoseconds.
    pub cpu_ns: Option<u64>,
    /// Memory in use, page cache included, in bytes.
    pub memory: Option<u64>,
    /// Of which page cache, in bytes.
    pub cache: Option<u64>,
}

/// One sandbox's cgroup. Dropping it does NOT remove it (removal must wait for the processes to
/// die): call [`SandboxCgroup::remove`].
#[derive(Debug)]
pub struct SandboxCgroup {
    /// One directory per hierarchy, in the order of [`Cgroups`]'s; the first has `pids`.
    dirs: Vec<PathBuf>,
    /// The first directory's `cgroup.procs`, open for writing.
    procs: OwnedFd,
    /// The directory that freezes the sandbox, and its cgroup version.
    freezer: Option<(Version, PathBuf)>,
    /// Each controller in use, with its hierarchy's version and the sandbox's directory there.
    controllers: Vec<(&'static str, Version, PathBuf)>,
}

impl SandboxCgroup {
    fn configure(
        dirs: Vec<PathBuf>,
        limits: &Limits,
        freezer: Option<(Version, PathBuf)>,
        controllers: Vec<(&'static str, Version, PathBuf)>,
    ) -> Result<SandboxCgroup, String> {
        let first = dirs
            .first()
            .ok_or_else(|| "no cgroup hierarchy to create the cgroup in".to_string())?;
        let pids_max = first.join("pids.max");
        write_file(&pids_max, &limits.max_pids.to_string())
            .map_err(|e| describe_err("write", &pids_max, e))?;
        let write = |dir: &Path, file: &str, value: &str| {
            let path = dir.join(file);
            write_file(&path, value).map_err(|e| describe_err("write", &path, e))
        };
        let bytes = u64::from(limits.memory_mb) * 1024 * 1024;
        let quota = u64::from(limits.cpu_count) * CPU_PERIOD_US;
        for (controller, version, dir) in &controllers {
            match (*controller, version) {
                (MEMORY, Version::V1) => {
                    write(dir, "memory.limit_in_bytes", &bytes.to_string())?;
                    // Swap must not stretch the limit (the file exists only with swap
                    // accounting on; it must be written after the memory limit).
                    if dir.join("memory.memsw.limit_in_bytes").exists() {
                        write(dir, "memory.memsw.limit_in_bytes", &bytes.to_string())?;
                    }
                }
                (MEMORY, Version::V2) => {
                    write(dir, "memory.max", &bytes.to_string())?;
                    if dir.join("memory.swap.max").exists() {
                        write(dir, "memory.swap.max", "0")?;
                    }
                }
                (CPU, Version::V1) => {
                    write(dir, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
                    write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
                }
                (CPU, Version::V2) => write(dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?,
                _ => {}
            }
        }
        let procs_path = first.join("cgroup.procs");
        // std opens files with O_CLOEXEC: the descriptor reaches a forked child but no program.
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(&procs_path)
            .map_err(|e| describe_err("open", &procs_path, e))?;
        Ok(SandboxCgroup {
            dirs,
            procs: procs.into(),
            freezer,
            controllers,
        })
    }

    /// The sandbox's CPU time and memory now. Blocking (small reads of cgroup files).
    pub fn usage(&self) -> Usage {
        let mut usage = Usage::default();
        for (controller, version, dir) in &self.controllers {
            match (*controller, version) {
                (CPUACCT, Version::V1) => usage.cpu_ns = read_number(&dir.join("cpuacct.usage")),
                (MEMORY, Version::V1) => {
                    usage.memory = read_number(&dir.join("memory.usage_in_bytes"));
                    usage.cache = read_stat(&dir.join("memory.stat"), "total_cache");
                }
                (MEMORY, Version::V2) => {
                    usage.memory = read_number(&dir.join("memory.current"));
                    usage.cache = read_stat(&dir.join("memory.stat"), "file");
                }
                _ => {}
            }
        }
        if let (None, Some(first)) = (usage.cpu_ns, self.dirs.first())
            && let Some(usec) = read_stat(&first.join("cpu.stat"), "usage_usec")
        {
            // v2: every cgroup counts its CPU time in `cpu.stat`.
            usage.cpu_ns = Some(usec.saturating_mul(1000));
        }
        usage
    }

    /// Moves process `pid` (and so what it starts from then on) into the cgroup's hierarchies
    /// other than the pids one, which the agent joins itself (v1 only: v2 has one).
    pub fn join_others(&self, pid: u32) -> Result<(), String> {
        for dir in self.dirs.iter().skip(1) {
            let procs = dir.join("cgroup.procs");
            write_file(&procs, &pid.to_string()).map_err(|e| describe_err("write", &procs, e))?;
        }
        Ok(())
    }

    /// Whether this cgroup can be frozen.
    pub fn can_freeze(&self) -> bool {
        self.freezer.is_some()
    }

    /// Stops (`true`) or restarts every process in the cgroup, and waits until the kernel says
    /// it is done. Blocking: run it on a blocking thread.
    pub fn set_frozen(&self, frozen: bool) -> Result<(), String> {
        let Some((version, dir)) = &self.freezer else {
            return Err("this sandbox has no cgroup freezer".into());
        };
        let (file, value) = freeze_control(*version, frozen);
        let path = dir.join(file);
        write_file(&path, value).map_err(|e| describe_err("write", &path, e))?;
        let deadline = Instant::now() + FREEZE_PATIENCE;
        let mut written = Instant::now();
        let mut rewrites = 0u32;
        loop {
            let settled = match version {
                // FREEZING while tasks are still being stopped.
                Version::V1 => fs::read_to_string(&path).is_ok_and(|t| t.trim() == value),
                Version::V2 => fs::read_to_string(dir.join("cgroup.events"))
                    .is_ok_and(|t| t.lines().any(|l| l == format!("frozen {value}"))),
            };
            if settled {
                return Ok(());
            }
            if Instant::now() > deadline {
                // Half frozen is neither: a pause that fails leaves the sandbox running.
                if frozen {
                    let (_, thawed) = freeze_control(*version, false);
                    let _ = write_file(&path, thawed);
                }
                return Err(format!(
                    "{} did not settle at {value} in {} s",
                    path.display(),
                    FREEZE_PATIENCE.as_secs()
                ));
            }
            // A v1 freezer stops the tasks it finds when FROZEN is written; a task forked in
            // the meantime can escape it and keep the cgroup FREEZING until the state is
            // written again. Write it again every 10 ms, and now and then thaw first, so that
            // whatever was caught half-way starts over.
            if frozen && *version == Version::V1 && written.elapsed() >= FREEZE_REWRITE {
                rewrites += 1;
                if rewrites.is_multiple_of(20) {
                    let _ = write_file(&path, "THAWED");
                }
                write_file(&path, value).map_err(|e| describe_err("write", &path, e))?;
                written = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// An open descriptor (`O_WRONLY|O_CLOEXEC`) of the cgroup's `cgroup.procs`, to move a
    /// process into it with [`join`]. The kernel checks the move against the writer: write it
    /// before leaving sandkitd's cgroup namespace or dropping privileges.
    pub fn procs_fd(&self) -> BorrowedFd<'_> {
        self.procs.as_fd()
    }

    /// The number of tasks in it now (`pids.current`), for tests and metrics.
    pub fn pids_current(&self) -> Result<u64, String> {
        let path = self.pids_dir().join("pids.current");
        let text = fs::read_to_string(&path).map_err(|e| describe_err("read", &path, e))?;
        text.trim()
            .parse()
            .map_err(|e| describe_err("parse", &path, e))
    }

    /// Kills whatever is still in it, then removes its directories, waiting up to ~2 s for the
    /// killed processes to leave (those killed by a PID-namespace teardown take a moment).
    /// Blocking: run it on a blocking thread.
    pub fn remove(&self) -> Result<(), String> {
        let deadline = Instant::now() + REMOVE_PATIENCE;
        // Frozen processes die only once thawed.
        if self.freezer.is_some() {
            let _ = self.set_frozen(false);
        }
        for dir in &self.dirs {
            kill_everything_in(dir);
            remove_dir_patiently(dir, deadline)?;
        }
        Ok(())
    }

    fn pids_dir(&self) -> &Path {
        // `configure` refuses an empty list, so the fallback is never taken.
        self.dirs.first().map_or(Path::new(""), PathBuf::as_path)
    }
}

/// A cgroup file holding one number.
fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a `key value` per line file (`memory.stat`, `cpu.stat`).
fn read_stat(path: &Path, key: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The file that freezes (`frozen`) or thaws a cgroup of `version`, and what to write to it.
fn freeze_control(version: Version, frozen: bool) -> (&'static str, &'static str) {
    match (version, frozen) {
        (Version::V1, true) => ("freezer.state", "FROZEN"),
        (Version::V1, false) => ("freezer.state", "THAWED"),
        (Version::V2, true) => ("cgroup.freeze", "1"),
        (Version::V2, false) => ("cgroup.freeze", "0"),
    }
}

impl Drop for SandboxCgroup {
    /// A frozen process cannot die: whatever ends a sandbox that was never killed (a dropped
    /// server, sandkitd's own exit and the agents' parent-death signal) must find it thawed.
    fn drop(&mut self) {
        if let Some((version, dir)) = &self.freezer {
            let (file, value) = freeze_control(*version, false);
            let _ = write_file(&dir.join(file), value);
        }
    }
}

/// Moves process `pid` into the cgroup whose `cgroup.procs` is `fd` (from
/// [`SandboxCgroup::procs_fd`]). Returns the errno on failure. On cgroup v1 this waits for an
/// RCU grace period (milliseconds): the agent does it while the sandbox is being set up.
pub fn join(fd: RawFd, pid: i32) -> Result<(), i32> {
    let text = pid.to_string();
    loop {
        // SAFETY: `text` is a valid buffer of `text.len()` bytes for the whole call; an
        // invalid `fd` only makes write(2) fail with EBADF.
        let written = unsafe { libc::write(fd, text.as_ptr().cast(), text.len()) };
        if written >= 0 {
            // cgroupfs takes a write whole or fails it; a short write would be a kernel oddity.
            return if written as usize == text.len() {
                Ok(())
            } else {
                Err(libc::EIO)
            };
        }
        let errno = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        if errno != libc::EINTR {
            return Err(errno);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finding hierarchies

/// The parts of a `/proc/self/mountinfo` line that matter here.
#[derive(Debug, PartialEq, Eq)]
struct Mount {
    mount_point: PathBuf,
    fstype: String,
    super_options: Vec<String>,
}

/// Parses mountinfo lines: `id parent dev root mount-point options [optional...] - fstype
/// source super-options`. Malformed lines are skipped.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let mount_point = before.split(' ').nth(4)?;
    let mut after = after.split(' ');
    let fstype = after.next()?;
    let _source = after.next()?;
    let super_options = after.next()?;
    Some(Mount {
        mount_point: PathBuf::from(unescape_octal(mount_point)),
        fstype: fstype.to_string(),
        super_options: super_options.split(',').map(str::to_string).collect(),
    })
}

/// Undoes mountinfo's escaping of space, tab, newline and backslash as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        let code = digits
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match code {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The hierarchy that offers `controller`: a v1 mount naming it among its super options first
/// (on hybrid machines a controller bound to v1 cannot be used from v2), else a v2 mount whose
/// root lists it in `cgroup.controllers`.
fn find_controller(mounts: &[Mount], controller: &str) -> Option<(Version, PathBuf)> {
    let v1 = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.super_options.iter().any(|o| o == controller));
    if let Some(m) = v1 {
        return Some((Version::V1, m.mount_point.clone()));
    }
    mounts
        .iter()
        .filter(|m| m.fstype == "cgroup2")
        .find(|m| lists_word(&m.mount_point.join("cgroup.controllers"), controller))
        .map(|m| (Version::V2, m.mount_point.clone()))
}

/// Whether the space-separated list in the file at `path` contains `word`.
fn lists_word(path: &Path, word: &str) -> bool {
    fs::read_to_string(path).is_ok_and(|text| text.split_whitespace().any(|w| w == word))
}

// ---------------------------------------------------------------------------------------------
// This instance's parent cgroup

/// Creates `<mount>/sandkitd/<instance>`. Another instance's `Drop` may remove an empty
/// `sandkitd/` between our steps, so a vanished directory starts the sequence over.
fn create_instance_dir(mount: &Path, version: Version, instance: &str) -> Result<PathBuf, String> {
    const ATTEMPTS: usize = 5;
    let base = mount.join(BASE_DIR);
    let dir = base.join(instance);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_create_instance_dir(mount, version, &base, &dir) {
            Ok(()) => return Ok(dir),
            Err((e, _)) if e.kind() == io::ErrorKind::NotFound && attempt < ATTEMPTS => continue,
            Err((e, reason)) => return Err(format!("{reason}: {e}")),
        }
    }
}

/// One pass of [`create_instance_dir`]; errors carry what was being done for the message.
fn try_create_instance_dir(
    mount: &Path,
    version: Version,
    base: &Path,
    dir: &Path,
) -> Result<(), (io::Error, String)> {
    let at = |what: &str, path: &Path| {
        let reason = format!("{what} {}", path.display());
        move |e: io::Error| (e, reason)
    };
    // On v2 a controller is usable in a cgroup only when its parent enables it for children,
    // all the way from the root. The root cgroup is exempt from the "no internal processes"
    // rule, so enabling controllers there works even though processes live in it. Any other
    // cgroup may enable domain controllers for children only while it has no processes of its
    // own: fine for `sandkitd/` and the instance directory (processes only ever go into the
    // sandboxes' leaf cgroups), but when the mount is a non-root cgroup holding processes (a
    // container's cgroup namespace), the kernel refuses with EBUSY and we report it.
    if version == Version::V2 {
        enable_for_children(mount, PIDS).map_err(at("enable pids in", mount))?;
    }
    match fs::create_dir(base) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(at("create", base)(e)),
    }
    if version == Version::V2 {
        enable_for_children(base, PIDS).map_err(at("enable pids in", base))?;
    }
    fs::create_dir(dir).map_err(at("create", dir))?;
    if version == Version::V2
        && let Err(e) = enable_for_children(dir, PIDS)
    {
        let _ = fs::remove_dir(dir);
        return Err(at("enable pids in", dir)(e));
    }
    Ok(())
}

/// Writes `+<controller>` to the v2 cgroup's `cgroup.subtree_control` unless already enabled.
fn enable_for_children(dir: &Path, controller: &str) -> io::Result<()> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&control)?;
    if enabled.split_whitespace().any(|c| c == controller) {
        return Ok(());
    }
    write_file(&control, &format!("+{controller}"))
}

/// A few random hex characters telling apart instances with the same pid (several servers in
/// one test process, or pid namespaces). The clock stands in if the OS has no randomness.
fn nonce() -> String {
    let mut bytes = [0u8; 3];
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        bytes.copy_from_slice(&nanos.to_le_bytes()[..3]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes the directories of instances whose sandkitd has died: their sandbox cgroups (thawed
/// first, so that what was paused can die), then the instance directory. Anything still busy
/// stays; so do names that are not ours.
/// A sandkitd in another PID namespace sharing this hierarchy would look dead here; its
/// populated cgroups survive (rmdir refuses them), only empty ones could go.
fn remove_stale_instances(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(instance_pid) else {
            continue;
        };
        if is_live(pid) {
            continue;
        }
        let dir = entry.path();
        if let Ok(children) = fs::read_dir(&dir) {
            for child in children.flatten() {
                if child.file_type().is_ok_and(|t| t.is_dir()) {
                    // A sandbox paused when its sandkitd died is still frozen: its agent got
                    // the parent-death SIGKILL but dies only once thawed (then its PID
                    // namespace takes the rest).
                    for version in [Version::V1, Version::V2] {
                        let (file, value) = freeze_control(version, false);
                        let _ = write_file(&child.path().join(file), value);
                    }
                    let _ = fs::remove_dir(child.path());
                }
            }
        }
        let _ = fs::remove_dir(&dir);
    }
}

/// The pid in an instance directory's name `<pid>.<nonce>`, if it is one.
fn instance_pid(name: &str) -> Option<i32> {
    let (pid, _nonce) = name.split_once('.')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Zero or a negative number would address process groups in kill(2).
    pid.parse::<i32>().ok().filter(|&pid| pid > 0)
}

/// Whether a process with this pid exists (a signal-0 probe: EPERM still means it exists).
fn is_live(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e != Errno::ESRCH,
    }
}

/// Sandbox ids are `[a-z0-9-]`; anything else could climb out of the parent or collide with
/// the kernel's control files.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

// ---------------------------------------------------------------------------------------------
// Ending a sandbox cgroup

/// Kills every process in the cgroup at `dir`, again while new ones show up (a process may fork
/// before its SIGKILL lands), for at most `KILL_ROUNDS` rounds.
fn kill_everything_in(dir: &Path) {
    // v2 kernels since 5.14 kill the whole cgroup atomically, forks in flight included.
    let _ = write_file(&dir.join("cgroup.kill"), "1");
    for _ in 0..KILL_ROUNDS {
        match kill_listed(dir) {
            Ok(0) | Err(_) => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// SIGKILLs the processes listed in `dir`'s `cgroup.procs` and returns how many were listed.
/// A listed process may exit and its pid be reused by an unrelated one before we signal, so each
/// is pinned with a pidfd first and signalled through it only if it is still listed afterwards.
fn kill_listed(dir: &Path) -> io::Result<usize> {
    let listed = read_procs(dir)?;
    if listed.is_empty() {
        return Ok(0);
    }
    let mut pinned = Vec::with_capacity(listed.len());
    for &pid in &listed {
        match pidfd_open(pid) {
            Ok(fd) => pinned.push((pid, Some(fd))),
            // Kernels before 5.3: signal by pid, accepting the (tiny) reuse window.
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => pinned.push((pid, None)),
            // Gone already.
            Err(_) => {}
        }
    }
    let still_listed: HashSet<i32> = read_procs(dir)?.into_iter().collect();
    for (pid, fd) in pinned.iter().filter(|(pid, _)| still_listed.contains(pid)) {
        match fd {
            Some(fd) => pidfd_kill(fd),
            None => kill_pid(*pid),
        }
    }
    Ok(listed.len())
}

/// The pids in a cgroup's `cgroup.procs`.
fn read_procs(dir: &Path) -> io::Result<Vec<i32>> {
    let text = fs::read_to_string(dir.join("cgroup.procs"))?;
    Ok(text
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .filter(|&pid: &i32| pid > 0)
        .collect())
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1; no
    // memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the syscall returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn pidfd_kill(fd: &OwnedFd) {
    // SAFETY: pidfd_send_signal(2) with a valid pidfd, a signal number, a null siginfo (meaning
    // "as kill(2) would") and no flags; it reads no memory of ours. ESRCH means already gone.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

fn kill_pid(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// `rmdir`s a cgroup, retrying while the kernel still counts processes in it (EBUSY) until
/// `deadline`. A directory that is already gone counts as removed.
fn remove_dir_patiently(dir: &Path, deadline: Instant) -> Result<(), String> {
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                // Stragglers may still be forking from before their SIGKILL; kill them too.
                let _ = kill_listed(dir);
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(describe_err("remove", dir, e)),
        }
    }
}

fn remove_dirs_quietly(dirs: &[PathBuf]) {
    for dir in dirs {
        let _ = fs::remove_dir(dir);
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// Writes `value` to a control file in one `write(2)`, as cgroupfs wants.
fn write_file(path: &Path, value: &str) -> io::Result<()> {
    use std::io::Write;
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(value.as_bytes())
}

fn describe_err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    fn test_limits(max_pids: u32) -> Limits {
        Limits {
            max_pids,
            cpu_count: 1,
            memory_mb: 256,
        }
    }

    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn finds_the_pids_controller() {
        let cgroups = Cgroups::new().expect("a pids controller on this machine");
        let description = cgroups.describe();
        assert!(description.starts_with("pids (cgroup v"), "{description}");
        let parent = &cgroups.hierarchies[0].parent;
        assert!(parent.is_dir(), "{}", parent.display());
        let parent = parent.clone();
        drop(cgroups);
        assert!(
            !parent.exists(),
            "the instance directory is removed on drop"
        );
    }

    #[test]
    fn a_fork_bomb_stays_under_pids_max_and_remove_kills_it() {
        let cgroups = Cgroups::new().expect("a pids controller on this machine");
        let cgroup = cgroups
            .create("bomb-test", &test_limits(20))
            .expect("create");
        let dir = cgroup.dirs[0].clone();
        let fd = cgroup.procs_fd().as_raw_fd();
        // The shell waits for a line before it forks, while it is moved into the cgroup.
        let mut child = Command::new("/bin/sh")
            .args([
                "-c",
                "read go; for i in $(seq 100); do sleep 5 & done; wait",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        join(fd, child.id() as i32).expect("join");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"go\n").expect("go");
        std::thread::sleep(Duration::from_millis(500));
        let current = cgroup.pids_current();
        // Clean up before asserting anything, so that a failure leaves nothing behind.
        let removed = cgroup.remove();
        let status = child.wait().expect("reap sh");
        eprintln!("pids.current with pids.max 20: {current:?}; sh ended with {status}");
        let current = current.expect("pids.current");
        assert!(current <= 20 && current > 1, "pids.current = {current}");
        removed.expect("remove");
        assert!(!dir.exists(), "{} is gone", dir.display());
        assert!(!status.success(), "{status:?}");
    }

    #[test]
    fn invalid_names_are_refused() {
        let cgroups = Cgroups::new().expect("a pids controller on this machine");
        for name in ["../x", "", "a/b", ".", "Upper", "cgroup.procs"] {
            assert!(
                cgroups.create(name, &test_limits(10)).is_err(),
                "{name:?} was accepted"
            );
        }
    }

    #[test]
    fn stale_instances_are_cleaned_up() {
        let first = Cgroups::new().expect("a pids controller on this machine");
        // 999999999 is above any pid_max (at most 2^22), so no process can have it.
        let stale = first.hierarchies[0]
            .mount
            .join(BASE_DIR)
            .join("999999999.test");
        let stale_child = stale.join("leftover");
        // Any instance starting meanwhile (other tests, other sandkitds) may already clean it
        // up between the two mkdirs: try again then.
        let created = (0..10).any(|_| fs::create_dir_all(&stale_child).is_ok());
        assert!(created, "could not create {}", stale_child.display());
        let second = Cgroups::new().expect("a second instance");
        let gone = !stale.exists();
        // Whatever happened, leave nothing behind.
        let _ = fs::remove_dir(&stale_child);
        let _ = fs::remove_dir(&stale);
        assert!(gone, "{} was not removed", stale.display());
        assert_ne!(first.hierarchies[0].parent, second.hierarchies[0].parent);
    }

    #[test]
    fn parses_mountinfo() {
        let text = "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n\
                    50 31 0:40 / /mnt/a\\040b rw - tmpfs tmpfs rw\n\
                    garbage\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].mount_point, Path::new("/sys/fs/cgroup/pids"));
        assert_eq!(mounts[0].super_options, ["rw", "pids"]);
        assert_eq!(mounts[1].fstype, "cgroup2");
        assert_eq!(mounts[2].mount_point, Path::new("/mnt/a b"));
        assert_eq!(
            find_controller(&mounts, PIDS),
            Some((Version::V1, PathBuf::from("/sys/fs/cgroup/pids")))
        );
        assert_eq!(find_controller(&mounts, "memory"), None);
    }

    #[test]
    fn instance_names() {
        assert_eq!(instance_pid("123.abc"), Some(123));
        assert_eq!(instance_pid("0.abc"), None);
        assert_eq!(instance_pid("-1.abc"), None);
        assert_eq!(instance_pid("abc"), None);
        assert_eq!(instance_pid(".abc"), None);
    }
}
