//! The `sandkitd` command line: flags, help text and the start-up banner.

use crate::config::{LimitsConfig, ServerConfig};
use crate::limits::Rate;
use crate::random;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};

/// The version printed by `--version` and in the banner.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The team of a key given without `=TEAM`, and of the generated key.
pub const DEFAULT_TEAM: &str = "default";

/// The port when `--port` is not given.
pub const DEFAULT_PORT: u16 = 3000;

/// `--help` text.
pub const USAGE: &str = "\
sandkitd: a local E2B-compatible server for developing and testing with any E2B SDK

Usage: sandkitd [OPTIONS]

Options:
      --host <ADDR>           IP address to listen on, or localhost for 127.0.0.1 and ::1
                              (what *.localhost names resolve to) [default: localhost]
      --port <PORT>           TCP port to listen on; 0 picks a free one [default: 3000]
      --api-key <KEY[=TEAM]>  Accept KEY for team TEAM (team \"default\" without =TEAM);
                              repeat for more keys. Without any, a random key is generated
      --domain <DOMAIN>       Sandbox domain reported to SDKs [default: localhost:<port>]
      --state-dir <DIR>       Where sandbox files and records live; given, sandboxes outlive a
                              restart: paused ones (and those with autoPause) come back paused,
                              their files kept, to resume as a reboot [default: a new directory
                              in $TMPDIR, removed at exit]
      --max-paused-age <T>    Paused sandboxes older than this are deleted, e.g. 30d, 12h, 90m
                              [default: 30d]
      --template <NAME=DIR>   Sandbox.create('NAME') runs on the root filesystem in DIR (an
                              unpacked image or debootstrap tree); repeat for more. Without
                              it, 'base' and 'code-interpreter-v1' run on the default
                              template, made of the host's /usr, /etc, /opt (see docs)
      --python <PATH>         The Python interpreter of code contexts (port 49999), a name
                              on the sandbox's PATH or a path the sandbox sees, such as a
                              virtual environment under /opt [default: python3]
      --typescript <DIR>      The TypeScript compiler package (the directory of npm's
                              'typescript', one the sandbox sees) that TypeScript contexts
                              strip types with where Node has no stripper of its own
                              [default: 'typescript' wherever Node finds it]
      --r <PATH>              R's front end for R code contexts, a name on the sandbox's PATH
                              or a path the sandbox sees [default: R]
      --java <PATH>           A JDK's java (11 or later: JShell is not in a JRE) for Java code
                              contexts, likewise [default: java]
      --max-pids <N>          Processes and threads per sandbox [default: 1024]
      --tmp-size <MIB>        Size of each sandbox's /tmp, in memory [default: 1024]
      --cpu-count <N>         CPUs' worth of time per sandbox, a cgroup quota [default: 2]
      --memory-mb <MIB>       Memory per sandbox, a cgroup limit; beyond it a process of that
                              sandbox is killed, nothing else [default: 512]
      --disk-size-mb <MIB>    Disk per sandbox: its writable layers' own filesystem, a loop-
                              mounted image; a full one is that sandbox's ENOSPC [default: 1024]
      --metrics-interval <T>  How often each sandbox's CPU, memory and disk use is sampled,
                              in seconds, or with ms [default: 5]
      --warm-pool <N>         Sandboxes of the default template kept set up ahead of time, so
                              that a create only names one; 0 turns it off [default: 2]
      --rate-limit <N/SECS>   Control-plane requests (create, list, kill, connect, ...) per
                              team: at most N every SECS seconds [default: 20000/30]
      --ops-rate-limit <N/SECS>
                              Sandbox operations (daemon calls, public-URL requests) per
                              client IP address [default: 40000/60]
      --create-rate <N[/SECS]>
                              Sandbox creations per team; N alone is per second [default: 5]
      --max-sandboxes <N>     Running sandboxes per team; paused ones do not count, and a
                              resume counts as a create [default: 100]
      --max-timeout <TIME>    The longest lifetime a create, connect or setTimeout may ask
                              for, in seconds or with an s, m or h suffix [default: 24h]
      --dns <ADDR[:PORT]>     The resolver sandboxes' DNS queries are relayed to [default: the
                              host's first nameserver in /etc/resolv.conf]
      --egress-range <CIDR>   Private range sandbox addresses come from; each sandkitd on the
                              machine takes a /21 of it [default: 10.201.0.0/16]
      --max-egress-connections <N>
                              Concurrent outbound TCP connections per sandbox; beyond it new
                              ones are refused [default: 2500]
      --no-egress             Sandboxes get loopback only: no interface, nothing outside
      --insecure-no-userns    Isolate without a user namespace: root in a sandbox is root on
                              the host. Only for kernels that refuse user namespaces
      --insecure-no-seccomp   Isolate without the system call filter
      --no-isolation          Run sandbox processes without namespaces, as sandkitd's user
      --no-processes          Sandboxes are records with a lifetime only; no processes
  -h, --help                  Print this help and exit
  -V, --version               Print the version and exit

Sandboxes are isolated (user, PID, mount, UTS, IPC and network namespaces, a root filesystem
of their own, seccomp, a cgroup); if this machine cannot, sandkitd stops and says why rather
than isolate them less than it says, unless an --insecure-* or --no-isolation flag accepts it.

The limits' defaults are E2B's Pro plan. A request beyond a rate or quota gets 429 with a JSON
body {\"code\":429,\"message\":\"...\"} naming the limit, Retry-After (whole seconds) and
RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers; a timeout beyond
--max-timeout gets 400, as E2B answers.

Once listening, it prints the URL and the E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY lines
that point an SDK at it (the key printed is the first one). SIGINT or SIGTERM stops it
gracefully, ending every sandbox.
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Serve with this configuration (boxed: it is much larger than the other variants).
    Run(Box<ServerConfig>),
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
}

/// A command-line mistake, explained for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

/// Parses the arguments after the program name. Without `--api-key`, one random key
/// `sk_sandkit_<32 hex>` is generated for team `default`.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, CliError> {
    let mut config = ServerConfig {
        port: DEFAULT_PORT,
        ..ServerConfig::default()
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| CliError(format!("argument {a:?} is not valid UTF-8")))?;
        // Both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, CliError> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| CliError(format!("{flag} needs a value"))),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--host" => {
                let v = value()?;
                config.ipv6_loopback_too = v == "localhost";
                config.host = match v.as_str() {
                    "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    _ => v.parse::<IpAddr>().map_err(|_| {
                        CliError(format!(
                            "--host: {v:?} is not an IP address (e.g. 127.0.0.1)"
                        ))
                    })?,
                };
            }
            "--port" => {
                let v = value()?;
                config.port = v
                    .parse::<u16>()
                    .map_err(|_| CliError(format!("--port: {v:?} is not a port (0-65535)")))?;
            }
            "--api-key" => config.api_keys.push(parse_key(&value()?)?),
            "--state-dir" => config.sandboxes.state_dir = Some(value()?.into()),
            "--no-isolation" => config.sandboxes.isolation = false,
            "--insecure-no-userns" => config.sandboxes.insecure_no_userns = true,
            "--insecure-no-seccomp" => config.sandboxes.insecure_no_seccomp = true,
            "--template" => {
                let v = value()?;
                let (name, dir) = v
                    .split_once('=')
                    .filter(|(n, d)| !n.is_empty() && !d.is_empty())
                    .ok_or_else(|| CliError(format!("--template: {v:?} is not NAME=DIR")))?;
                if !crate::sandbox::template::valid_name(name) {
                    return Err(CliError(format!(
                        "--template: {name:?} may only hold letters, digits, '-', '_' and '.'"
                    )));
                }
                config.sandboxes.templates.push((name.into(), dir.into()));
            }
            "--max-pids" => {
                config.sandboxes.max_pids =
                    number(&flag, &value()?, 8..=u32::MAX, "a number >= 8")?;
            }
            "--warm-pool" => {
                config.sandboxes.warm_pool = number(&flag, &value()?, 0..=64, "a number 0-64")?;
            }
            "--tmp-size" => {
                config.sandboxes.tmp_size_mb =
                    number(&flag, &value()?, 1..=1 << 20, "a size in MiB (1-1048576)")?;
            }
            "--max-paused-age" => {
                config.max_paused_age = age(&flag, &value()?)?;
            }
            "--cpu-count" => {
                config.sandboxes.cpu_count = number(&flag, &value()?, 1..=1024, "a number 1-1024")?;
            }
            "--memory-mb" => {
                config.sandboxes.memory_mb =
                    number(&flag, &value()?, 16..=1 << 22, "a size in MiB (16-4194304)")?;
            }
            "--disk-size-mb" => {
                config.sandboxes.disk_size_mb = number(
                    &flag,
                    &value()?,
                    16..=1 << 24,
                    "a size in MiB (16-16777216)",
                )?;
            }
            "--metrics-interval" => {
                config.sandboxes.metrics_interval = interval(&flag, &value()?)?;
            }
            "--python" => {
                config.sandboxes.python =
                    named(&flag, value()?, "give an interpreter name or path")?;
            }
            "--typescript" => {
                config.sandboxes.typescript = Some(named(
                    &flag,
                    value()?,
                    "give the directory of a TypeScript compiler package",
                )?);
            }
            "--r" => config.sandboxes.r = named(&flag, value()?, "give a program name or path")?,
            "--java" => {
                config.sandboxes.java = named(&flag, value()?, "give a program name or path")?;
            }
            "--no-processes" => config.sandboxes.enabled = false,
            "--no-egress" => config.network.enabled = false,
            "--dns" => {
                let v = value()?;
                config.network.upstream_dns = Some(
                    v.parse::<std::net::SocketAddr>()
                        .or_else(|_| v.parse::<IpAddr>().map(|ip| (ip, 53).into()))
                        .map_err(|_| {
                            CliError(format!(
                                "--dns: {v:?} is not an IP address with an optional port"
                            ))
                        })?,
                );
            }
            "--egress-range" => {
                let v = value()?;
                let bad = || {
                    CliError(format!(
                        "--egress-range: {v:?} is not an IPv4 block of /1 to /20 (e.g. 10.201.0.0/16)"
                    ))
                };
                let (ip, len) = v.split_once('/').ok_or_else(bad)?;
                let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
                let len: u8 = len.parse().map_err(|_| bad())?;
                if !(1..=20).contains(&len) || u32::from(ip) & !(u32::MAX << (32 - len)) != 0 {
                    return Err(bad());
                }
                config.network.range = (ip, len);
            }
            "--max-egress-connections" => {
                config.network.max_connections =
                    number(&flag, &value()?, 1..=1_000_000, "a number 1-1000000")?;
            }
            "--rate-limit" => config.limits.rate_limit = rate(&flag, &value()?)?,
            "--ops-rate-limit" => config.limits.ops_rate_limit = rate(&flag, &value()?)?,
            "--create-rate" => {
                // A number alone is a rate per second, as E2B states this limit.
                let v = value()?;
                let spec = if v.contains('/') {
                    v.clone()
                } else {
                    format!("{v}/1")
                };
                config.limits.create_rate = rate(&flag, &spec).map_err(|_| {
                    CliError(format!(
                        "{flag}: {v:?} is not <requests> (per second) or <requests>/<seconds>"
                    ))
                })?;
            }
            "--max-sandboxes" => {
                config.limits.max_sandboxes =
                    number(&flag, &value()?, 1..=1_000_000, "a number 1-1000000")?;
            }
            "--max-timeout" => config.limits.max_timeout_secs = duration_secs(&flag, &value()?)?,
            "--domain" => {
                let v = value()?;
                if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '/') {
                    return Err(CliError(format!("--domain: {v:?} is not a domain")));
                }
                config.domain = Some(v);
            }
            other => {
                return Err(CliError(format!("unknown argument {other:?} (see --help)")));
            }
        }
    }
    if config.api_keys.is_empty() {
        config
            .api_keys
            .push((random::api_key(), DEFAULT_TEAM.to_string()));
    }
    Ok(Command::Run(Box::new(config)))
}

