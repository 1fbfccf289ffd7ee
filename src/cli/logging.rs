//! Log output of the long-running commands (`serve`, `witness serve`): one subscriber to
//! stderr, text or JSON, filtered by `CREDLEDGER_LOG` (or `RUST_LOG` when that is unset;
//! default `info`), with colours only on a terminal.
//!
//! **Invariant:** the `sled` crate's records below `warn` are never forwarded, whatever
//! the filter says, unless the filter names `sled` itself. sled logs from crossbeam-epoch
//! destructors that run during thread-local teardown; tracing's formatter then reaches a
//! destroyed thread-local buffer and the process aborts ("thread local panicked on
//! drop"; tokio-rs/tracing#3239). Seen at shutdown with `CREDLEDGER_LOG=trace`.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The filter directives in force.
pub fn directives(credledger_log: Option<String>, rust_log: Option<String>) -> String {
    let base = credledger_log
        .or(rust_log)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "info".into());
    if base.contains("sled") {
        base
    } else {
        format!("{base},sled=warn")
    }
}

/// Installs the subscriber (`format` is `text` or `json`).
pub fn init(format: &str) {
    let spec = directives(
        std::env::var("CREDLEDGER_LOG").ok(),
        std::env::var("RUST_LOG").ok(),
    );
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("credledger: ignoring the log filter {spec:?} ({e}); using info");
        EnvFilter::new("info,sled=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn credledger_log_wins_and_sled_stays_at_warn() {
        assert_eq!(directives(None, None), "info,sled=warn");
        assert_eq!(
            directives(Some("trace".into()), Some("debug".into())),
            "trace,sled=warn"
        );
        assert_eq!(directives(None, Some("debug".into())), "debug,sled=warn");
        assert_eq!(
            directives(Some("info,sled=debug".into()), None),
            "info,sled=debug"
        );
        assert_eq!(directives(Some(" ".into()), None), "info,sled=warn");
    }
}
