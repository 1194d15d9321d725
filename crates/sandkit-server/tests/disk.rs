//! Each sandbox's disk is its own size (`--disk-size-mb`): a sandbox that fills it gets
//! `ENOSPC` and 507 from `/files`, reports the disk's use and size in its metrics, gets the
//! space back when it deletes, and leaves no image or loop device behind when killed.

mod common;

use common::envd::Envd;
use common::{Api, KEY_A, start_with};
use sandkit_server::sandbox::disk::is_attached;
use sandkit_server::{RunningServer, ServerConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DISK_MB: u32 = 32;
const MIB: i64 = 1024 * 1024;

async fn start() -> RunningServer {
    let mut config = ServerConfig::default();
    config.limits = sandkit_server::config::LimitsConfig::lifted();
    config.sandboxes.agent_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_sandkitd")));
    config.sandboxes.disk_size_mb = DISK_MB;
    config.sandboxes.metrics_interval = Duration::from_millis(100);
    config.sandboxes.warm_pool = 0;
    start_with(config).await
}

/// The files the kernel's loop devices are attached to, below `dir`.
fn loop_files_below(dir: &Path) -> Vec<String> {
    let Ok(devices) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    devices
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("loop/backing_file")).ok())
        .map(|f| f.trim().to_string())
        .filter(|f| f.starts_with(&*dir.to_string_lossy()))
        .collect()
}

/// Uploads `len` bytes to `path`: the status.
async fn upload(sbx: &Envd, path: &str, len: usize) -> u16 {
    sbx.request(
        reqwest::Method::POST,
        &format!("/files?path={path}&username=root"),
    )
    .header("Content-Type", "application/octet-stream")
    .body(vec![7u8; len])
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

/// The latest metrics sample that satisfies `wanted`, polled for 15 s at most.
async fn sample_where(api: &Api, id: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let all = api
            .get(&format!("/sandboxes/{id}/metrics"))
            .await
            .expect_json(200);
        if let Some(found) = all.as_array().unwrap().iter().rev().find(|s| wanted(s)) {
            return found.clone();
        }
        assert!(Instant::now() < until, "no such sample in {all}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_sandbox_fills_its_own_disk_and_gets_the_space_back() {
    let server = start().await;
    let mode = server.sandbox_mode();
    assert!(
        mode.contains(&format!("a {DISK_MB} MiB disk each")),
        "disks are not limited here: {mode}"
    );
    let api = Api::new(&server.url(), KEY_A);
    let sbx = Envd::create(&server).await;
    let dir = common::state_dir(&server).join(&sbx.id);
    assert!(dir.join("disk").is_file(), "no image in {}", dir.display());
    assert_eq!(
        loop_files_below(&dir),
        [dir.join("disk").display().to_string()]
    );
    assert!(
        is_attached(&dir.join("disk")).unwrap(),
        "not attached while it runs"
    );

    // Twice the disk's size: the write stops at the disk's end.
    let (out, end) = sbx
        .run("dd if=/dev/zero of=/home/user/big bs=1M count=64 2>&1; stat -c %s /home/user/big")
        .await;
    assert!(out.contains("No space left on device"), "{out} {end}");
    let written: i64 = out.lines().last().unwrap().trim().parse().unwrap();
    assert!(
        written > 24 * MIB && written < i64::from(DISK_MB) * MIB,
        "{written} bytes written on a {DISK_MB} MiB disk"
    );
    // The host's file is sparse: the image takes what the sandbox wrote, not more.
    use std::os::unix::fs::MetadataExt;
    let image = std::fs::metadata(dir.join("disk")).unwrap();
    assert!(
        (image.blocks() as i64 * 512) < written + 8 * MIB,
        "the image takes {} bytes",
        image.blocks() * 512
    );
    assert_eq!(upload(&sbx, "/root/more", 1 << 20).await, 507);
    let full = sample_where(&api, &sbx.id, |s| s["diskUsed"].as_i64() >= Some(written)).await;
    assert_eq!(full["diskTotal"], i64::from(DISK_MB) * MIB, "{full}");

    // Deleting gives the space back, in the sandbox and on the host (the image's holes).
    sbx.ok("rm /home/user/big").await;
    assert_eq!(upload(&sbx, "/root/more", 1 << 20).await, 200);
    sample_where(&api, &sbx.id, |s| s["diskUsed"].as_i64() < Some(4 * MIB)).await;
    // Freed blocks are discarded once the journal commits them (every 5 s).
    let allocated = || std::fs::metadata(dir.join("disk")).unwrap().blocks() as i64 * 512;
    assert!(
        common::envd::eventually(Duration::from_secs(15), || allocated() < 8 * MIB).await,
        "the image still takes {} bytes",
        allocated()
    );

    // Killed: no image, no loop device.
    api.delete(&format!("/sandboxes/{}", sbx.id)).await;
    assert!(!dir.exists(), "{} is left", dir.display());
    assert!(
        common::envd::eventually(Duration::from_secs(5), || loop_files_below(&dir).is_empty())
            .await,
        "loop devices left: {:?}",
        loop_files_below(&dir)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_paused_sandbox_keeps_its_disk_and_its_limit() {
    let server = start().await;
    let api = Api::new(&server.url(), KEY_A);
    let sbx = Envd::create(&server).await;
    let dir = common::state_dir(&server).join(&sbx.id);
    sbx.ok("head -c 5000000 /dev/urandom > /root/kept && md5sum /root/kept > /root/kept.md5")
        .await;
    // Without its memory: its processes end, its files stay in the image.
    let paused = api
        .post(
            &format!("/sandboxes/{}/pause", sbx.id),
            serde_json::json!({"memory": false}),
        )
        .await;
    assert_eq!(paused.status, 204, "pause: {}", paused.text);
    assert!(
        common::envd::eventually(Duration::from_secs(5), || loop_files_below(&dir).is_empty())
            .await,
        "a paused sandbox without memory holds a loop device: {:?}",
        loop_files_below(&dir)
    );
    assert!(!is_attached(&dir.join("disk")).unwrap());
    let connect = format!("/v2/sandboxes/{}/connect", sbx.id);
    let resume = || api.post(&connect, serde_json::json!({"timeout": 60}));
    // While something else has its image attached (as a file of its last run's filesystem
    // held open would keep it), the resume waits for it, then fails rather than mount the
    // image a second time; the files stay for a later resume.
    let losetup = |args: &[&str]| {
        let out = std::process::Command::new("losetup")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "losetup {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let image = dir.join("disk").display().to_string();
    let holder = losetup(&["--find", "--show", &image]);
    let refused = resume().await;
    losetup(&["--detach", &holder]);
    assert_eq!(
        refused.status, 500,
        "resume with its disk in use: {}",
        refused.text
    );
    assert!(refused.text.contains("still mounted"), "{}", refused.text);
    let resumed = resume().await;
    assert_eq!(resumed.status, 201, "resume: {}", resumed.text);
    assert_eq!(sbx.ok("md5sum -c /root/kept.md5").await, "/root/kept: OK\n");
    let (out, _) = sbx
        .run("dd if=/dev/zero of=/root/big bs=1M count=64 2>&1")
        .await;
    assert!(out.contains("No space left on device"), "{out}");
    api.delete(&format!("/sandboxes/{}", sbx.id)).await;
    server.shutdown().await;
}
