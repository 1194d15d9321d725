//! A sandbox's network interface: a veth pair, `eth0` inside its network namespace and
//! `sk<n>x<slot>` on the host, a /31 between them (the host end is the sandbox's gateway),
//! made with iproute2's `ip`. Neither end gets an IPv6 address, not even a link-local one.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

/// Makes the pair and configures both ends. `pid`: a process in the sandbox's namespace
/// (`netns`), which the peer is created in.
pub async fn create(
    host_if: &str,
    gateway: Ipv4Addr,
    address: Ipv4Addr,
    pid: u32,
    netns: &OwnedFd,
) -> Result<(), String> {
    let host = format!(
        "link add {host_if} type veth peer name eth0 netns {pid}\n\
         link set {host_if} addrgenmode none\n\
         addr add {gateway}/31 dev {host_if}\n\
         link set {host_if} up\n"
    );
    batch(&host, None).await?;
    let inside = format!(
        "link set eth0 addrgenmode none\n\
         addr add {address}/31 dev eth0\n\
         link set eth0 up\n\
         route add default via {gateway}\n"
    );
    if let Err(e) = batch(&inside, Some(netns)).await {
        remove(host_if).await;
        return Err(e);
    }
    Ok(())
}

/// Removes the pair, if it is still there (it goes with the sandbox's namespace, when its
/// processes end).
pub async fn remove(host_if: &str) {
    if !std::path::Path::new("/sys/class/net")
        .join(host_if)
        .exists()
    {
        return;
    }
    let _ = batch(&format!("link del {host_if}\n"), None).await;
}

/// Runs `ip -batch -` on `commands`, in `netns` when given.
async fn batch(commands: &str, netns: Option<&OwnedFd>) -> Result<(), String> {
    let mut ip = tokio::process::Command::new("ip");
    ip.args(["-batch", "-"]);
    if let Some(ns) = netns {
        let fd = ns.as_raw_fd();
        // SAFETY: setns is async-signal-safe; between fork and exec the child only enters the
        // namespace (the descriptor stays open until exec).
        unsafe {
            ip.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    super::feed(ip, commands).await
}
