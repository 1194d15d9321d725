//! A sandbox's egress rules as sandkitd enforces them, read from the create or update body.
//!
//! The seed's rules: `denyOut` holds IPv4 addresses and CIDR blocks (`0.0.0.0/0` is all
//! traffic); `allowOut` also holds domains (`api.example.com`, `*.github.com`); an address in
//! both is allowed. Domains are matched on the HTTP Host (port 80) and the TLS SNI (port 443)
//! of connections to denied addresses; other ports are filtered by address only.
//! `allow_internet_access: false` is the same as denying `0.0.0.0/0`. The sandbox's
//! nameserver (`8.8.8.8` in its `/etc/resolv.conf`) is reachable when allowed by address or
//! when any domain rule exists. IPv6 is not routed for sandboxes at all: an IPv6 deny rule
//! holds by itself, an IPv6 allow rule cannot be granted and is refused.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The nameserver a sandbox's `/etc/resolv.conf` names (E2B's): its DNS goes to sandkitd's
/// forwarder whatever address it is sent to, but the rules treat it as this address.
pub const NAMESERVER: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

/// An inclusive range of IPv4 addresses, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub first: u32,
    pub last: u32,
}

impl Range {
    fn contains(&self, ip: u32) -> bool {
        self.first <= ip && ip <= self.last
    }
}

/// A domain rule: `example.com` exactly, or `*.example.com` (any name below it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Domain {
    Exact(String),
    Below(String),
}

impl Domain {
    fn matches(&self, name: &str) -> bool {
        match self {
            Domain::Exact(d) => name == d,
            Domain::Below(d) => name
                .strip_suffix(d.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

/// What one sandbox may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allowed addresses, merged into disjoint sorted ranges.
    pub allow: Vec<Range>,
    /// Denied addresses, likewise.
    pub deny: Vec<Range>,
    pub domains: Vec<Domain>,
}

impl Policy {
    /// Reads the rules. Errors name the list and the entry, for a 400.
    pub fn parse(
        allow_internet_access: Option<bool>,
        allow_out: &[String],
        deny_out: &[String],
    ) -> Result<Policy, String> {
        let mut allow = Vec::new();
        let mut deny = Vec::new();
        let mut domains = Vec::new();
        for entry in allow_out {
            match parse_entry(entry) {
                Entry::V4(r) => allow.push(r),
                Entry::V6 => {
                    return Err(format!(
                        "network.allowOut entry '{entry}' is IPv6: sandboxes have no IPv6 route, so it cannot be allowed"
                    ));
                }
                Entry::Domain(d) => domains.push(d),
                Entry::Bad => {
                    return Err(format!(
                        "network.allowOut entry '{entry}' is neither an IPv4 address, a CIDR block nor a domain name"
                    ));
                }
            }
        }
        for entry in deny_out {
            match parse_entry(entry) {
                Entry::V4(r) => deny.push(r),
                // Nothing IPv6 leaves a sandbox: the rule holds already.
                Entry::V6 => {}
                Entry::Domain(_) => {
                    return Err(format!(
                        "network.denyOut entry '{entry}' is a domain: denyOut takes IP addresses and CIDR blocks only"
                    ));
                }
                Entry::Bad => {
                    return Err(format!(
                        "network.denyOut entry '{entry}' is neither an IP address nor a CIDR block"
                    ));
                }
            }
        }
        if allow_internet_access == Some(false) {
            deny.push(Range {
                first: 0,
                last: u32::MAX,
            });
        }
        Ok(Policy {
            allow: merge(allow),
            deny: merge(deny),
            domains,
        })
    }

    /// Whether a connection to `ip` passes on its address alone.
    pub fn allows_ip(&self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        self.allow.iter().any(|r| r.contains(ip)) || !self.deny.iter().any(|r| r.contains(ip))
    }

    /// Whether a connection to a denied address passes on the name it asks for.
    pub fn allows_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|d| d.matches(&name))
    }

    /// Whether the sandbox's DNS queries are answered.
    pub fn allows_dns(&self) -> bool {
        self.allows_ip(NAMESERVER) || !self.domains.is_empty()
    }
}

enum Entry {
    V4(Range),
    V6,
    Domain(Domain),
    Bad,
}

fn parse_entry(entry: &str) -> Entry {
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (entry, None),
    };
    let prefix_of = |max: u8| -> Option<u8> {
        match prefix {
            None => Some(max),
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|n| *n <= max)
            }
            Some(_) => None,
        }
    };
    if let Ok(ip) = addr.parse::<Ipv4Addr>() {
        return match prefix_of(32) {
            Some(len) => {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let first = u32::from(ip) & mask;
                Entry::V4(Range {
                    first,
                    last: first | !mask,
                })
            }
            None => Entry::Bad,
        };
    }
    if addr.parse::<Ipv6Addr>().is_ok() {
        return if prefix_of(128).is_some() {
            Entry::V6
        } else {
            Entry::Bad
        };
    }
    if prefix.is_none()
        && let Some(d) = parse_domain(entry)
    {
        return Entry::Domain(d);
    }
    Entry::Bad
}

