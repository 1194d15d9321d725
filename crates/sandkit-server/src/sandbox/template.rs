//! Templates: the root filesystems sandboxes run on. A template is a list of read-only layers;
//! each sandbox mounts them under overlays whose writable upper directories live in its own
//! state directory, so whatever it changes (root included) is its own and goes when it does.
//!
//! The default template is assembled from the host by an allowlist: a fresh skeleton for `/`
//! (empty `/home`, `/root`, `/var`, `/tmp`), then the host's `/usr`, `/etc`, `/opt`, the
//! package-manager state in `/var/lib` and the `/bin`, `/sbin`, `/lib*` directories or links.
//! Nothing else of the host is in it. Within `/etc`, `/opt` and `/var/lib`, what the host keeps
//! from its other users (a file nobody else may read, a directory nobody else may enter:
//! `/etc/shadow`, `/etc/ssl/private`, ...) is hidden by a whiteout in a mask layer above it.
//! `sandkitd --template NAME=DIR` adds templates that are a whole root filesystem in `DIR`.

use serde::{Deserialize, Serialize};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The names the default template answers to: what the official SDKs create by default.
pub const DEFAULT_NAMES: &[&str] = &["base", "code-interpreter-v1"];

/// The host trees the default template takes, as paths below `/`.
const HOST_TREES: &[&str] = &[
    "usr", "etc", "opt", "var/lib", "bin", "sbin", "lib", "lib32", "lib64", "libx32",
];

/// The package-manager state `/var/lib` keeps (everything else there is the host's services').
const VAR_LIB_KEPT: &[&str] = &[
    "dpkg",
    "apt",
    "ucf",
    "python",
    "pam",
    "misc",
    "sgml-base",
    "xml-core",
];

/// Trees scanned for what the host keeps from other users. `/usr` is the operating system
/// itself, given whole (and too large to scan at every start).
const SCANNED_TREES: &[&str] = &["etc", "opt", "var/lib"];

/// One overlay of a sandbox's root: mounted at `target`, with its read-only layers, top first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub target: String,
    pub lowers: Vec<PathBuf>,
}

/// A root filesystem: its overlays, `/` first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub layers: Vec<Layer>,
    /// Its `/etc` accounts are the host's: sandboxes keep only the system accounts.
    pub host_accounts: bool,
    /// It has a place for `sudo` (`/usr/bin/sudo`, an empty file in an extra layer over
    /// `usr`) that each sandbox binds its client onto: sandkitd's own executable, which runs
    /// on the host's libraries the template has (see `sudo.rs`).
    #[serde(default)]
    pub sudo: bool,
}

/// The templates of one server.
#[derive(Debug)]
pub struct Templates {
    default: Template,
    named: Vec<(String, Template)>,
}

impl Templates {
    /// Builds the default template's skeleton and masks in `dir` (replacing what an earlier
    /// start left there) and checks the named ones.
    pub fn prepare(dir: &Path, named: &[(String, PathBuf)]) -> std::io::Result<Templates> {
        let default = build_default(&dir.join("default"), Path::new("/"))?;
        let mut checked = Vec::new();
        for (name, root) in named {
            checked.push((name.clone(), check_named(name, root)?));
        }
        Ok(Templates {
            default,
            named: checked,
        })
    }

    /// Whether `name` is the default template (not replaced by a named one).
    pub fn is_default(&self, name: &str) -> bool {
        DEFAULT_NAMES.contains(&name) && !self.named.iter().any(|(n, _)| n == name)
    }

    /// The template called `name`: a named one, else the default under its names.
    pub fn get(&self, name: &str) -> Option<&Template> {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .or_else(|| DEFAULT_NAMES.contains(&name).then_some(&self.default))
    }
}

/// A template name as the API accepts it: letters, digits, `-`, `_`, `.`; 1 to 128 of them.
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_named(name: &str, root: &Path) -> std::io::Result<Template> {
    let bad =
        |why: String| std::io::Error::other(format!("--template {name}={}: {why}", root.display()));
    if !valid_name(name) {
        return Err(bad(
            "the name may only hold letters, digits, '-', '_' and '.'".into(),
        ));
    }
    let root = std::fs::canonicalize(root).map_err(|e| bad(e.to_string()))?;
    if !root.is_dir() {
        return Err(bad("not a directory".into()));
    }
    // Every process is started by /bin/sh or /bin/bash; links resolve inside the template.
    if open_inside(&root, "bin/sh", nix::fcntl::OFlag::O_PATH).is_none() {
        return Err(bad(
            "no /bin/sh in it: it must hold a whole root filesystem".into(),
        ));
    }
    Ok(Template {
        layers: vec![Layer {
            target: "/".into(),
            lowers: vec![root],
        }],
        host_accounts: false,
        sudo: false,
    })
}

