//! The sandboxes' DNS: every UDP query a sandbox sends to port 53, whatever the address, is
//! redirected here (see nft.rs), answered REFUSED when its rules deny DNS, and otherwise
//! relayed to sandkitd's upstream resolver, the answer sent back as it came.

use super::Policies;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// How long the upstream has to answer one query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);
/// Queries relayed at once, across all sandboxes.
const IN_FLIGHT: usize = 512;

/// Serves until the task is aborted.
pub async fn serve(socket: Arc<UdpSocket>, upstream: SocketAddr, policies: Arc<Policies>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let IpAddr::V4(source) = from.ip() else {
            continue;
        };
        let Some(policy) = policies.get(source) else {
            continue;
        };
        let query = buf[..n].to_vec();
        if !policy.allows_dns() {
            if let Some(answer) = refused(&query) {
                let _ = socket.send_to(&answer, from).await;
            }
            continue;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(answer) = relay(&query, upstream).await {
                let _ = socket.send_to(&answer, from).await;
            }
        });
    }
}

async fn relay(query: &[u8], upstream: SocketAddr) -> Option<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(bind).await.ok()?;
    socket.connect(upstream).await.ok()?;
    socket.send(query).await.ok()?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = tokio::time::timeout(UPSTREAM_TIMEOUT, socket.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        // Only the answer to this query (same id), not a stray datagram.
        if n >= 12 && buf[..2] == query[..2] {
            buf.truncate(n);
            return Some(buf);
        }
    }
}

/// A REFUSED answer to `query`: its header and question, no records.
pub fn refused(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let questions = u16::from_be_bytes([query[4], query[5]]);
    let mut end = 12;
    for _ in 0..questions {
        loop {
            let len = usize::from(*query.get(end)?);
            if len == 0 {
                end += 1;
                break;
            }
            // A compression pointer ends the name; queries have none, but accept it.
            if len & 0xc0 == 0xc0 {
                end += 2;
                break;
            }
            end += 1 + len;
        }
        end += 4; // type, class
    }
    if end > query.len() {
        return None;
    }
    let mut answer = query[..end].to_vec();
    answer[2] = 0x80 | (query[2] & 0x79); // a response; opcode and RD kept
    answer[3] = 0x80 | 5; // RA, REFUSED
    answer[6..12].fill(0);
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_with_the_question() {
        // id 0x1234, RD, one question: a.test A IN, and an OPT record after it.
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        q.extend([1, b'a', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1]);
        let question_end = q.len();
        q.extend([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        let a = refused(&q).unwrap();
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[2], 0x81);
        assert_eq!(a[3] & 0x0f, 5);
        assert_eq!(&a[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&a[12..], &q[12..question_end]);
        assert!(refused(&q[..15]).is_none());
        assert!(refused(&a).is_none(), "an answer is not answered");
        for cut in 0..q.len() {
            let _ = refused(&q[..cut]);
        }
    }
}
