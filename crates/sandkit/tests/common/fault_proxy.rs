//! A real HTTP proxy between client and server that decides, request by request, to answer
//! 429 or 503 itself, reset the connection (before or after the server acted), stall, cut the
//! answer after some bytes, or forward. Each connection carries one request (the server is
//! asked to close it after its answer), which is how it counts what the client sent.
//!
//! The decision comes from a script ([`FaultProxy::start`]) or from rates and a seed
//! ([`FaultProxy::chaos`]): the n-th request's fault is a function of the seed and n alone,
//! so a failing run is replayed by its seed (under concurrency, which call is the n-th varies).
//!
//! Every request is also recorded whole, as the client sent it (head, query and body, a body
//! sent in pieces included): [`FaultProxy::records`]. The secrets tests read what each host
//! was sent there.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and these extra headers, without asking the server.
    Status(u16, Vec<(&'static str, String)>),
    /// Reset the connection (RST) without asking the server.
    Reset,
    /// Hand the request to the server, read its whole answer, then reset the connection:
    /// the server acted, the client never hears of it.
    ResetAfterForward,
    /// Hold the connection open and never answer.
    Stall,
    /// Pass the request to the server.
    Forward,
    /// Pass the request on and relay the first `bytes` of the answer (head included), then
    /// end the connection: with a reset if `reset`, else with a clean close.
    CutAfter { bytes: usize, reset: bool },
    /// Answer with this status and a JSON body whose message echoes the request's head,
    /// headers and all, as a careless gateway might.
    Echo(u16),
}

/// One request as the client sent it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET /sandboxes/x HTTP/1.1`.
    pub line: String,
    /// Every byte the client sent: the head, then the body.
    pub raw: Vec<u8>,
    /// The body of an [`Fault::Echo`] answer, when the proxy gave one.
    pub echoed: Option<String>,
}

impl Recorded {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.raw);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// Whether `secret` is anywhere in what was sent: as it is, base64-encoded or
    /// percent-encoded.
    pub fn carries(&self, secret: &str) -> bool {
        forms(secret)
            .iter()
            .any(|f| contains(&self.raw, f.as_bytes()))
    }
}

/// The forms a secret may take on the wire.
pub fn forms(secret: &str) -> Vec<String> {
    let b64 = sandkit::wire::base64::encode(secret.as_bytes());
    let pct: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut out = vec![
        secret.to_string(),
        b64.trim_end_matches('=').to_string(),
        pct,
    ];
    out.dedup();
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

impl Fault {
    /// A name for the counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Status(429, h) if h.iter().any(|(k, _)| *k == "ratelimit-reset") => {
                "429 RateLimit-Reset"
            }
            Fault::Status(429, h) if h.iter().any(|(_, v)| v.ends_with("GMT")) => {
                "429 Retry-After date"
            }
            Fault::Status(429, _) => "429 Retry-After seconds",
            Fault::Status(503, _) => "503",
            Fault::Status(..) => "other status",
            Fault::Reset => "reset before the server",
            Fault::ResetAfterForward => "reset after the server",
            Fault::Stall => "stall",
            Fault::Forward => "forwarded",
            Fault::CutAfter { .. } => "cut",
            Fault::Echo(_) => "echo",
        }
    }
}

/// What a decider sees of a request.
pub struct Head<'a> {
    /// `GET /sandboxes/x HTTP/1.1`.
    pub line: &'a str,
    pub method: &'a str,
    pub path: &'a str,
}

type Decide = dyn Fn(u64, &Head<'_>) -> Fault + Send + Sync;

/// Fault rates per request, each in [0, 1], their sum at most 1; the rest is forwarded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    /// Answered 429: a third each with `Retry-After` seconds, `Retry-After` as an HTTP date,
    /// and `RateLimit-Reset`, asking for 0 s (nine in ten) or 1 s.
    pub rate_limited: f64,
    /// Reset: half before the server saw the request, half after it answered.
    pub reset: f64,
    /// Answered 503.
    pub busy: f64,
    /// Never answered.
    pub stall: f64,
}

type Records = Arc<Mutex<Vec<Recorded>>>;

