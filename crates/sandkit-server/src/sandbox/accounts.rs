//! A sandbox's account files (`/etc/passwd`, `group`, `shadow`, `gshadow`), made from its
//! template's. Every sandbox has `root` (0) and `user` (1000, home `/home/user`), as E2B's
//! templates do. When the template's accounts are the host's (the default template), only the
//! system accounts are kept: the host's people, their homes and every password hash stay out.

use super::USER_ID;

/// The account every sandbox has besides root.
const USER_LINE: &str = "user:x:1000:1000:user:/home/user:/bin/bash";
const ROOT_LINE: &str = "root:x:0:0:root:/root:/bin/bash";

/// Below this, ids belong to the system (Debian's and most distributions' rule); 65534 is
/// `nobody`/`nogroup`.
fn is_system_id(id: u32) -> bool {
    id < 1000 || id == 65534
}

/// The id in field `index` of a colon-separated line, if it has one.
fn id_field(line: &str, index: usize) -> Option<u32> {
    line.split(':').nth(index)?.parse().ok()
}

fn name(line: &str) -> &str {
    line.split(':').next().unwrap_or("")
}

/// The lines of a passwd- or group-like file worth keeping: not blank, not comments, and (for
/// host accounts) only system ids; any other `user` or holder of id 1000 gives way to ours.
fn kept_lines(text: &str, id_index: usize, host_accounts: bool) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| {
            let id = id_field(l, id_index);
            name(l) != "user"
                && id != Some(USER_ID)
                && (!host_accounts || id.is_some_and(is_system_id))
        })
        .collect()
}

/// `/etc/passwd`: the template's (its system accounts only, for host accounts), with `root`
/// and `user`.
pub fn passwd(template: &str, host_accounts: bool) -> String {
    let mut lines = kept_lines(template, 2, host_accounts);
    if !lines.iter().any(|l| name(l) == "root") {
        lines.insert(0, ROOT_LINE);
    }
    lines.push(USER_LINE);
    join(&lines)
}

/// `/etc/group`: the template's (system groups only, for host accounts), with `root` and `user`.
/// Memberships of dropped accounts are dropped with them.
pub fn group(template: &str, host_accounts: bool, passwd: &str) -> String {
    let accounts: Vec<&str> = passwd.lines().map(name).collect();
    let mut lines: Vec<String> = kept_lines(template, 2, host_accounts)
        .into_iter()
        .map(|l| {
            let mut fields: Vec<&str> = l.splitn(4, ':').collect();
            if host_accounts && fields.len() == 4 {
                let members: Vec<&str> = fields[3]
                    .split(',')
                    .filter(|m| !m.is_empty() && accounts.contains(m))
                    .collect();
                let members = members.join(",");
                fields[3] = "";
                return format!("{}{members}", fields.join(":"));
            }
            l.to_string()
        })
        .collect();
    if !lines.iter().any(|l| name(l) == "root") {
        lines.insert(0, "root:x:0:".into());
    }
    lines.push(format!("user:x:{USER_ID}:"));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    join(&lines)
}

/// `/etc/shadow` for the accounts of `passwd`: the template's entry when it has one (never for
/// host accounts: the host's hashes are not the sandbox's business), else a locked password
/// (`*`: no password login; `sudo`-less root is reached with the SDK's `user: 'root'`).
pub fn shadow(passwd: &str, template: Option<&str>) -> String {
    secrets(passwd, template, |n| format!("{n}:*::0:99999:7:::"))
}

/// `/etc/gshadow` for the groups of `group`, as [`shadow`] does for accounts.
pub fn gshadow(group: &str, template: Option<&str>) -> String {
    secrets(group, template, |n| format!("{n}:*::"))
}

fn secrets(accounts: &str, template: Option<&str>, locked: impl Fn(&str) -> String) -> String {
    let lines: Vec<String> = accounts
        .lines()
        .map(name)
        .filter(|n| !n.is_empty())
        .map(|n| {
            template
                .and_then(|t| t.lines().find(|l| name(l) == n && n != "user"))
                .map_or_else(|| locked(n), str::to_string)
        })
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    join(&lines)
}

fn join(lines: &[&str]) -> String {
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/bash\n\
        bob:x:1001:1001::/home/bob:/bin/zsh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const HOST_GROUP: &str = "root:x:0:\nsudo:x:27:alice,bob\nstaff:x:50:\n\
        alice:x:1000:\nbob:x:1001:\nnogroup:x:65534:\n";

    #[test]
    fn host_accounts_keep_only_the_system_and_add_user() {
        let p = passwd(HOST_PASSWD, true);
        assert_eq!(
            p,
            "root:x:0:0:root:/root:/bin/bash\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
             user:x:1000:1000:user:/home/user:/bin/bash\n"
        );
        let g = group(HOST_GROUP, true, &p);
        assert_eq!(
            g,
            "root:x:0:\nsudo:x:27:\nstaff:x:50:\nnogroup:x:65534:\nuser:x:1000:\n"
        );
        let s = shadow(&p, None);
        assert!(s.starts_with("root:*::0:99999:7:::\n"), "{s}");
        assert!(s.contains("user:*::0:99999:7:::\n"));
        assert!(!s.contains("alice"));
        assert_eq!(gshadow(&g, None).lines().count(), 5);
    }

    #[test]
    fn a_template_keeps_its_accounts_and_gains_user() {
        let t = "root:x:0:0:root:/root:/bin/sh\nubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n\
            app:x:1005:1005::/srv/app:/bin/sh\n";
        let p = passwd(t, false);
        assert!(p.contains("root:x:0:0:root:/root:/bin/sh\n"));
        assert!(p.contains("app:x:1005"), "{p}");
        assert!(!p.contains("ubuntu"), "id 1000 is user's: {p}");
        assert!(p.ends_with(&format!("{USER_LINE}\n")));
        // Its own hashes stay; user gets a locked one.
        let s = shadow(
            &p,
            Some("root:$6$abc:19000:0:99999:7:::\nuser:$6$x:1::::::\n"),
        );
        assert!(s.contains("root:$6$abc:19000"));
        assert!(s.contains("user:*::"));
        assert!(s.contains("app:*::"));
    }

    #[test]
    fn root_is_always_there() {
        let p = passwd("", true);
        assert_eq!(p, format!("{ROOT_LINE}\n{USER_LINE}\n"));
        assert_eq!(group("", true, &p), "root:x:0:\nuser:x:1000:\n");
    }
}
