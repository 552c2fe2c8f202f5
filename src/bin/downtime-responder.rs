//! The operator CLI: validates configurations exactly as the filter does and
//! explains the answer the filter would give at a chosen instant.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

use downtime_responder::config::{Schedule, Snapshot};
use downtime_responder::decision::{decide, Outcome};
use downtime_responder::error::ConfigError;
use downtime_responder::notification;
use downtime_responder::source;
use downtime_responder::timestamp::{format_instant, format_utc, parse_rfc3339};
use downtime_responder::window::{UnixNanos, NANOS_PER_SECOND};

/// Prints a line to standard output, ignoring a closed pipe (as in
/// `downtime-responder explain … | head -1`), where `println!` would panic.
macro_rules! output {
    ($($argument:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($argument)*);
    }};
}

#[derive(Parser)]
#[command(
    name = "downtime-responder",
    version = version_text(),
    about = "Check downtime-responder configurations and explain its answers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration as the filter does; exit 1 on any error.
    Check {
        /// Configuration file (JSON), or `-` for standard input.
        config: String,
    },
    /// Validate a rules-source document (`{"rules": [...]}`) as the filter
    /// does before adopting it; exit 1 on any error.
    CheckDocument {
        /// Rules document (JSON), or `-` for standard input.
        document: String,
        /// The filter configuration the document is merged with, to check
        /// that no rule id appears in both.
        #[arg(long)]
        config: Option<String>,
    },
    /// Print the answer the filter would give, then the rules and windows behind it.
    Explain {
        /// Configuration file (JSON), or `-` for standard input.
        config: String,
        /// The notification's `url`.
        #[arg(long)]
        url: String,
        /// The notification's `host` slug.
        #[arg(long)]
        host: Option<String>,
        /// The notification's `code`: the highest HTTP status Monitor saw, 0 for a timeout.
        #[arg(long, default_value_t = 503)]
        code: u16,
        /// The instant to evaluate at, RFC 3339 (default: now).
        #[arg(long)]
        at: Option<String>,
    },
}

const fn version_text() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (commit ",
        env!("DOWNTIME_RESPONDER_COMMIT"),
        ")"
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => check(&config),
        Command::CheckDocument { document, config } => check_document(&document, config.as_deref()),
        Command::Explain {
            config,
            url,
            host,
            code,
            at,
        } => explain(&config, &url, host.as_deref(), code, at.as_deref()),
    }
}

fn check(path: &str) -> ExitCode {
    let Some(snapshot) = load(path) else {
        return ExitCode::FAILURE;
    };
    output!("{path}: valid, {} rules", snapshot.rules.len());
    ExitCode::SUCCESS
}

fn check_document(path: &str, config_path: Option<&str>) -> ExitCode {
    let bytes = match read_input(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: cannot read {path}: {error}");
            return ExitCode::FAILURE;
        }
    };

    let result = match config_path {
        None => source::validate_document(&bytes).map(|rules| rules.len()),
        Some(config_path) => {
            let Some(own) = load(config_path) else {
                return ExitCode::FAILURE;
            };
            source::parse_rules_document(&bytes)
                .and_then(|rules| source::merge(&own, &rules).map(|_| rules.len()))
        }
    };
    match result {
        Ok(count) => {
            output!("{path}: valid, {count} rules");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            report(path, &errors);
            ExitCode::FAILURE
        }
    }
}

fn explain(path: &str, url: &str, host: Option<&str>, code: u16, at: Option<&str>) -> ExitCode {
    let Some(snapshot) = load(path) else {
        return ExitCode::FAILURE;
    };
    let now = match at.map(parse_rfc3339) {
        None => system_now(),
        Some(Ok(instant)) => instant,
        Some(Err(message)) => {
            eprintln!("error: --at: {message}");
            return ExitCode::from(2);
        }
    };
    let body = serde_json::json!({ "url": url, "code": code, "host": host }).to_string();
    let notification = match notification::parse(body.as_bytes()) {
        Ok(notification) => notification,
        Err(error) => {
            eprintln!("error: the filter would answer 400 invalid notification: {error}");
            return ExitCode::from(2);
        }
    };

    let decision = decide(&snapshot, &notification, now);
    output!("{}", decision.body());
    output!("outcome: {}", decision.outcome.as_str());
    output!("evaluated at: {}", format_instant(now));

    let matched: Vec<&str> = decision
        .matched
        .iter()
        .filter_map(|rule| snapshot.rules.get(*rule as usize))
        .map(|rule| rule.id.as_str())
        .collect();
    output!(
        "matching rules: {}",
        if matched.is_empty() {
            "none".to_string()
        } else {
            matched.join(", ")
        }
    );
    if notification.is_success() {
        output!("code {code} is 2xx: the site is up, so the answer is ok");
    }

    if let Some(chain) = &decision.chain {
        for (rule, window) in &chain.pieces {
            let Some(rule) = snapshot.rules.get(*rule as usize) else {
                continue;
            };
            let kind = match rule.schedule {
                Schedule::OneOff(_) => "one-off",
                Schedule::Recurring(_) => "recurring",
            };
            output!(
                "window: {} to {} from {} ({kind}{})",
                format_instant(window.start),
                format_instant(window.end),
                rule.id,
                if rule.dry_run || snapshot.dry_run {
                    ", dry run"
                } else {
                    ""
                }
            );
        }
        output!("chain ends: {}", format_instant(chain.end));
        let cap = now + snapshot.max_suppression;
        output!(
            "cap: {} (max_suppression_seconds {})",
            format_instant(cap),
            snapshot.max_suppression / NANOS_PER_SECOND
        );
    }
    if decision.outcome == Outcome::DryRun {
        let would = decision
            .would_suppress_until
            .and_then(format_utc)
            .unwrap_or_default();
        output!("dry run: would answer {would}");
    }
    ExitCode::SUCCESS
}

/// Reads and compiles a configuration, printing every error with its path.
fn load(path: &str) -> Option<Snapshot> {
    let bytes = match read_input(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: cannot read {path}: {error}");
            return None;
        }
    };
    match Snapshot::from_json(&bytes) {
        Ok(snapshot) => Some(snapshot),
        Err(errors) => {
            report(path, &errors);
            None
        }
    }
}

fn report(path: &str, errors: &[ConfigError]) {
    for error in errors {
        eprintln!("error: {error}");
    }
    eprintln!("{path}: invalid, {} error(s)", errors.len());
}

fn read_input(path: &str) -> std::io::Result<Vec<u8>> {
    if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    std::fs::read(path)
}

fn system_now() -> UnixNanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| UnixNanos::try_from(elapsed.as_nanos()).unwrap_or(UnixNanos::MAX))
        .unwrap_or(0)
}