/// Opens `path` below `root` with `flags`, symlinks followed as if `root` were `/`: a
/// template's link can never lead sandkitd to a file of the host.
pub fn open_inside(
    root: &Path,
    path: &str,
    flags: nix::fcntl::OFlag,
) -> Option<std::os::fd::OwnedFd> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
    let dir = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT);
    openat2(&dir, path, how).ok()
}

/// The default template from the host rooted at `host` (`/`; tests use a fake host).
fn build_default(dir: &Path, host: &Path) -> std::io::Result<Template> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let skeleton = dir.join("skeleton");
    build_skeleton(&skeleton, host)?;
    let mut layers = vec![Layer {
        target: "/".into(),
        lowers: vec![skeleton],
    }];
    for tree in HOST_TREES {
        let source = host.join(tree);
        let Ok(meta) = std::fs::symlink_metadata(&source) else {
            continue;
        };
        if !meta.is_dir() {
            continue; // a link (merged /usr) is in the skeleton
        }
        let mask = dir.join("masks").join(tree);
        let hidden = build_mask(&source, tree, &mask)?;
        let mut lowers = Vec::new();
        if hidden > 0 {
            lowers.push(mask);
        }
        if *tree == "usr" {
            let additions = dir.join("additions").join(tree);
            add_usr_commands(&source, &additions)?;
            lowers.push(additions);
        }
        lowers.push(source);
        layers.push(Layer {
            target: format!("/{tree}"),
            lowers,
        });
    }
    Ok(Template {
        layers,
        host_accounts: true,
        sudo: true,
    })
}

/// The commands E2B's base image has that the host may lack, in an extra layer over `usr`:
/// `bin/sudo`, an empty file each sandbox binds its client onto (over the host's, which could
/// not raise a sandbox's privileges); and `python` for `python3` where the host has only the
/// latter (code written for E2B calls `python`), a link in `local/bin`.
fn add_usr_commands(usr: &Path, additions: &Path) -> std::io::Result<()> {
    let dir = |path: &Path| -> std::io::Result<()> {
        std::fs::create_dir_all(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
    };
    dir(additions)?;
    dir(&additions.join("bin"))?;
    let sudo = additions.join("bin/sudo");
    std::fs::File::create(&sudo)?;
    std::fs::set_permissions(&sudo, std::fs::Permissions::from_mode(0o755))?;
    let exists = |p: &str| std::fs::symlink_metadata(usr.join(p)).is_ok();
    if exists("bin/python3") && !exists("bin/python") && !exists("local/bin/python") {
        dir(&additions.join("local"))?;
        dir(&additions.join("local/bin"))?;
        std::os::unix::fs::symlink("/usr/bin/python3", additions.join("local/bin/python"))?;
    }
    Ok(())
}

/// The directories of a fresh root. Owners are inside ids (the layer is id-mapped per
/// sandbox): root's, and `user`'s home.
const SKELETON_DIRS: &[(&str, u32, u32)] = &[
    ("usr", 0o755, 0),
    ("etc", 0o755, 0),
    ("opt", 0o755, 0),
    ("var", 0o755, 0),
    ("var/lib", 0o755, 0),
    ("var/cache", 0o755, 0),
    ("var/log", 0o755, 0),
    ("var/tmp", 0o1777, 0),
    ("var/spool", 0o755, 0),
    ("var/mail", 0o755, 0),
    ("var/local", 0o755, 0),
    ("var/opt", 0o755, 0),
    ("var/backups", 0o755, 0),
    ("home", 0o755, 0),
    ("home/user", 0o755, super::USER_ID),
    ("root", 0o700, 0),
    ("tmp", 0o1777, 0),
    ("run", 0o755, 0),
    ("proc", 0o555, 0),
    ("sys", 0o555, 0),
    ("dev", 0o755, 0),
    ("mnt", 0o755, 0),
    ("media", 0o755, 0),
    ("srv", 0o755, 0),
];

fn build_skeleton(skeleton: &Path, host: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(skeleton)?;
    std::fs::set_permissions(skeleton, std::fs::Permissions::from_mode(0o755))?;
    for (path, mode, owner) in SKELETON_DIRS {
        let p = skeleton.join(path);
        std::fs::create_dir(&p)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode))?;
        if *owner != 0 {
            std::os::unix::fs::chown(&p, Some(*owner), Some(*owner))?;
        }
    }
    std::os::unix::fs::symlink("/run", skeleton.join("var/run"))?;
    std::os::unix::fs::symlink("/run/lock", skeleton.join("var/lock"))?;
    // /bin, /sbin and /lib*: links where the host has links (merged /usr), else mount points.
    for tree in HOST_TREES.iter().filter(|t| !t.contains('/')) {
        let source = host.join(tree);
        let target = skeleton.join(tree);
        let Ok(meta) = std::fs::symlink_metadata(&source) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if meta.is_dir() && !target.exists() {
            std::fs::create_dir(&target)?;
            std::fs::set_permissions(
                &target,
                std::fs::Permissions::from_mode(meta.mode() & 0o7777),
            )?;
        }
    }
    Ok(())
}

