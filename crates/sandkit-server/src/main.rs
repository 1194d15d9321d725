//! `sandkitd`: parse the flags, serve, print the banner, stop on SIGINT or SIGTERM.

use sandkit_server::cli::{self, Command};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A sandbox's agent is this same binary; it must not start a runtime or parse flags.
    if std::env::args().nth(1).as_deref() == Some(sandkit_server::sandbox::AGENT_ARG) {
        sandkit_server::sandbox::agent::main();
    }
    // So is `sudo` in a sandbox (bound onto /usr/bin/sudo there).
    let invoked_as = std::env::args_os().next().map(std::path::PathBuf::from);
    if invoked_as.as_deref().and_then(std::path::Path::file_name) == Some("sudo".as_ref()) {
        sandkit_server::sandbox::sudo_client::main();
    }
    match cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("sandkitd {}", cli::VERSION);
            ExitCode::SUCCESS
        }
        Ok(Command::Run(config)) => run(*config),
        Err(e) => {
            eprintln!("sandkitd: {e}");
            ExitCode::from(2)
        }
    }
}

#[tokio::main]
async fn run(config: sandkit_server::ServerConfig) -> ExitCode {
    // Listen for signals before the banner, so a signal sent right after it is never missed.
    let stop = match StopSignal::new() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("sandkitd: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `cli::parse` always leaves at least one key.
    let first_key = config.api_keys[0].0.clone();
    let limits = cli::limits_line(&config.limits);
    let server = match sandkit_server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("sandkitd: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The banner is the one place the key is printed: it is how the user learns it.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(cli::banner(&server.url(), &first_key).as_bytes());
    let _ = writeln!(out, "sandboxes: {}", server.sandbox_mode());
    let _ = writeln!(out, "network: {}", server.network_mode());
    let _ = out.write_all(limits.as_bytes());
    let _ = out.flush();
    drop(out);

    stop.wait().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// SIGINT (Ctrl-C) or SIGTERM.
struct StopSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignal {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignal {})
        }
    }

    #[cfg_attr(not(unix), allow(unused_mut))]
    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
