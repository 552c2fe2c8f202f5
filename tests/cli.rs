//! Runs the built operator CLI as a platform team would in CI.

// Tests fail loudly on unexpected output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    path.to_string_lossy().into_owned()
}

fn run(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_downtime-responder"))
        .args(arguments)
        .output()
        .expect("the CLI runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn explain(url: &str, extra: &[&str], at: &str) -> Output {
    let config = fixture("recurring.json");
    let mut arguments = vec!["explain", config.as_str(), "--url", url, "--at", at];
    arguments.extend_from_slice(extra);
    run(&arguments)
}

fn first_line(output: &Output) -> String {
    stdout(output)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn version_names_commit() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!(
            "downtime-responder {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}

#[test]
fn check_accepts_valid_configurations() {
    let output = run(&["check", &fixture("recurring.json")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("valid, 4 rules"),
        "{}",
        stdout(&output)
    );

    let example: PathBuf = [env!("CARGO_MANIFEST_DIR"), "envoy", "rules.example.json"]
        .iter()
        .collect();
    let output = run(&["check", example.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn check_lists_every_error_with_path() {
    let output = run(&["check", &fixture("invalid.json")]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    for expected in [
        "error: webhook.path: \"jetpack\" is not a request path",
        "error: webhook.token: token is empty",
        "error: rules[0].end: 2026-12-05T01:00:00Z is not after start 2026-12-05T03:00:00Z",
        "error: rules[1].id: \"a\" is already the id of rules[0]",
        "error: rules[1].sites[0]: \"ftp://x.test\" has scheme \"ftp\"",
        "error: rules[1].time_intervals[0].weekdays[0]:",
        "error: rules[1].time_intervals[0].location: \"Mars/Base\" is not a known time zone",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
    assert!(stdout(&output).is_empty());
}

#[test]
fn check_rejects_unreadable_file() {
    let output = run(&["check", "/nonexistent/rules.json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read /nonexistent/rules.json"));
}

#[test]
fn explain_weekly_window_in_berlin() {
    // Sunday 2026-12-06 02:00-04:00 CET is 01:00Z-03:00Z.
    let inside = explain(
        "https://any.example.net/",
        &["--host", "ExampleHost"],
        "2026-12-06T01:30:00Z",
    );
    assert!(inside.status.success(), "{}", stderr(&inside));
    assert_eq!(first_line(&inside), "2026-12-06T03:00:00Z");
    let text = stdout(&inside);
    assert!(text.contains("outcome: suppressed"), "{text}");
    assert!(
        text.contains("matching rules: weekly-db-maintenance"),
        "{text}"
    );
    assert!(text.contains("window: 2026-12-06T01:00:00Z to 2026-12-06T03:00:00Z from weekly-db-maintenance (recurring)"), "{text}");

    let outside = explain(
        "https://any.example.net/",
        &["--host", "examplehost"],
        "2026-12-06T03:00:00Z",
    );
    assert_eq!(first_line(&outside), "ok");
}

#[test]
fn explain_chains_weekend_with_one_off() {
    // Friday 2026-12-04 18:00 EST is 23:00Z; Sunday 18:00 EST is 2026-12-06T23:00Z, and the
    // one-off rule continues the chain from 22:30Z to 01:00Z on Monday.
    let output = explain("https://shop.example.com/cart", &[], "2026-12-05T12:00:00Z");
    assert_eq!(first_line(&output), "2026-12-07T01:00:00Z");
    let text = stdout(&output);
    assert!(
        text.contains("from weekend-migration (recurring)"),
        "{text}"
    );
    assert!(
        text.contains("from patch-night-overrun (one-off)"),
        "{text}"
    );
    assert!(text.contains("chain ends: 2026-12-07T01:00:00Z"), "{text}");
}

#[test]
fn explain_success_code_is_ok() {
    let output = explain(
        "https://shop.example.com/",
        &["--code", "200"],
        "2026-12-05T12:00:00Z",
    );
    assert_eq!(first_line(&output), "ok");
    assert!(stdout(&output).contains("code 200 is 2xx"));
}

#[test]
fn explain_dry_run_rule() {
    let output = explain("https://blog.example.com/", &[], "2026-12-05T12:00:00Z");
    assert_eq!(first_line(&output), "ok");
    let text = stdout(&output);
    assert!(text.contains("outcome: dry_run"), "{text}");
    assert!(
        text.contains("dry run: would answer 2026-12-08T12:00:00Z"),
        "{text}"
    );
}

#[test]
fn explain_rejects_bad_arguments() {
    let bad_url = explain("ftp://example.com", &[], "2026-12-05T12:00:00Z");
    assert_eq!(bad_url.status.code(), Some(2));
    assert!(stderr(&bad_url).contains("400 invalid notification: field `url` has scheme \"ftp\""));

    let bad_time = explain("https://example.com", &[], "next sunday");
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(stderr(&bad_time).contains("--at: \"next sunday\" is not an RFC 3339 timestamp"));
}

#[test]
fn check_document_validates_rules() {
    let output = run(&["check-document", &fixture("source-document.json")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("valid, 2 rules"),
        "{}",
        stdout(&output)
    );

    let invalid = run(&["check-document", &fixture("invalid.json")]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        stderr(&invalid).contains("unknown field `webhook`"),
        "{}",
        stderr(&invalid)
    );
}

#[test]
fn check_document_rejects_shared_ids() {
    let config = fixture("recurring.json");
    let output = run(&[
        "check-document",
        &fixture("source-document.json"),
        "--config",
        &config,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(
        errors.contains("error: rules[1].id: \"weekly-db-maintenance\" is already the id of rules[0] in the filter configuration"),
        "{errors}"
    );
    assert!(!errors.contains("rules[0].id"), "{errors}");
}
