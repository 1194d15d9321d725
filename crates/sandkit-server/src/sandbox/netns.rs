//! TCP connections into a sandbox's network namespace, for the public-URL proxy.
//!
//! A socket belongs to the network namespace of the thread that created it, for its whole
//! life; where it is later connected or read from does not matter. So one dedicated thread
//! enters a sandbox's namespace, makes a socket, and returns to the host's, and the socket is
//! then connected and driven by tokio like any other. No port of a sandbox is ever bound on
//! the host's interfaces, and 127.0.0.1 in the socket's namespace is the sandbox's loopback.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// A request to the namespace thread: a socket of `family` in `netns`.
struct Job {
    netns: Arc<OwnedFd>,
    v6: bool,
    reply: oneshot::Sender<std::io::Result<OwnedFd>>,
}

/// Makes sockets inside sandboxes' network namespaces; cheap to clone.
#[derive(Debug, Clone)]
pub struct Dialer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Dialer {
    /// Starts the namespace thread.
    pub fn start() -> std::io::Result<Dialer> {
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job>();
        // The thread's own namespace (the host's), to return to after each socket.
        let home = OwnedFd::from(std::fs::File::open("/proc/thread-self/ns/net")?);
        std::thread::Builder::new()
            .name("sandkitd-netns".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    let made = socket_in(&job.netns, job.v6);
                    // A thread that cannot go home must make no more sockets: anything it
                    // made would live in the wrong namespace.
                    if let Err(e) =
                        nix::sched::setns(home.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    {
                        let _ = job.reply.send(Err(std::io::Error::other(format!(
                            "leaving a sandbox's network namespace failed: {e}"
                        ))));
                        return;
                    }
                    let _ = job.reply.send(made);
                }
            })?;
        Ok(Dialer { jobs })
    }

    /// Connects to `port` on the loopback of the namespace `netns` (IPv4 first, then IPv6
    /// for servers that listen on `::1` only).
    pub async fn connect(&self, netns: &Arc<OwnedFd>, port: u16) -> std::io::Result<TcpStream> {
        let v4 = self
            .connect_to(netns, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await;
        match v4 {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                // The IPv4 answer is the one to report when neither listens.
                self.connect_to(netns, SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
                    .await
                    .map_err(|_| e)
            }
            other => other,
        }
    }

    async fn connect_to(
        &self,
        netns: &Arc<OwnedFd>,
        addr: SocketAddr,
    ) -> std::io::Result<TcpStream> {
        let (reply, made) = oneshot::channel();
        let gone = || std::io::Error::other("the network namespace thread is gone");
        self.jobs
            .send(Job {
                netns: netns.clone(),
                v6: addr.is_ipv6(),
                reply,
            })
            .map_err(|_| gone())?;
        let fd = made.await.map_err(|_| gone())??;
        let socket = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(fd));
        let stream = socket.connect(addr).await?;
        // Small writes (headers, SSE events, WebSocket frames) go out at once.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// A non-blocking TCP socket made inside `netns` (the calling thread stays there).
fn socket_in(netns: &OwnedFd, v6: bool) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
    let family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    Ok(socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}
