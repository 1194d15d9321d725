//! What sandkitd adds to every sandbox on top of its template: its accounts (`/etc/passwd`,
//! `group`, `shadow`, `gshadow`), its `/etc/machine-id` and `/etc/resolv.conf`, and the directories it needs that a
//! template may lack (the homes, the mount points). They are staged in memory as one more
//! read-only layer, above the template's, so setting a sandbox up writes nothing to disk; the
//! sandbox may still change them (a write goes to its upper layer, as for any template file).
//! Its name (`/etc/hostname`, `/etc/hosts`) comes later, when it is asked for (see the agent).

use super::USER_ID;
use super::accounts;
use super::ids::IdMap;
use super::mounts::err;
use super::template::{Template, open_inside};
use std::path::{Path, PathBuf};

/// One file or directory of the sandbox's own, with its owner (inside ids) and mode.
struct Item {
    path: &'static str,
    content: Option<String>,
    uid: u32,
    gid: u32,
    mode: u32,
}

/// A sandbox's `/etc/resolv.conf`.
const RESOLV_CONF: &str = "nameserver 8.8.8.8\n";

/// Directories every sandbox needs; added only where the template lacks them.
const NEEDED_DIRS: &[(&str, u32, u32)] = &[
    ("/root", 0, 0o700),
    ("/home", 0, 0o755),
    ("/home/user", USER_ID, 0o755),
    ("/etc", 0, 0o755),
    ("/tmp", 0, 0o1777),
    ("/run", 0, 0o755),
    ("/dev", 0, 0o755),
    ("/proc", 0, 0o555),
    ("/sys", 0, 0o555),
];

/// The template layer a path inside the sandbox belongs to (the one mounted deepest above it),
/// and the path relative to that layer.
fn layer_of<'a>(template: &Template, path: &'a str) -> (usize, &'a str) {
    let mut best = (0, path.trim_start_matches('/'));
    let mut best_len = 0;
    for (i, layer) in template.layers.iter().enumerate() {
        let target = layer.target.trim_end_matches('/');
        let rest = if target.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(target)
                .filter(|r| r.is_empty() || r.starts_with('/'))
        };
        if let Some(rest) = rest
            && target.len() >= best_len
        {
            best = (i, rest.trim_start_matches('/'));
            best_len = target.len();
        }
    }
    best
}

/// The template's own file at `path`, resolved inside its layer (a template's symlink cannot
/// point sandkitd at a host file); empty when it has none.
fn template_file(template: &Template, path: &str) -> String {
    use nix::fcntl::OFlag;
    let (i, rel) = layer_of(template, path);
    let Some(fd) = template.layers[i]
        .lowers
        .last()
        .and_then(|bottom| open_inside(bottom, rel, OFlag::O_RDONLY | OFlag::O_NONBLOCK))
    else {
        return String::new();
    };
    let mut text = String::new();
    let mut file = std::fs::File::from(fd);
    match file.metadata() {
        Ok(m) if m.is_file() => {
            let _ = std::io::Read::read_to_string(&mut file, &mut text);
        }
        _ => {}
    }
    text
}

/// Whether the template has `path` (in the bottom layer that holds it).
fn template_has(template: &Template, path: &str) -> bool {
    let (i, rel) = layer_of(template, path);
    template.layers[i]
        .lowers
        .iter()
        .any(|lower| std::fs::symlink_metadata(lower.join(rel)).is_ok())
}

fn items(template: &Template, machine_id: &str) -> Vec<Item> {
    let host = template.host_accounts;
    let passwd = accounts::passwd(&template_file(template, "/etc/passwd"), host);
    let group = accounts::group(&template_file(template, "/etc/group"), host, &passwd);
    // The host's hashes are never read; a template's own are kept.
    let (shadow_in, gshadow_in) = if host {
        (None, None)
    } else {
        (
            Some(template_file(template, "/etc/shadow")),
            Some(template_file(template, "/etc/gshadow")),
        )
    };
    let shadow = accounts::shadow(&passwd, shadow_in.as_deref());
    let gshadow = accounts::gshadow(&group, gshadow_in.as_deref());
    let shadow_gid = group
        .lines()
        .find(|l| l.starts_with("shadow:"))
        .and_then(|l| l.split(':').nth(2)?.parse().ok())
        .unwrap_or(0);
    let file = |path, content: String, gid, mode| Item {
        path,
        content: Some(content),
        uid: 0,
        gid,
        mode,
    };
    let mut items: Vec<Item> = NEEDED_DIRS
        .iter()
        .filter(|(path, _, _)| !template_has(template, path))
        .map(|&(path, owner, mode)| Item {
            path,
            content: None,
            uid: owner,
            gid: owner,
            mode,
        })
        .collect();
    items.extend([
        file("/etc/passwd", passwd, 0, 0o644),
        file("/etc/group", group, 0, 0o644),
        file("/etc/shadow", shadow, shadow_gid, 0o640),
        file("/etc/gshadow", gshadow, shadow_gid, 0o640),
        file("/etc/machine-id", format!("{machine_id}\n"), 0, 0o444),
        // E2B's nameserver; whatever address a sandbox sends DNS to, sandkitd's forwarder
        // answers it (see net/dns.rs).
        file("/etc/resolv.conf", RESOLV_CONF.into(), 0, 0o644),
    ]);
    items
}