/// `name` or `*.name`, each label 1 to 63 letters, digits, `-` or `_`, not all digits at the
/// end (that would be an address written badly).
fn parse_domain(entry: &str) -> Option<Domain> {
    let lower = entry.trim_end_matches('.').to_ascii_lowercase();
    let (below, name) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest.to_string()),
        None => (false, lower),
    };
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !labels.iter().all(label_ok) || labels.last()?.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if below {
        Domain::Below(name)
    } else {
        Domain::Exact(name)
    })
}

/// Sorted, disjoint ranges covering the same addresses (nftables refuses overlapping
/// elements in one set).
fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort();
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.first <= last.last.saturating_add(1) => {
                last.last = last.last.max(r.last);
            }
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(internet: Option<bool>, allow: &[&str], deny: &[&str]) -> Result<Policy, String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Policy::parse(internet, &s(allow), &s(deny))
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn everything_is_allowed_by_default() {
        let policy = p(None, &[], &[]).unwrap();
        assert!(policy.allows_ip(ip("1.2.3.4")));
        assert!(policy.allows_dns());
    }

    #[test]
    fn allow_beats_deny() {
        let policy = p(None, &["1.1.1.1", "8.8.8.0/24"], &["0.0.0.0/0"]).unwrap();
        assert!(policy.allows_ip(ip("1.1.1.1")));
        assert!(policy.allows_ip(ip("8.8.8.200")));
        assert!(!policy.allows_ip(ip("1.1.1.2")));
        assert!(!policy.allows_ip(ip("9.9.9.9")));
        assert!(policy.allows_dns(), "8.8.8.8 is in an allowed block");
    }

    #[test]
    fn no_internet_denies_all_but_what_is_allowed() {
        let policy = p(Some(false), &[], &[]).unwrap();
        assert!(!policy.allows_ip(ip("1.2.3.4")));
        assert!(!policy.allows_dns());
        let policy = p(Some(false), &["10.0.0.0/8"], &[]).unwrap();
        assert!(policy.allows_ip(ip("10.9.9.9")));
        assert!(!policy.allows_ip(ip("11.0.0.1")));
    }

    #[test]
    fn domains_match_exactly_or_below() {
        let policy = p(None, &["API.example.com.", "*.github.com"], &["0.0.0.0/0"]).unwrap();
        assert!(policy.allows_name("api.example.com"));
        assert!(policy.allows_name("Api.Example.Com."));
        assert!(!policy.allows_name("x.api.example.com"));
        assert!(!policy.allows_name("example.com"));
        assert!(policy.allows_name("www.github.com"));
        assert!(policy.allows_name("a.b.github.com"));
        assert!(!policy.allows_name("github.com"));
        assert!(!policy.allows_name("evilgithub.com"));
        assert!(!policy.allows_name(".github.com"));
        assert!(policy.allows_dns(), "a domain rule lets DNS through");
        assert!(!policy.allows_ip(ip("140.82.112.3")));
    }

    #[test]
    fn bad_entries_are_named() {
        for (allow, deny, word) in [
            (&["not an ip"][..], &[][..], "not an ip"),
            (&["1.2.3.4/33"], &[], "1.2.3.4/33"),
            (&["1.2.3.4/"], &[], "1.2.3.4/"),
            (&["1.2.3"], &[], "1.2.3"),
            (&["::1"], &[], "IPv6"),
            (&["*."], &[], "*."),
            (&[], &["example.com"], "denyOut"),
            (&[], &["1.2.3.4/x"], "1.2.3.4/x"),
            (&[""], &[], "allowOut"),
        ] {
            let err = p(None, allow, deny).unwrap_err();
            assert!(err.contains(word), "{err}");
        }
        // An IPv6 deny rule holds already.
        assert!(p(None, &[], &["::/0", "2001:db8::/32"]).is_ok());
    }

    #[test]
    fn blocks_are_normalised_and_merged() {
        let policy = p(None, &["10.0.0.7/24", "10.0.1.0/24", "10.0.0.5"], &[]).unwrap();
        assert_eq!(
            policy.allow,
            vec![Range {
                first: u32::from(ip("10.0.0.0")),
                last: u32::from(ip("10.0.1.255"))
            }]
        );
    }
}