/// The number `v` given to `flag`, within `range`; else an error saying it is not `what`.
fn number<T>(
    flag: &str,
    v: &str,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<T, CliError>
where
    T: std::str::FromStr + PartialOrd,
{
    v.parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| CliError(format!("{flag}: {v:?} is not {what}")))
}

/// `<requests>/<seconds>` (or `<requests>` per second) given to `flag`.
fn rate(flag: &str, v: &str) -> Result<Rate, CliError> {
    Rate::parse(v).map_err(|why| {
        CliError(format!(
            "{flag}: {v:?} is not <requests>/<seconds> (e.g. 100/60): {why}"
        ))
    })
}

/// Seconds, or a number with an `s`, `m`, `h` or `d` suffix.
fn seconds(v: &str) -> Option<u64> {
    let (digits, unit) = match v.char_indices().last() {
        Some((at, 's')) => (&v[..at], 1),
        Some((at, 'm')) => (&v[..at], 60),
        Some((at, 'h')) => (&v[..at], 3600),
        Some((at, 'd')) => (&v[..at], 86_400),
        _ => (v, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// A duration of 1 s to 30 days given to `flag`, in seconds.
fn duration_secs(flag: &str, v: &str) -> Result<u32, CliError> {
    seconds(v)
        .filter(|s| (1..=30 * 86_400).contains(s))
        .map(|s| s as u32)
        .ok_or_else(|| {
            CliError(format!(
                "{flag}: {v:?} is not a duration of 1 s to 30 days (e.g. 3600, 90m, 24h)"
            ))
        })
}

/// An age of at least a second given to `flag` (`30d`, `12h`, `90m`, `45s`).
fn age(flag: &str, v: &str) -> Result<std::time::Duration, CliError> {
    seconds(v)
        .filter(|s| *s >= 1)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| {
            CliError(format!(
                "{flag}: {v:?} is not an age such as 30d, 12h, 90m or 45s"
            ))
        })
}

/// `5`, `5s` or `500ms`: at least 10 ms, at most an hour.
/// A program or directory a flag names: anything but blank, which `ask` asks for instead.
fn named(flag: &str, v: String, ask: &str) -> Result<String, CliError> {
    if v.trim().is_empty() {
        return Err(CliError(format!("{flag}: {ask}")));
    }
    Ok(v)
}

fn interval(flag: &str, v: &str) -> Result<std::time::Duration, CliError> {
    let ms = match v.strip_suffix("ms") {
        Some(ms) => ms.parse::<u64>().ok(),
        None => v
            .strip_suffix('s')
            .unwrap_or(v)
            .parse::<u64>()
            .ok()
            .and_then(|s| s.checked_mul(1000)),
    };
    ms.filter(|ms| (10..=3_600_000).contains(ms))
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| {
            CliError(format!(
                "{flag}: {v:?} is not an interval (seconds, or milliseconds with ms; 10ms-3600s)"
            ))
        })
}

/// The banner line that states the limits in force.
pub fn limits_line(l: &LimitsConfig) -> String {
    format!(
        "limits: {} control-plane requests per team, {} sandbox operations per client IP, \
         {} creations per team, {} running sandboxes per team, timeouts up to {} s\n",
        l.rate_limit, l.ops_rate_limit, l.create_rate, l.max_sandboxes, l.max_timeout_secs
    )
}

/// `KEY` or `KEY=TEAM`. Error messages never repeat the key.
fn parse_key(spec: &str) -> Result<(String, String), CliError> {
    let (key, team) = spec.split_once('=').unwrap_or((spec, DEFAULT_TEAM));
    if key.is_empty() {
        return Err(CliError("--api-key: the key is empty".into()));
    }
    // It must fit in an HTTP header as sent, so visible ASCII only.
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CliError(
            "--api-key: the key may only contain visible ASCII characters".into(),
        ));
    }
    if team.is_empty() {
        return Err(CliError("--api-key: the team after '=' is empty".into()));
    }
    Ok((key.to_string(), team.to_string()))
}

