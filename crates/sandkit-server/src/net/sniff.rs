//! The name a connection asks for, read from its first bytes: the `Host` header of an HTTP
//! request, or the server name (SNI) of a TLS ClientHello. Pure functions over what has
//! arrived so far, for the egress proxy.

/// What the first bytes say so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// Not enough bytes yet.
    More,
    /// The name asked for, lower-case, without a port or trailing dot.
    Name(String),
    /// Not the protocol expected, or no name in it.
    Nameless,
}

/// The most the proxy reads before it decides.
pub const MAX_HEAD: usize = 16 * 1024;

/// The `Host` of an HTTP/1 request whose head is in `buf`.
pub fn http_host(buf: &[u8]) -> Sniffed {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD {
            Sniffed::Nameless
        } else {
            Sniffed::More
        };
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Sniffed::Nameless;
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    if request_line.split(' ').count() != 3 {
        return Sniffed::Nameless;
    }
    let mut hosts = lines.filter_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("host").then(|| value.trim())
    });
    // Two Host headers are ambiguous (RFC 9112 says 400): no name.
    match (hosts.next(), hosts.next()) {
        (Some(host), None) => normalise(strip_port(host)),
        _ => Sniffed::Nameless,
    }
}

/// The server name of a TLS ClientHello at the start of `buf`.
pub fn tls_sni(buf: &[u8]) -> Sniffed {
    // Record header: type 22 (handshake), version, length.
    if buf.len() < 5 {
        return Sniffed::More;
    }
    if buf[0] != 22 || buf[1] != 3 {
        return Sniffed::Nameless;
    }
    let record_len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    if buf.len() < 5 + record_len {
        return if 5 + record_len > MAX_HEAD {
            Sniffed::Nameless
        } else {
            Sniffed::More
        };
    }
    client_hello_sni(&buf[5..5 + record_len]).map_or(Sniffed::Nameless, normalise)
}

/// The SNI of a ClientHello that fits in one record (a hello split over records has none
/// here: the proxy refuses it).
fn client_hello_sni(record: &[u8]) -> Option<&str> {
    let mut r = Reader(record);
    if r.u8()? != 1 {
        return None;
    }
    let len = r.u24()?;
    let body = r.take(len)?;
    let mut r = Reader(body);
    r.take(2 + 32)?; // version, random
    let session = r.u8()?;
    r.take(usize::from(session))?;
    let suites = r.u16()?;
    r.take(usize::from(suites))?;
    let compression = r.u8()?;
    r.take(usize::from(compression))?;
    let extensions_len = r.u16()?;
    let mut ext = Reader(r.take(usize::from(extensions_len))?);
    while !ext.0.is_empty() {
        let kind = ext.u16()?;
        let len = ext.u16()?;
        let data = ext.take(usize::from(len))?;
        if kind != 0 {
            continue;
        }
        // server_name: a list of (type, name); type 0 is a host name.
        let mut list = Reader(data);
        let list_len = list.u16()?;
        let mut names = Reader(list.take(usize::from(list_len))?);
        while !names.0.is_empty() {
            let name_type = names.u8()?;
            let len = names.u16()?;
            let name = names.take(usize::from(len))?;
            if name_type == 0 {
                return std::str::from_utf8(name).ok();
            }
        }
        return None;
    }
    None
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        Some(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
}

/// `host:port` → `host`; `[v6]:port` → `[v6]` (which matches no domain rule).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn normalise(name: &str) -> Sniffed {
    let name = name.trim_end_matches('.');
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Sniffed::Nameless;
    }
    Sniffed::Name(name.to_ascii_lowercase())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello naming `name`, laid out as TLS 1.2/1.3 clients send it.
    pub fn client_hello(name: &str) -> Vec<u8> {
        let mut sni = Vec::new();
        sni.extend((name.len() as u16 + 3).to_be_bytes());
        sni.push(0);
        sni.extend((name.len() as u16).to_be_bytes());
        sni.extend(name.as_bytes());
        let mut ext = Vec::new();
        // An extension before it (supported_groups), then server_name.
        ext.extend([0, 10, 0, 4, 0, 2, 0, 29]);
        ext.extend(0u16.to_be_bytes());
        ext.extend((sni.len() as u16).to_be_bytes());
        ext.extend(&sni);
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(&ext);
        let mut hs = vec![1];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(&body);
        let mut rec = vec![22, 3, 1];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(&hs);
        rec
    }

    #[test]
    fn reads_the_host_header() {
        let req = b"GET / HTTP/1.1\r\nUser-Agent: x\r\nhOsT: API.Example.test:8080\r\n\r\n";
        assert_eq!(http_host(req), Sniffed::Name("api.example.test".into()));
        assert_eq!(http_host(&req[..20]), Sniffed::More);
        assert_eq!(
            http_host(b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"),
            Sniffed::Nameless
        );
        assert_eq!(http_host(b"GET / HTTP/1.1\r\n\r\n"), Sniffed::Nameless);
        assert_eq!(
            http_host(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
            Sniffed::Nameless
        );
        assert_eq!(http_host(&[b'a'; MAX_HEAD]), Sniffed::Nameless);
        assert_eq!(
            http_host(b"\x16\x03\x01\x00\x05hello\r\n\r\n"),
            Sniffed::Nameless
        );
    }

    #[test]
    fn reads_the_server_name() {
        let hello = client_hello("www.GitHub.test");
        assert_eq!(tls_sni(&hello), Sniffed::Name("www.github.test".into()));
        for cut in [0, 3, 5, hello.len() - 1] {
            assert_eq!(tls_sni(&hello[..cut]), Sniffed::More, "cut at {cut}");
        }
        assert_eq!(tls_sni(b"GET / HTTP/1.1\r\n"), Sniffed::Nameless);
    }

    #[test]
    fn survives_every_truncation_and_corruption() {
        let hello = client_hello("api.example.test");
        for i in 5..hello.len() {
            let mut bad = hello.clone();
            bad[i] ^= 0xff;
            let _ = tls_sni(&bad);
            let mut short = hello[..i].to_vec();
            short[3..5].copy_from_slice(&((i - 5) as u16).to_be_bytes());
            let _ = tls_sni(&short);
        }
    }
}
