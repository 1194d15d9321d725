//! Sandboxes' network egress: each sandbox's interface and address, and the rules that say
//! what it may reach (see policy.rs for the rules, nft.rs for how the kernel applies them).
//!
//! A sandkitd claims one block of addresses (a /21 of `--egress-range`, 10.201.0.0/16 by
//! default, so that several sandkitds on one machine never share one) and one nftables table
//! named after it. A sandbox gets an address of its block (a /32 on its `eth0`, see link.rs).
//! Its DNS goes to a forwarder here, and connections that need a domain rule to pass go
//! through the proxy here (both listen on 127.0.0.1; the rules send the packets there);
//! everything else is routed and filtered by the kernel, at the kernel's speed.
//!
//! What a sandbox reaches, with its rules allowing: whatever the host routes to, under the
//! host's address (masquerade). Never: other sandboxes, any address of the host itself
//! (sandkitd's ports, services on its addresses; the host's loopback is not in the sandbox's
//! namespace at all), or anything over IPv6.

mod dns;
mod link;
pub mod nft;
pub mod policy;
mod proxy;
mod relay;
pub mod sniff;

pub use policy::Policy;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

/// The seed's figure: concurrent outbound (TCP) connections of one sandbox.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 2500;
/// Each sandkitd takes a /21 of the range: 2,046 sandboxes, 32 sandkitds in a /16.
const BLOCK_BITS: u32 = 11;
const SHARED_CLAIMS: &str = "/run/sandkitd/egress-blocks";

/// What `--egress-*` and `--dns` asked for.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Off: sandboxes keep loopback only.
    pub enabled: bool,
    /// A /16 (or larger) that sandkitds take blocks of.
    pub range: (Ipv4Addr, u8),
    /// Where sandboxes' DNS queries go; `None`: the host's first nameserver.
    pub upstream_dns: Option<SocketAddr>,
    pub max_connections: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            enabled: true,
            range: (Ipv4Addr::new(10, 201, 0, 0), 16),
            upstream_dns: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Each attached sandbox's rules, by its address: what the DNS forwarder and the proxy ask.
#[derive(Debug, Default)]
pub struct Policies(RwLock<HashMap<Ipv4Addr, Arc<Policy>>>);

impl Policies {
    pub fn get(&self, addr: Ipv4Addr) -> Option<Arc<Policy>> {
        self.0.read().ok()?.get(&addr).cloned()
    }
    fn set(&self, addr: Ipv4Addr, policy: Option<Arc<Policy>>) {
        if let Ok(mut m) = self.0.write() {
            match policy {
                Some(p) => m.insert(addr, p),
                None => m.remove(&addr),
            };
        }
    }
}

/// A sandbox's place in the network while it runs.
#[derive(Debug)]
pub struct Attachment {
    slot: u32,
    pub address: Ipv4Addr,
    host_if: String,
}

/// sandkitd's side of every sandbox's network.
#[derive(Debug, Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    table: nft::Table,
    /// First and last address of the block.
    block: (u32, u32),
    free: Mutex<Slots>,
    policies: Arc<Policies>,
    /// One change of a sandbox's rules at a time (an update's delete-then-add against what
    /// `policies` says is in the kernel); a fresh slot's changes need no turn.
    changes: tokio::sync::Mutex<()>,
    /// Scripts waiting for `nft`, and the turn to run it: one `nft` run takes milliseconds
    /// whatever its size, so what queued meanwhile goes in one transaction.
    queued: Mutex<Vec<Queued>>,
    writer: tokio::sync::Mutex<()>,
    upstream: SocketAddr,
    tasks: Vec<tokio::task::AbortHandle>,
    _claim: std::fs::File,
}

/// A script waiting for `nft`, and who waits for its outcome.
type Queued = (String, tokio::sync::oneshot::Sender<Result<(), String>>);

#[derive(Debug, Default)]
struct Slots {
    next: u32,
    freed: Vec<u32>,
}