pub struct FaultProxy {
    pub url: String,
    script: Arc<Mutex<Vec<Fault>>>,
    seen: Arc<Mutex<Vec<(String, &'static str)>>>,
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    records: Records,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`); once the script runs out it forwards.
    pub async fn start(upstream: String, script: Vec<Fault>) -> FaultProxy {
        let script = Arc::new(Mutex::new(script.into_iter().rev().collect::<Vec<_>>()));
        let s = script.clone();
        let decide = move |_: u64, _: &Head<'_>| s.lock().unwrap().pop().unwrap_or(Fault::Forward);
        FaultProxy::with(upstream, script, Arc::new(decide)).await
    }

    /// Starts a proxy to `upstream` that injects faults at `rates`, decided by `seed` and the
    /// request's number. CORS preflights (`OPTIONS`) are always forwarded.
    pub async fn chaos(upstream: String, rates: Rates, seed: u64) -> FaultProxy {
        let decide = move |n: u64, head: &Head<'_>| {
            if head.method == "OPTIONS" {
                return Fault::Forward;
            }
            chaos_fault(rates, seed, n)
        };
        FaultProxy::with(upstream, Default::default(), Arc::new(decide)).await
    }

    /// Starts a proxy to `upstream` that asks `decide` for each request (numbered from 0).
    pub async fn deciding(
        upstream: String,
        decide: impl Fn(u64, &Head<'_>) -> Fault + Send + Sync + 'static,
    ) -> FaultProxy {
        FaultProxy::with(upstream, Default::default(), Arc::new(decide)).await
    }

    async fn with(
        upstream: String,
        script: Arc<Mutex<Vec<Fault>>>,
        decide: Arc<Decide>,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let counts = Arc::new(Mutex::new(BTreeMap::new()));
        let records: Records = Default::default();
        let (n, c, r) = (seen.clone(), counts.clone(), records.clone());
        let number = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (n, c, d, r) = (n.clone(), c.clone(), decide.clone(), r.clone());
                let (upstream, number) = (upstream.clone(), number.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &upstream, &*d, &number, &n, &c, &r).await;
                });
            }
        });
        FaultProxy {
            url,
            script,
            seen,
            counts,
            records,
        }
    }

    /// Every request so far, whole, in arrival order.
    pub fn records(&self) -> Vec<Recorded> {
        self.records.lock().unwrap().clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_records(&self) {
        self.records.lock().unwrap().clear();
    }

    /// Request lines seen so far (`GET /sandboxes/x HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.log().into_iter().map(|(line, _)| line).collect()
    }

    /// Each request line with what the proxy did ([`Fault::kind`]), in arrival order.
    pub fn log(&self) -> Vec<(String, &'static str)> {
        self.seen.lock().unwrap().clone()
    }

    pub fn script_left(&self) -> usize {
        self.script.lock().unwrap().len()
    }

    /// How many requests met each fault ([`Fault::kind`]), forwarded ones included.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts.lock().unwrap().clone()
    }

    pub fn count(&self, kind: &str) -> u64 {
        self.counts().get(kind).copied().unwrap_or(0)
    }
}

/// splitmix64: a well-mixed 64-bit value from the seed and the request's number.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fault of the `n`-th request under `rates` and `seed`.
pub fn chaos_fault(rates: Rates, seed: u64, n: u64) -> Fault {
    let r = mix(seed, n);
    let u = (r >> 11) as f64 / (1u64 << 53) as f64;
    // Low bits pick the variant, independent enough of `u` (the high bits).
    let (variant, long) = (r % 3, (r >> 2).is_multiple_of(10));
    let secs = if long { 1 } else { 0 };
    let mut edge = rates.rate_limited;
    if u < edge {
        let header = match variant {
            0 => ("retry-after", secs.to_string()),
            1 => ("retry-after", http_date(secs)),
            _ => ("ratelimit-reset", secs.to_string()),
        };
        return Fault::Status(429, vec![header]);
    }
    edge += rates.reset;
    if u < edge {
        return if variant == 0 || (variant == 2 && long) {
            Fault::ResetAfterForward
        } else {
            Fault::Reset
        };
    }
    edge += rates.busy;
    if u < edge {
        return Fault::Status(503, vec![]);
    }
    edge += rates.stall;
    if u < edge {
        return Fault::Stall;
    }
    Fault::Forward
}