/// Whether the host keeps this entry from its other users: a directory they may not list and
/// enter, a file they may neither read nor run, and anything that is not a file, directory or
/// link (sockets, pipes, devices).
fn private(meta: &std::fs::Metadata) -> bool {
    let mode = meta.mode();
    let kind = meta.file_type();
    if kind.is_symlink() {
        false
    } else if kind.is_dir() {
        mode & 0o005 != 0o005
    } else if kind.is_file() {
        mode & 0o005 == 0
    } else {
        true
    }
}

/// Fills `mask` (a layer above `source`) with whiteouts for what sandboxes must not see of the
/// host tree `tree`. Returns how many entries it hides.
fn build_mask(source: &Path, tree: &str, mask: &Path) -> std::io::Result<usize> {
    let mut hidden = Vec::new();
    let root_dev = std::fs::metadata(source)?.dev();
    if tree == "var/lib" {
        for entry in std::fs::read_dir(source)? {
            let name = entry?.file_name();
            if !VAR_LIB_KEPT.iter().any(|k| name == *k) {
                hidden.push(PathBuf::from(name));
            }
        }
    }
    if tree == "usr" {
        // pip refuses to install anything in a Debian system Python (PEP 668); a sandbox is
        // its own machine, so it may, as in E2B's templates.
        if let Ok(entries) = std::fs::read_dir(source.join("lib")) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let marker = Path::new("lib").join(&name).join("EXTERNALLY-MANAGED");
                if name.to_string_lossy().starts_with("python3") && source.join(&marker).exists() {
                    hidden.push(marker);
                }
            }
        }
    }
    if SCANNED_TREES.contains(&tree) {
        scan_private(
            source,
            Path::new(""),
            root_dev,
            &hidden.clone(),
            &mut hidden,
        )?;
    }
    if hidden.is_empty() {
        return Ok(0);
    }
    mirror_dir(source, mask)?;
    for rel in &hidden {
        let mut dir = PathBuf::new();
        if let Some(parent) = rel.parent() {
            for part in parent.components() {
                dir.push(part);
                let m = mask.join(&dir);
                if !m.exists() {
                    mirror_dir(&source.join(&dir), &m)?;
                }
            }
        }
        whiteout(&mask.join(rel))?;
    }
    Ok(hidden.len())
}

/// Walks `source/rel` on one filesystem, collecting private entries (not descending into
/// them, nor into `skip`).
fn scan_private(
    source: &Path,
    rel: &Path,
    dev: u64,
    skip: &[PathBuf],
    out: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(source.join(rel)) else {
        return Ok(()); // vanished meanwhile, or unreadable: nothing to mirror from it either
    };
    for entry in entries {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        if skip.contains(&child) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if private(&meta) {
            out.push(child);
        } else if meta.is_dir() && meta.dev() == dev {
            scan_private(source, &child, dev, skip, out)?;
        }
    }
    Ok(())
}

/// Creates `to` as a directory with `from`'s mode, owner and times: in an overlay the upper
/// layer's directory attributes are the ones shown.
fn mirror_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(from)?;
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))?;
    let times = std::fs::FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    std::fs::File::open(to)?.set_times(times)?;
    Ok(())
}

