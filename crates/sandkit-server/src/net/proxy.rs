//! The egress proxy for domain rules. A sandbox's TCP connection to port 80 or 443 of an
//! address its rules deny, when it has domain rules, is redirected here by the kernel (see
//! nft.rs); the proxy reads the name it asks for (HTTP Host or TLS SNI), and if a domain
//! rule allows it, connects to the original destination and relays both ways. Otherwise the
//! connection is closed before a byte reaches anyone. The rules are read again for every
//! connection, so an update applies to the next one.

use super::sniff::{self, Sniffed};
use super::{Network, Policies};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a client has to send its request head or ClientHello.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the destination has to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until the task is aborted.
pub async fn serve(listener: TcpListener, policies: Arc<Policies>, block: (u32, u32)) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let policies = policies.clone();
        tokio::spawn(async move {
            let _ = handle(stream, peer, &policies, block).await;
        });
    }
}

async fn handle(
    mut client: TcpStream,
    peer: SocketAddr,
    policies: &Policies,
    block: (u32, u32),
) -> Option<()> {
    let IpAddr::V4(source) = peer.ip() else {
        return None;
    };
    policies.get(source)?;
    let dst = original_destination(&client).ok()?;
    if !is_outside(*dst.ip(), block) {
        return None;
    }
    let sniff = if dst.port() == 443 {
        sniff::tls_sni
    } else {
        sniff::http_host
    };
    let mut head = Vec::with_capacity(2048);
    let name = tokio::time::timeout(HEAD_TIMEOUT, async {
        loop {
            match sniff(&head) {
                Sniffed::More => {}
                Sniffed::Name(n) => return Some(n),
                Sniffed::Nameless => return None,
            }
            let mut chunk = [0u8; 4096];
            let n = client.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .ok()??;
    // The rules as they are now (an update may have come while the head arrived).
    let policy = policies.get(source)?;
    if !policy.allows_name(&name) && !policy.allows_ip(*dst.ip()) {
        return None;
    }
    let mut server = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(dst))
        .await
        .ok()?
        .ok()?;
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    server.write_all(&head).await.ok()?;
    let _ = super::relay::relay(&client, &server).await;
    Some(())
}

/// Where the sandbox meant to connect, before the redirect.
fn original_destination(stream: &TcpStream) -> std::io::Result<SocketAddrV4> {
    // SAFETY: a sockaddr_in is plain data; getsockopt writes at most `len` bytes into it.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&mut addr as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
        u16::from_be(addr.sin_port),
    ))
}

/// Not the host's loopback, not a sandbox, not an address no host has: the proxy must not
/// become a way around the rules that keep sandboxes off the host and off each other.
fn is_outside(ip: Ipv4Addr, block: (u32, u32)) -> bool {
    let n = u32::from(ip);
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || (block.0..=block.1).contains(&n)
        || Network::is_host_address(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_back_to_the_host_or_a_sandbox() {
        let block = (
            u32::from(Ipv4Addr::new(10, 201, 0, 0)),
            u32::from(Ipv4Addr::new(10, 201, 15, 255)),
        );
        assert!(!is_outside(Ipv4Addr::LOCALHOST, block));
        assert!(!is_outside(Ipv4Addr::new(10, 201, 3, 4), block));
        assert!(!is_outside(Ipv4Addr::UNSPECIFIED, block));
        assert!(is_outside(Ipv4Addr::new(198, 18, 0, 2), block));
    }
}
