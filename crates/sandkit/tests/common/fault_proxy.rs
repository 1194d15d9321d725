//! A real HTTP proxy between client and server that follows a script: answer 429 or 503,
//! drop the connection, stall, or forward. Each connection carries one request (it answers
//! with `Connection: close`), which is how it counts what the client sent.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and these extra headers, without asking the server.
    Status(u16, Vec<(&'static str, String)>),
    /// Close the connection without answering.
    Reset,
    /// Hold the connection open and never answer.
    Stall,
    /// Pass the request to the server.
    Forward,
}

pub struct FaultProxy {
    pub url: String,
    script: Arc<Mutex<Vec<Fault>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`); once the script runs out it forwards.
    pub async fn start(upstream: String, script: Vec<Fault>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let script = Arc::new(Mutex::new(script.into_iter().rev().collect::<Vec<_>>()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, n) = (script.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (s, n, upstream) = (s.clone(), n.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &upstream, &s, &n).await;
                });
            }
        });
        FaultProxy { url, script, seen }
    }

    /// Request lines seen so far (`GET /sandboxes/x HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    pub fn script_left(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

async fn read_request(conn: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(buf);
            }
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve(
    mut conn: TcpStream,
    upstream: &str,
    script: &Mutex<Vec<Fault>>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let request = read_request(&mut conn).await?;
    if request.is_empty() {
        return Ok(());
    }
    let line = String::from_utf8_lossy(&request)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    seen.lock().unwrap().push(line);
    let fault = script.lock().unwrap().pop().unwrap_or(Fault::Forward);
    match fault {
        Fault::Status(status, headers) => {
            let body = format!(r#"{{"code":{status},"message":"injected by the fault proxy"}}"#);
            let mut head = format!(
                "HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            conn.write_all(format!("{head}\r\n{body}").as_bytes())
                .await?;
        }
        Fault::Reset => {
            // SO_LINGER 0 makes the close a TCP reset rather than a clean end; with a zero
            // timeout the drop never blocks, which is what the deprecation warns about.
            #[allow(deprecated)]
            conn.set_linger(Some(std::time::Duration::ZERO))?;
        }
        Fault::Stall => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        Fault::Forward => {
            let mut up = TcpStream::connect(upstream).await?;
            let text = request;
            let first_line_end = text.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            up.write_all(&text[..first_line_end]).await?;
            up.write_all(b"connection: close\r\n").await?;
            up.write_all(&text[first_line_end..]).await?;
            let mut response = Vec::new();
            up.read_to_end(&mut response).await?;
            conn.write_all(&response).await?;
        }
    }
    conn.shutdown().await.ok();
    Ok(())
}