/// An overlay whiteout: a character device 0/0 hides the entry of the same name below it.
fn whiteout(path: &Path) -> std::io::Result<()> {
    nix::sys::stat::mknod(
        path,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        0,
    )
    .map_err(|e| std::io::Error::other(format!("whiteout {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("sandkit-tpl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn file(path: &Path, mode: u32) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "x").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_default_template_is_an_allowlist_with_private_entries_hidden() {
        let host = temp("host");
        file(&host.join("etc/hostname"), 0o644);
        file(&host.join("etc/shadow"), 0o640);
        file(&host.join("etc/ssl/private/key.pem"), 0o600);
        std::fs::set_permissions(
            host.join("etc/ssl/private"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        file(&host.join("etc/ssl/certs/ca.pem"), 0o644);
        file(&host.join("usr/bin/tool"), 0o711);
        file(&host.join("usr/bin/python3"), 0o755);
        file(&host.join("usr/lib/python3.11/EXTERNALLY-MANAGED"), 0o644);
        file(&host.join("var/lib/dpkg/status"), 0o644);
        file(&host.join("var/lib/postgresql/data"), 0o644);
        file(&host.join("home/alice/secret"), 0o644);
        file(&host.join("root/secret"), 0o600);
        std::os::unix::fs::symlink("usr/bin", host.join("bin")).unwrap();

        let out = temp("out");
        let t = build_default(&out, &host).unwrap();
        let targets: Vec<&str> = t.layers.iter().map(|l| l.target.as_str()).collect();
        assert_eq!(targets, ["/", "/usr", "/etc", "/var/lib"]);
        assert!(t.host_accounts);
        let skeleton = &t.layers[0].lowers[0];
        assert_eq!(
            std::fs::read_link(skeleton.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert!(skeleton.join("home/user").is_dir());
        assert!(!skeleton.join("home/alice").exists());
        assert_eq!(
            std::fs::metadata(skeleton.join("home/user")).unwrap().uid(),
            super::super::USER_ID
        );

        let is_whiteout = |p: PathBuf| {
            let m =
                std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_char_device() && m.rdev() == 0
        };
        let etc = &t.layers[2];
        assert_eq!(etc.lowers.len(), 2, "a mask above the host's /etc");
        assert!(is_whiteout(etc.lowers[0].join("shadow")));
        assert!(is_whiteout(etc.lowers[0].join("ssl/private")));
        assert!(!etc.lowers[0].join("hostname").exists());
        assert!(!etc.lowers[0].join("ssl/certs").exists());
        // The mask's directories look like the host's.
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(etc.lowers[0].join("ssl")), mode(host.join("etc/ssl")));
        let var_lib = &t.layers[3];
        assert!(is_whiteout(var_lib.lowers[0].join("postgresql")));
        assert!(!var_lib.lowers[0].join("dpkg").exists());
        let usr = &t.layers[1];
        assert!(is_whiteout(
            usr.lowers[0].join("lib/python3.11/EXTERNALLY-MANAGED")
        ));
        assert!(
            !usr.lowers[0].join("bin/tool").exists(),
            "runnable files stay"
        );
        // `python` for the host's `python3` and a place for `sudo`, in a layer between the
        // mask and the host's /usr.
        assert_eq!(usr.lowers.len(), 3, "{:?}", usr.lowers);
        assert_eq!(
            std::fs::read_link(usr.lowers[1].join("local/bin/python")).unwrap(),
            Path::new("/usr/bin/python3")
        );
        assert_eq!(
            std::fs::metadata(usr.lowers[1].join("bin/sudo"))
                .unwrap()
                .len(),
            0
        );
        assert!(t.sudo);
        let with_python = temp("with-python");
        file(&with_python.join("bin/python3"), 0o755);
        file(&with_python.join("bin/python"), 0o755);
        let only_sudo = temp("only-sudo");
        add_usr_commands(&with_python, &only_sudo).unwrap();
        assert!(!only_sudo.join("local").exists());
        assert!(only_sudo.join("bin/sudo").exists());
        std::fs::remove_dir_all(&with_python).unwrap();
        std::fs::remove_dir_all(&only_sudo).unwrap();

        // Building again replaces the old one.
        assert_eq!(build_default(&out, &host).unwrap(), t);
        std::fs::remove_dir_all(&host).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn named_templates_need_a_root_filesystem() {
        let dir = temp("named");
        let err = check_named("tiny", &dir).unwrap_err().to_string();
        assert!(err.contains("no /bin/sh"), "{err}");
        file(&dir.join("usr/bin/sh"), 0o755);
        std::os::unix::fs::symlink("/usr/bin", dir.join("bin")).unwrap();
        let t = check_named("tiny", &dir).unwrap();
        assert_eq!(t.layers.len(), 1);
        assert!(!t.host_accounts);
        assert!(check_named("a/b", &dir).is_err());
        assert!(valid_name("code-interpreter-v1"));
        assert!(!valid_name(""));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