impl Network {
    /// Claims a block, writes the table and starts the forwarder and proxy; `Err` says why
    /// sandboxes cannot have a network here (for the banner).
    pub async fn start(config: &NetConfig) -> Result<Network, String> {
        if !config.enabled {
            return Err("turned off (--no-egress)".into());
        }
        if unsafe { libc::geteuid() } != 0 {
            return Err("sandkitd is not root (no CAP_NET_ADMIN)".into());
        }
        let (range_base, range_len) = config.range;
        if range_len > 32 - BLOCK_BITS as u8 - 1 {
            return Err(format!(
                "--egress-range /{range_len} is too small: it must be /{} or larger",
                32 - BLOCK_BITS - 1
            ));
        }
        let upstream = match config.upstream_dns {
            Some(a) => a,
            None => host_nameserver()
                .ok_or("the host has no nameserver in /etc/resolv.conf (give one with --dns)")?,
        };
        let (index, claim) = claim_block(range_base, range_len)?;
        let first = u32::from(range_base) + (index << BLOCK_BITS);
        let block = (first, first + (1 << BLOCK_BITS) - 1);
        let dns_socket = tokio::net::UdpSocket::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("binding the DNS forwarder: {e}"))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("binding the egress proxy: {e}"))?;
        let table = nft::Table {
            name: format!("sandkitd{index}"),
            iface_prefix: format!("sk{index}x"),
            block: format!("{}/{}", Ipv4Addr::from(first), 32 - BLOCK_BITS),
            proxy_port: listener.local_addr().map_err(|e| e.to_string())?.port(),
            dns_port: dns_socket.local_addr().map_err(|e| e.to_string())?.port(),
            max_connections: config.max_connections,
        };
        nft::apply(&table.create_script()).await.map_err(|e| {
            format!("cannot write nftables rules (is the nftables package installed?): {e}")
        })?;
        if let Err(e) = enable_forwarding() {
            let _ = nft::apply(&table.delete_script()).await;
            return Err(e);
        }
        let policies = Arc::new(Policies::default());
        let tasks = vec![
            tokio::spawn(dns::serve(Arc::new(dns_socket), upstream, policies.clone()))
                .abort_handle(),
            tokio::spawn(proxy::serve(listener, policies.clone(), block)).abort_handle(),
        ];
        Ok(Network {
            inner: Arc::new(Inner {
                table,
                block,
                free: Mutex::new(Slots::default()),
                policies,
                changes: tokio::sync::Mutex::new(()),
                queued: Mutex::new(Vec::new()),
                writer: tokio::sync::Mutex::new(()),
                upstream,
                tasks,
                _claim: claim,
            }),
        })
    }

    /// One line for the banner.
    pub fn describe(&self) -> String {
        let i = &self.inner;
        format!(
            "egress on: sandbox addresses {} (nftables table inet {}), DNS via {}, at most {} TCP connections per sandbox; IPv4 forwarding is on",
            i.table.block, i.table.name, i.upstream, i.table.max_connections
        )
    }

    /// Gives a sandbox (`pid` in its network namespace `netns`) its interface under
    /// `policy`. The rules are in place before the interface exists.
    pub async fn attach(
        &self,
        pid: u32,
        netns: &OwnedFd,
        policy: Policy,
    ) -> Result<Attachment, String> {
        let slot = self.take_slot()?;
        let address = Ipv4Addr::from(self.inner.block.0 + slot);
        let host_if = format!("{}{slot}", self.inner.table.iface_prefix);
        let policy = Arc::new(policy);
        let script = self.inner.table.reset_count_script(address)
            + &self.inner.table.elements_script("add", address, &policy);
        if let Err(e) = self.write(script).await {
            self.free_slot(slot);
            return Err(e);
        }
        self.inner.policies.set(address, Some(policy.clone()));
        let attachment = Attachment {
            slot,
            address,
            host_if,
        };
        // A link of an earlier sandkitd of this block, whose sandbox lived on: not ours.
        link::remove(&attachment.host_if).await;
        if let Err(e) = link::create(&attachment.host_if, address, pid, netns).await {
            self.detach(attachment).await;
            return Err(e);
        }
        Ok(attachment)
    }

    /// Gives a sandbox of the warm pool its interface ahead of its create, with no rules
    /// yet: it runs nothing but its agent until [`Network::apply`] has put its rules in place
    /// (which a create does before it answers, so no process of the sandbox's user ever runs
    /// without them). The count of connections of the address is reset here, once per slot
    /// taken, so neither `apply` nor `detach` needs to.
    pub async fn link_up(&self, pid: u32, netns: &OwnedFd) -> Result<Attachment, String> {
        let slot = self.take_slot()?;
        let address = Ipv4Addr::from(self.inner.block.0 + slot);
        let attachment = Attachment {
            slot,
            address,
            host_if: format!("{}{slot}", self.inner.table.iface_prefix),
        };
        if let Err(e) = self
            .write(self.inner.table.reset_count_script(address))
            .await
        {
            self.free_slot(slot);
            return Err(e);
        }
        // A link of an earlier sandkitd of this block, whose sandbox lived on: not ours.
        link::remove(&attachment.host_if).await;
        if let Err(e) = link::create(&attachment.host_if, address, pid, netns).await {
            self.detach(attachment).await;
            return Err(e);
        }
        Ok(attachment)
    }

    /// Puts `policy` in place for a sandbox given its interface by [`Network::link_up`]. The
    /// default policy has no elements: then nothing is written to the kernel.
    pub async fn apply(&self, attachment: &Attachment, policy: Policy) -> Result<(), String> {
        let address = attachment.address;
        let script = self.inner.table.elements_script("add", address, &policy);
        if !script.is_empty() {
            self.write(script).await?;
        }
        self.inner.policies.set(address, Some(Arc::new(policy)));
        Ok(())
    }

    /// Replaces the rules of the sandbox at `address`; connections already open stay, new
    /// ones follow `policy`. A sandbox no longer attached is left alone.
    pub async fn update(&self, address: Ipv4Addr, policy: Policy) -> Result<(), String> {
        let _one = self.inner.changes.lock().await;
        let Some(old) = self.inner.policies.get(address) else {
            return Ok(());
        };
        let script = self.inner.table.elements_script("delete", address, &old)
            + &self.inner.table.elements_script("add", address, &policy);
        if !script.is_empty() {
            self.write(script).await?;
        }
        self.inner.policies.set(address, Some(Arc::new(policy)));
        Ok(())
    }

    /// Applies `script` to the table, in one transaction with whatever other scripts queued
    /// while an earlier `nft` ran (concurrent creates would otherwise wait for one run each).
    /// When a joint transaction fails, each script is tried alone, so one bad script fails
    /// only its own change.
    async fn write(&self, script: String) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner
            .queued
            .lock()
            .map_err(|_| "nftables queue poisoned")?
            .push((script, tx));
        {
            let _turn = self.inner.writer.lock().await;
            // Empty when an earlier turn took this script along.
            let batch: Vec<_> = self
                .inner
                .queued
                .lock()
                .map(|mut q| q.drain(..).collect())
                .unwrap_or_default();
            if batch.len() == 1 {
                for (script, tx) in batch {
                    let _ = tx.send(nft::apply(&script).await);
                }
            } else if !batch.is_empty() {
                let joint: String = batch.iter().map(|(s, _)| s.as_str()).collect();
                if nft::apply(&joint).await.is_ok() {
                    for (_, tx) in batch {
                        let _ = tx.send(Ok(()));
                    }
                } else {
                    for (script, tx) in batch {
                        let _ = tx.send(nft::apply(&script).await);
                    }
                }
            }
        }
        rx.await
            .unwrap_or_else(|_| Err("the nftables change was dropped".into()))
    }

    /// Takes a sandbox off the network: its rules and interface go, its slot is free again
    /// (unless its rules could not be removed: then the slot is never reused).
    pub async fn detach(&self, attachment: Attachment) {
        link::remove(&attachment.host_if).await;
        let _one = self.inner.changes.lock().await;
        let address = attachment.address;
        let old = self.inner.policies.get(address).unwrap_or_default();
        // The count of connections is reset when the slot is taken again (`attach`,
        // `link_up`): only the rules' elements go, and a sandbox without rules has none.
        let script = self.inner.table.elements_script("delete", address, &old);
        if !script.is_empty() && self.write(script).await.is_err() {
            return;
        }
        self.inner.policies.set(address, None);
        self.free_slot(attachment.slot);
    }

    /// Removes the table (shutdown); interfaces went with their sandboxes.
    pub async fn close(&self) {
        for t in &self.inner.tasks {
            t.abort();
        }
        let _ = nft::apply(&self.inner.table.delete_script()).await;
    }

    /// Whether `ip` is one of this host's addresses (binding to it works only then).
    pub fn is_host_address(ip: Ipv4Addr) -> bool {
        std::net::UdpSocket::bind((ip, 0)).is_ok()
    }

    fn take_slot(&self) -> Result<u32, String> {
        // Every address of the block but its first and last.
        let slots_in_block = (1u32 << BLOCK_BITS) - 2;
        let mut s = self.inner.free.lock().map_err(|_| "slot table poisoned")?;
        // Freed slots are reused last, so a late packet of a killed sandbox meets nobody.
        if s.next < slots_in_block {
            s.next += 1;
            return Ok(s.next);
        }
        if s.freed.is_empty() {
            return Err(format!(
                "all {slots_in_block} sandbox addresses of {} are in use",
                self.inner.table.block
            ));
        }
        Ok(s.freed.remove(0))
    }

    fn free_slot(&self, slot: u32) {
        if let Ok(mut s) = self.inner.free.lock() {
            s.freed.push(slot);
        }
    }
}

