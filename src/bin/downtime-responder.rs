//! The operator CLI: validates configurations exactly as the filter does and
//! explains the answer the filter would give at a chosen instant.

use std::io::Read;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

use downtime_responder::config::{Schedule, Snapshot};
use downtime_responder::decision::{decide, Outcome};
use downtime_responder::notification;
use downtime_responder::timestamp::{format_instant, format_utc, parse_rfc3339};
use downtime_responder::window::{UnixNanos, NANOS_PER_SECOND};

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
    println!("{path}: valid, {} rules", snapshot.rules.len());
    ExitCode::SUCCESS
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
    println!("{}", decision.body());
    println!("outcome: {}", decision.outcome.as_str());
    println!("evaluated at: {}", format_instant(now));

    let matched: Vec<&str> = decision
        .matched
        .iter()
        .filter_map(|rule| snapshot.rules.get(*rule as usize))
        .map(|rule| rule.id.as_str())
        .collect();
    println!(
        "matching rules: {}",
        if matched.is_empty() {
            "none".to_string()
        } else {
            matched.join(", ")
        }
    );
    if notification.is_success() {
        println!("code {code} is 2xx: the site is up, so the answer is ok");
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
            println!(
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
        println!("chain ends: {}", format_instant(chain.end));
        let cap = now + snapshot.max_suppression;
        println!(
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
        println!("dry run: would answer {would}");
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
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!("{path}: invalid, {} errors", errors.len());
            None
        }
    }
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
