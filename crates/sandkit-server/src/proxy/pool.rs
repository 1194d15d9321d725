//! Kept-alive HTTP/1.1 connections to the servers inside one sandbox, per port.
//!
//! A connection is taken for a request and put back at once: it is ready for the next one
//! when the response before it has been read to the end (a long stream keeps its connection
//! to itself). Idle connections beyond [`MAX_IDLE_PER_PORT`] are let go.

use crate::sandbox::SandboxHandle;
use axum::body::Body;
use hyper::client::conn::http1::SendRequest;
use std::collections::HashMap;
use std::sync::Mutex;

/// Connections kept per port of a sandbox.
const MAX_IDLE_PER_PORT: usize = 32;

pub type Sender = SendRequest<Body>;

/// The connections of one sandbox.
#[derive(Default)]
pub struct Upstreams {
    ports: Mutex<HashMap<u16, Vec<Sender>>>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams").finish_non_exhaustive()
    }
}

impl Upstreams {
    /// A kept connection to `port` that can take a request now, if any.
    pub fn take_ready(&self, port: u16) -> Option<Sender> {
        let mut ports = self.ports.lock().ok()?;
        let kept = ports.get_mut(&port)?;
        // Closed ones are dropped on the way; busy ones stay for later.
        kept.retain(|s| !s.is_closed());
        let at = kept.iter().position(|s| s.is_ready())?;
        Some(kept.swap_remove(at))
    }

    /// Keeps a connection for later requests.
    pub fn put(&self, port: u16, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut ports) = self.ports.lock() {
            let kept = ports.entry(port).or_default();
            if kept.len() < MAX_IDLE_PER_PORT {
                kept.push(sender);
            }
        }
    }
}

/// Opens a new connection to `port` of the sandbox; its I/O runs on a task of its own, which
/// also carries an upgraded connection (WebSocket) once the server switches protocols.
pub async fn dial(handle: &SandboxHandle, port: u16) -> std::io::Result<Sender> {
    let stream = handle.connect_port(port).await?;
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}