/// The lines printed once the server listens; `url` is the server's URL.
pub fn banner(url: &str, api_key: &str) -> String {
    format!(
        "sandkitd {VERSION} listening on {url}\n\
         E2B_API_URL={url}\n\
         E2B_SANDBOX_URL={url}\n\
         E2B_API_KEY={api_key}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<ServerConfig, CliError> {
        match parse(args.iter().map(OsString::from))? {
            Command::Run(c) => Ok(*c),
            other => panic!("expected run, got {other:?}"),
        }
    }

    #[test]
    fn defaults_generate_a_key() {
        let c = run(&[]).unwrap();
        assert_eq!(c.port, 3000);
        assert_eq!(c.host.to_string(), "127.0.0.1");
        assert_eq!(c.api_keys.len(), 1);
        assert!(c.api_keys[0].0.starts_with("sk_sandkit_"));
        assert_eq!(c.api_keys[0].1, "default");
    }

    #[test]
    fn flags_in_both_forms() {
        let c = run(&[
            "--host=0.0.0.0",
            "--port",
            "0",
            "--api-key",
            "k1=team-a",
            "--api-key=k2",
            "--domain",
            "sandkit.test",
        ])
        .unwrap();
        assert_eq!(c.host.to_string(), "0.0.0.0");
        assert_eq!(c.port, 0);
        assert_eq!(
            c.api_keys,
            vec![
                ("k1".into(), "team-a".into()),
                ("k2".into(), "default".into())
            ]
        );
        assert_eq!(c.domain.as_deref(), Some("sandkit.test"));
        assert_eq!(c.sandboxes.max_pids, crate::config::DEFAULT_MAX_PIDS);
        assert!(!c.sandboxes.insecure_no_userns);
    }

    #[test]
    fn sandbox_flags() {
        let c = run(&[
            "--template",
            "tiny=/srv/tiny",
            "--template=py.3=/srv/py",
            "--max-pids",
            "256",
            "--tmp-size=64",
            "--warm-pool",
            "0",
            "--cpu-count",
            "1",
            "--memory-mb=256",
            "--disk-size-mb",
            "64",
            "--metrics-interval",
            "250ms",
            "--insecure-no-userns",
            "--insecure-no-seccomp",
        ])
        .unwrap();
        let s = &c.sandboxes;
        assert_eq!(
            s.templates,
            vec![
                ("tiny".to_string(), "/srv/tiny".into()),
                ("py.3".to_string(), "/srv/py".into())
            ]
        );
        assert_eq!((s.max_pids, s.tmp_size_mb, s.warm_pool), (256, 64, 0));
        assert_eq!((s.cpu_count, s.memory_mb, s.disk_size_mb), (1, 256, 64));
        assert_eq!(s.metrics_interval, std::time::Duration::from_millis(250));
        assert_eq!(run(&[]).unwrap().sandboxes.python, "python3");
        let venv = run(&["--python", "/opt/venv/bin/python"]).unwrap();
        assert_eq!(venv.sandboxes.python, "/opt/venv/bin/python");
        assert!(run(&["--python", ""]).is_err());
        assert_eq!(run(&[]).unwrap().sandboxes.typescript, None);
        let ts = run(&["--typescript", "/opt/ts/node_modules/typescript"]).unwrap();
        assert_eq!(
            ts.sandboxes.typescript.as_deref(),
            Some("/opt/ts/node_modules/typescript")
        );
        assert!(run(&["--typescript", " "]).is_err());
        let kernels = run(&["--r", "/opt/R/bin/R", "--java", "/opt/jdk/bin/java"]).unwrap();
        assert_eq!(
            (
                kernels.sandboxes.r.as_str(),
                kernels.sandboxes.java.as_str()
            ),
            ("/opt/R/bin/R", "/opt/jdk/bin/java")
        );
        assert_eq!(run(&[]).unwrap().sandboxes.r, "R");
        assert!(run(&["--java", ""]).is_err());
        let aged = run(&["--max-paused-age", "12h"]).unwrap();
        assert_eq!(aged.max_paused_age.as_secs(), 12 * 3600);
        assert_eq!(
            run(&[]).unwrap().max_paused_age,
            crate::config::DEFAULT_MAX_PAUSED_AGE
        );
        let every_2s = run(&["--metrics-interval", "2s"]).unwrap();
        assert_eq!(every_2s.sandboxes.metrics_interval.as_secs(), 2);
        assert!(s.insecure_no_userns && s.insecure_no_seccomp && s.isolation);
        assert_eq!(
            s.template_names(),
            ["base", "code-interpreter-v1", "tiny", "py.3"]
        );
    }

    #[test]
    fn limit_flags() {
        let c = run(&[]).unwrap();
        assert_eq!(c.limits, LimitsConfig::default());
        assert_eq!(c.limits.rate_limit, Rate::new(20_000, 30));
        assert_eq!(c.limits.ops_rate_limit, Rate::new(40_000, 60));
        assert_eq!(c.limits.create_rate, Rate::new(5, 1));
        assert_eq!(c.limits.max_sandboxes, 100);
        assert_eq!(c.limits.max_timeout_secs, 86_400);
        let c = run(&[
            "--rate-limit",
            "3/2",
            "--ops-rate-limit=7/60",
            "--create-rate",
            "2",
            "--max-sandboxes",
            "4",
            "--max-timeout",
            "90m",
        ])
        .unwrap();
        let l = &c.limits;
        assert_eq!(
            (l.rate_limit, l.ops_rate_limit, l.create_rate),
            (Rate::new(3, 2), Rate::new(7, 60), Rate::new(2, 1))
        );
        assert_eq!((l.max_sandboxes, l.max_timeout_secs), (4, 5400));
        assert_eq!(
            run(&["--max-timeout", "600"])
                .unwrap()
                .limits
                .max_timeout_secs,
            600
        );
        assert_eq!(
            run(&["--max-timeout", "2h"])
                .unwrap()
                .limits
                .max_timeout_secs,
            7200
        );
        let err = run(&["--rate-limit", "lots"]).unwrap_err();
        assert!(
            err.0.contains("--rate-limit") && err.0.contains("<requests>/<seconds>"),
            "{err}"
        );
        assert!(limits_line(l).contains("3/2s control-plane requests per team"));
    }

    #[test]
    fn help_version_and_mistakes() {
        let help = parse(["--help".into()]).unwrap();
        assert!(matches!(help, Command::Help));
        assert!(matches!(parse(["-V".into()]).unwrap(), Command::Version));
        for bad in [
            &["--port", "70000"][..],
            &["--port"],
            &["--host", "example.com"],
            &["--api-key", "=team"],
            &["--api-key", "secret="],
            &["--nope"],
            &["--template", "x"],
            &["--template", "=dir"],
            &["--template", "a/b=dir"],
            &["--max-pids", "2"],
            &["--tmp-size", "0"],
            &["--warm-pool", "100"],
            &["--cpu-count", "0"],
            &["--memory-mb", "8"],
            &["--disk-size-mb", "15"],
            &["--metrics-interval", "1ms"],
            &["--metrics-interval", "soon"],
            &["--max-paused-age", "0d"],
            &["--max-paused-age", "ed"],
            &["--max-paused-age", "3é"],
            &["--rate-limit", "10"],
            &["--rate-limit", "0/30"],
            &["--rate-limit", "10/0"],
            &["--rate-limit", "ten/30"],
            &["--ops-rate-limit", "5/x"],
            &["--create-rate", "-1"],
            &["--max-sandboxes", "0"],
            &["--max-timeout", "0"],
            &["--max-timeout", "31d"],
            &["--max-timeout", "h"],
        ] {
            let err = run(bad).unwrap_err();
            assert!(!err.0.contains("secret"), "{err}");
        }
    }

    #[test]
    fn usage_documents_every_flag() {
        for flag in [
            "--host",
            "--port",
            "--api-key",
            "--domain",
            "--state-dir",
            "--template",
            "--max-pids",
            "--tmp-size",
            "--warm-pool",
            "--cpu-count",
            "--memory-mb",
            "--disk-size-mb",
            "--metrics-interval",
            "--max-paused-age",
            "--insecure-no-userns",
            "--insecure-no-seccomp",
            "--no-isolation",
            "--no-processes",
            "--rate-limit",
            "--ops-rate-limit",
            "--create-rate",
            "--max-sandboxes",
            "--max-timeout",
            "--help",
            "--version",
        ] {
            assert!(USAGE.contains(flag), "{flag}");
        }
    }

    #[test]
    fn banner_lines() {
        assert_eq!(
            banner("http://127.0.0.1:1", "k"),
            format!(
                "sandkitd {VERSION} listening on http://127.0.0.1:1\nE2B_API_URL=http://127.0.0.1:1\n\
                 E2B_SANDBOX_URL=http://127.0.0.1:1\nE2B_API_KEY=k\n"
            )
        );
    }
}