/// `secs` from now as an IMF-fixdate. The date names a whole second (the current one
/// rounded down), so the client waits at most `secs`.
pub fn http_date(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let t = now.as_secs() + secs;
    let days = (t / 86_400) as i64;
    let rem = t % 86_400;
    let (y, m, d) = sandkit::wire::time::civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
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

/// SO_LINGER 0 makes the close a TCP reset rather than a clean end; with a zero timeout the
/// drop never blocks, which is what the deprecation warns about.
fn reset(conn: &TcpStream) -> std::io::Result<()> {
    #[allow(deprecated)]
    conn.set_linger(Some(std::time::Duration::ZERO))
}

async fn serve(
    mut conn: TcpStream,
    upstream: &str,
    decide: &Decide,
    number: &AtomicU64,
    seen: &Mutex<Vec<(String, &'static str)>>,
    counts: &Mutex<BTreeMap<&'static str, u64>>,
    records: &Records,
) -> std::io::Result<()> {
    let request = read_request(&mut conn).await?;
    if request.is_empty() {
        return Ok(());
    }
    let record = {
        let mut all = records.lock().unwrap();
        all.push(Recorded {
            line: String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            raw: request.clone(),
            echoed: None,
        });
        all.len() - 1
    };
    let text = String::from_utf8_lossy(&request);
    let line = text.lines().next().unwrap_or_default().to_string();
    let mut words = line.split(' ');
    let (method, path) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let origin = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("origin")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "*".into());
    let fault = decide(
        number.fetch_add(1, Ordering::Relaxed),
        &Head {
            line: &line,
            method,
            path,
        },
    );
    seen.lock().unwrap().push((line.clone(), fault.kind()));
    *counts.lock().unwrap().entry(fault.kind()).or_default() += 1;
    match fault {
        Fault::Status(status, headers) => {
            let body = format!(r#"{{"code":{status},"message":"injected by the fault proxy"}}"#);
            // Browsers read an answer of another origin, and its Retry-After, only when allowed.
            let mut head = format!(
                "HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\naccess-control-allow-origin: {origin}\r\naccess-control-expose-headers: retry-after, ratelimit-reset, ratelimit\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            conn.write_all(format!("{head}\r\n{body}").as_bytes())
                .await?;
        }
        Fault::Echo(status) => {
            let head = String::from_utf8_lossy(&request);
            let head = head.split("\r\n\r\n").next().unwrap_or_default();
            let message = format!("injected {status}; the request was: {head}");
            let mut w = sandkit::json::Writer::new();
            w.begin_object();
            w.field_u64("code", status.into());
            w.field_str("message", &message);
            w.end_object();
            let body = w.finish();
            if let Some(r) = records.lock().unwrap().get_mut(record) {
                r.echoed = Some(body.clone());
            }
            let head = format!(
                "HTTP/1.1 {status} Injected\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\naccess-control-allow-origin: {origin}\r\n\r\n",
                body.len()
            );
            conn.write_all(format!("{head}{body}").as_bytes()).await?;
        }
        Fault::Reset => return reset(&conn),
        Fault::Stall => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
        Fault::Forward | Fault::ResetAfterForward | Fault::CutAfter { .. } => {
            let mut up = TcpStream::connect(upstream).await?;
            let first_line_end = request.windows(2).position(|w| w == b"\r\n").unwrap_or(0) + 2;
            up.write_all(&request[..first_line_end]).await?;
            up.write_all(b"connection: close\r\n").await?;
            up.write_all(&request[first_line_end..]).await?;
            let (limit, rst) = match fault {
                Fault::ResetAfterForward => (0, true),
                Fault::CutAfter { bytes, reset } => (bytes, reset),
                _ => (usize::MAX, false),
            };
            let (mut cr, mut cw) = conn.split();
            let (mut ur, mut uw) = up.split();
            // The rest of a body sent in chunks goes on while the answer comes back.
            let upload = async {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    if let Some(r) = records.lock().unwrap().get_mut(record) {
                        r.raw.extend_from_slice(&buf[..n]);
                    }
                }
                std::future::pending::<()>().await
            };
            let relay = async {
                let mut sent = 0usize;
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = ur.read(&mut buf).await?;
                    if n == 0 {
                        return Ok::<bool, std::io::Error>(false);
                    }
                    let take = n.min(limit - sent);
                    cw.write_all(&buf[..take]).await?;
                    sent += take;
                    if sent >= limit {
                        // ResetAfterForward relays nothing but waits for the whole answer.
                        if limit == 0 {
                            while ur.read(&mut buf).await? > 0 {}
                        }
                        return Ok(true);
                    }
                }
            };
            let cut = tokio::select! {
                r = relay => r?,
                _ = upload => false,
            };
            if cut && rst {
                return reset(&conn);
            }
        }
    }
    conn.shutdown().await.ok();
    Ok(())
}
