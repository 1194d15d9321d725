//! A sandbox's network interface: a veth pair, `eth0` inside its network namespace and
//! `sk<n>x<slot>` on the host, made with iproute2's `ip`. The sandbox's address is a /32 on
//! `eth0`, reached from the host by a route through the pair; its gateway is [`GATEWAY`].
//! Both ends know each other's hardware address from the start (permanent neighbour
//! entries), so a sandbox's first packet waits for no ARP. Relying on proxy ARP alone, the
//! kernel held each answer back (`proxy_delay`, up to 0.8 s) and, while other interfaces
//! came and went, now and then answered none of a sandbox's three requests: its first
//! connection or lookup failed with "no route to host". Proxy ARP stays on, answering at
//! once, for a sandbox that flushes its neighbours.
//!
//! The host end has no address at all: a sandbox's coming and going changes no address of
//! the host, which programs that watch the host's addresses take as a network change
//! (Chromium aborts its requests in flight). Neither end gets an IPv6 address, not even a
//! link-local one.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

/// The next hop every sandbox is given: on no host, answered by proxy ARP on the host end.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// Makes the pair and configures both ends. `pid`: a process in the sandbox's namespace
/// (`netns`), which the peer is created in.
pub async fn create(
    host_if: &str,
    address: Ipv4Addr,
    pid: u32,
    netns: &OwnedFd,
) -> Result<(), String> {
    let (host_mac, inside_mac) = (mac(0x06, address), mac(0x02, address));
    let host = format!(
        "link add {host_if} address {host_mac} type veth peer name eth0 address {inside_mac} netns {pid}\n\
         link set {host_if} addrgenmode none\n\
         link set {host_if} up\n\
         route add {address}/32 dev {host_if}\n\
         neigh replace {address} lladdr {inside_mac} dev {host_if} nud permanent\n"
    );
    batch(&host, None).await?;
    let configured = host_settings(host_if);
    let inside = format!(
        "link set eth0 addrgenmode none\n\
         addr add {address}/32 dev eth0\n\
         link set eth0 up\n\
         neigh replace {GATEWAY} lladdr {host_mac} dev eth0 nud permanent\n\
         route add default via {GATEWAY} dev eth0 onlink\n"
    );
    let configured = match configured {
        Ok(()) => batch(&inside, Some(netns)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = configured {
        remove(host_if).await;
        return Err(e);
    }
    Ok(())
}

/// The host end answers ARP for the gateway at once (proxy ARP, no delay), and takes packets
/// to 127.0.0.1, where the rules send DNS and domain-checked connections to sandkitd
/// (route_localnet; the rules refuse every other packet addressed to the host).
fn host_settings(host_if: &str) -> Result<(), String> {
    for (path, value) in [
        (format!("/proc/sys/net/ipv4/conf/{host_if}/proxy_arp"), "1"),
        (
            format!("/proc/sys/net/ipv4/conf/{host_if}/route_localnet"),
            "1",
        ),
        (
            format!("/proc/sys/net/ipv4/neigh/{host_if}/proxy_delay"),
            "0",
        ),
    ] {
        std::fs::write(&path, value).map_err(|e| format!("writing {path}: {e}"))?;
    }
    Ok(())
}

/// A locally administered unicast hardware address (first octet `first`: 0x02 or 0x06) made
/// from the sandbox's address: the two ends of one pair differ, and no two sandboxes of a
/// range share one.
fn mac(first: u8, address: Ipv4Addr) -> String {
    let [_, b, c, d] = address.octets();
    format!("{first:02x}:73:6b:{b:02x}:{c:02x}:{d:02x}")
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
