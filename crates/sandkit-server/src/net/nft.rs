//! sandkitd's nftables table: one per sandkitd, named after its address block, holding every
//! sandbox's rules as set elements keyed by the sandbox's address (so a create, an update or
//! a kill changes elements, never rules). Applied with the `nft` program, each change one
//! atomic transaction.
//!
//! What the rules do, for packets that come in from a sandbox's host-side interface:
//! - prerouting (nat): DNS (UDP 53, to any address) goes to sandkitd's forwarder; TCP 80 and
//!   443 of a sandbox with domain rules, to a denied address, go to sandkitd's proxy, which
//!   reads the Host or SNI; nothing else is rewritten.
//! - forward (filter): replies to established connections pass; IPv6 and traffic to other
//!   sandboxes are refused; a new TCP connection over the sandbox's limit is refused; then an
//!   allowed address passes, a denied one is refused, and the rest passes.
//! - input (filter): a sandbox reaches the host only through the two redirects above (to
//!   sandkitd's listeners on 127.0.0.1);
//!   anything else addressed to the host (its API port, other services, any of its
//!   addresses) is refused.
//! - postrouting (nat): what leaves for elsewhere is masqueraded behind the host's address.
//! - forward, towards a sandbox: only replies; nobody outside opens a connection to it.

use super::policy::{Policy, Range};
use std::fmt::Write;
use std::net::Ipv4Addr;

/// Names and numbers the rules are written with.
#[derive(Debug, Clone)]
pub struct Table {
    /// `sandkitd<n>`.
    pub name: String,
    /// Host-side interface names start with it (`sk<n>x`).
    pub iface_prefix: String,
    /// The block of sandbox addresses, as `a.b.c.d/len`.
    pub block: String,
    pub proxy_port: u16,
    pub dns_port: u16,
    pub max_connections: u32,
}

impl Table {
    /// The whole table, replacing any table of the same name an earlier sandkitd left.
    pub fn create_script(&self) -> String {
        let Table {
            name,
            iface_prefix: p,
            block,
            proxy_port,
            dns_port,
            max_connections,
        } = self;
        format!(
            r#"table inet {name}
delete table inet {name}
table inet {name} {{
  set allow {{ type ipv4_addr . ipv4_addr; flags interval; }}
  set deny {{ type ipv4_addr . ipv4_addr; flags interval; }}
  set domains {{ type ipv4_addr; }}
  set connections {{ type ipv4_addr; flags dynamic; size 65535; }}
  chain hook_prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "{p}*" jump from_sandbox_nat
  }}
  chain from_sandbox_nat {{
    meta l4proto udp udp dport 53 dnat ip to 127.0.0.1:{dns_port}
    fib daddr type local return
    ip saddr . ip daddr @allow return
    ip saddr @domains ip saddr . ip daddr @deny tcp dport {{ 80, 443 }} dnat ip to 127.0.0.1:{proxy_port}
  }}
  chain hook_forward {{
    type filter hook forward priority filter; policy accept;
    iifname "{p}*" jump from_sandbox
    oifname "{p}*" jump to_sandbox
  }}
  chain from_sandbox {{
    ct state established,related accept
    meta nfproto ipv6 reject
    oifname "{p}*" reject
    ct state new meta l4proto tcp add @connections {{ ip saddr ct count over {max_connections} }} reject
    ip saddr . ip daddr @allow accept
    ip saddr . ip daddr @deny reject
    accept
  }}
  chain to_sandbox {{
    ct state established,related accept
    drop
  }}
  chain hook_input {{
    type filter hook input priority filter; policy accept;
    iifname "{p}*" jump sandbox_to_host
  }}
  chain sandbox_to_host {{
    ct state established,related accept
    ct status dnat ct state new meta l4proto tcp add @connections {{ ip saddr ct count over {max_connections} }} reject
    ct status dnat accept
    reject
  }}
  chain hook_postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {block} oifname != "{p}*" masquerade
  }}
}}
"#
        )
    }

    /// Forgets the connections counted for `addr` (the count of a sandbox that had it before
    /// would otherwise go on: connections a killed sandbox left open stay in the kernel's
    /// tracking for days). Adding first makes the deletion valid whether or not it is there.
    pub fn reset_count_script(&self, addr: Ipv4Addr) -> String {
        format!(
            "add element inet {0} connections {{ {addr} }}\ndelete element inet {0} connections {{ {addr} }}\n",
            self.name
        )
    }

    pub fn delete_script(&self) -> String {
        format!("table inet {0}\ndelete table inet {0}\n", self.name)
    }

    /// Adds (`add`) or removes (`delete`) the elements of `policy` for the sandbox at `addr`.
    pub fn elements_script(&self, verb: &str, addr: Ipv4Addr, policy: &Policy) -> String {
        let mut s = String::new();
        for (set, ranges) in [("allow", &policy.allow), ("deny", &policy.deny)] {
            if ranges.is_empty() {
                continue;
            }
            let items: Vec<String> = ranges
                .iter()
                .map(|r| format!("{addr} . {}", range_text(r)))
                .collect();
            let _ = writeln!(
                s,
                "{verb} element inet {} {set} {{ {} }}",
                self.name,
                items.join(", ")
            );
        }
        if !policy.domains.is_empty() {
            let _ = writeln!(s, "{verb} element inet {} domains {{ {addr} }}", self.name);
        }
        s
    }
}

fn range_text(r: &Range) -> String {
    let (first, last) = (Ipv4Addr::from(r.first), Ipv4Addr::from(r.last));
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// Runs `script` as one nftables transaction.
pub async fn apply(script: &str) -> Result<(), String> {
    let mut nft = tokio::process::Command::new("nft");
    nft.args(["-f", "-"]);
    super::feed(nft, script).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_keyed_by_the_sandbox() {
        let t = Table {
            name: "sandkitd0".into(),
            iface_prefix: "sk0x".into(),
            block: "10.201.0.0/20".into(),
            proxy_port: 1,
            dns_port: 2,
            max_connections: 3,
        };
        let policy = Policy::parse(
            None,
            &["1.1.1.1".into(), "8.8.8.0/24".into(), "a.test".into()],
            &["0.0.0.0/0".into()],
        )
        .unwrap();
        let s = t.elements_script("add", "10.201.0.1".parse().unwrap(), &policy);
        assert_eq!(
            s,
            "add element inet sandkitd0 allow { 10.201.0.1 . 1.1.1.1, 10.201.0.1 . 8.8.8.0-8.8.8.255 }\n\
             add element inet sandkitd0 deny { 10.201.0.1 . 0.0.0.0-255.255.255.255 }\n\
             add element inet sandkitd0 domains { 10.201.0.1 }\n"
        );
        assert_eq!(
            t.elements_script("delete", "10.201.0.1".parse().unwrap(), &Policy::default()),
            ""
        );
    }
}