impl Drop for Inner {
    /// A server dropped without [`Network::close`] (a panicking test, say) still takes its
    /// table with it; after a close this finds nothing to delete.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "inet", &self.table.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Runs `cmd` with `input` on its stdin; its error output is the error when it fails.
async fn feed(mut cmd: tokio::process::Command, input: &str) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .await
            .map_err(|e| format!("writing to {program}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("running {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Claims the first free block of the range (an `flock` held while sandkitd runs). The
/// table of a crashed sandkitd that had the block is replaced when the block is taken again.
fn claim_block(base: Ipv4Addr, len: u8) -> Result<(u32, std::fs::File), String> {
    let blocks = 1u32 << (32 - u32::from(len) - BLOCK_BITS);
    let dir = PathBuf::from(SHARED_CLAIMS);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {SHARED_CLAIMS}: {e}"))?;
    for index in 0..blocks.min(256) {
        let path = dir.join(format!("{base}-{len}-{index}"));
        if let Some(file) =
            crate::sandbox::ids::try_flock(&path).map_err(|e| format!("claiming {path:?}: {e}"))?
        {
            return Ok((index, file));
        }
    }
    Err(format!(
        "every block of --egress-range {base}/{len} is claimed by another sandkitd"
    ))
}

/// The first `nameserver` of the host's `/etc/resolv.conf`.
fn host_nameserver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next()? == "nameserver")
            .then(|| words.next()?.parse::<std::net::IpAddr>().ok())
            .flatten()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// Sandboxes' packets are routed through the host: IPv4 forwarding must be on.
fn enable_forwarding() -> Result<(), String> {
    const PATH: &str = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(PATH).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(PATH, "1").map_err(|e| format!("cannot turn IPv4 forwarding on: {e}"))
}