/// `/etc/hosts` of the sandbox called `hostname` (written when it gets its name).
pub fn hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
}

/// 32 random hex digits: each sandbox is a machine of its own.
fn machine_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Unique enough without the kernel's randomness: the clock.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = t.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates `stage/<layer>/<dir>` like the template's own directory there (in an overlay the
/// topmost layer's directory attributes are the ones shown), or root's 0755 if it has none.
fn mirror_dir(
    template: &Template,
    layer: usize,
    rel: &Path,
    to: &Path,
    ids: &IdMap,
) -> Result<(), String> {
    if to.is_dir() {
        return Ok(());
    }
    std::fs::create_dir(to).map_err(|e| err("mkdir", to, e))?;
    let source = template.layers[layer].lowers.last().map(|b| b.join(rel));
    match source.and_then(|s| std::fs::metadata(s).ok()) {
        Some(m) if m.is_dir() => ids.own_like(to, &m),
        _ => ids.own(to, 0, 0, 0o755),
    }
}

/// Stages the sandbox's own files under `stage` (a tmpfs), one directory per template layer
/// that has any; returns, per layer, that directory.
pub fn stage(
    template: &Template,
    ids: &IdMap,
    stage: &Path,
) -> Result<Vec<Option<PathBuf>>, String> {
    let mut roots: Vec<Option<PathBuf>> = vec![None; template.layers.len()];
    std::fs::create_dir(stage).map_err(|e| err("mkdir", stage, e))?;
    for item in items(template, &machine_id()) {
        let (layer, rel) = layer_of(template, item.path);
        let root = stage.join(layer.to_string());
        if roots[layer].is_none() {
            mirror_dir(template, layer, Path::new(""), &root, ids)?;
            roots[layer] = Some(root.clone());
        }
        let rel = Path::new(rel);
        let mut dir = PathBuf::new();
        if let Some(parent) = rel.parent() {
            for part in parent.components() {
                dir.push(part);
                mirror_dir(template, layer, &dir, &root.join(&dir), ids)?;
            }
        }
        let path = root.join(rel);
        match &item.content {
            Some(content) => std::fs::write(&path, content).map_err(|e| err("write", &path, e))?,
            None => std::fs::create_dir(&path).map_err(|e| err("mkdir", &path, e))?,
        }
        ids.own(&path, item.uid, item.gid, item.mode)?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::super::template::Layer;
    use super::*;

    fn template(targets: &[&str]) -> Template {
        Template {
            layers: targets
                .iter()
                .map(|t| Layer {
                    target: t.to_string(),
                    lowers: vec![PathBuf::from("/nonexistent")],
                })
                .collect(),
            host_accounts: false,
            sudo: false,
        }
    }

    #[test]
    fn a_path_belongs_to_the_deepest_layer_above_it() {
        let t = template(&["/", "/usr", "/etc", "/var/lib"]);
        assert_eq!(layer_of(&t, "/etc/passwd"), (2, "passwd"));
        assert_eq!(layer_of(&t, "/etc"), (2, ""));
        assert_eq!(layer_of(&t, "/etcetera/x"), (0, "etcetera/x"));
        assert_eq!(layer_of(&t, "/var/lib/dpkg/status"), (3, "dpkg/status"));
        assert_eq!(layer_of(&t, "/var/log"), (0, "var/log"));
        assert_eq!(layer_of(&t, "/home/user"), (0, "home/user"));
    }
}
