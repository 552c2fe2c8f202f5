//! The filter's metrics and the access log of the reference configuration,
//! envoy/envoy.yaml, run with two workers.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use serde_json::{json, Value};

use common::http::{self, Response};
use common::launch::{prometheus_sample, LaunchOptions, ReferenceConfig, ReferenceEnvoy};
use common::time::format_utc;
use common::{unix_now, WEBHOOK_PATH};

const TOKEN: &str = "metrics-test-token";
const MAX_BODY_BYTES: usize = 1024;
const HOUR: i64 = 3600;
const WORKERS: u32 = 2;
const OUTCOME_METRIC: &str = "downtime_responder_notifications_outcome";

fn plugin_config(now: i64) -> Value {
    json!({
        "webhook": {
            "path": WEBHOOK_PATH,
            "token": TOKEN,
            "allowed_sources": ["127.0.0.1/32"],
            "max_body_bytes": MAX_BODY_BYTES
        },
        "rules": [
            {
                "id": "down-window",
                "sites": ["down.example.com"],
                "start": format_utc(now - HOUR),
                "end": format_utc(now + HOUR)
            },
            {
                "id": "trial-window",
                "sites": ["trial.example.com"],
                "dry_run": true,
                "start": format_utc(now - HOUR),
                "end": format_utc(now + HOUR)
            }
        ]
    })
}

fn start_envoy() -> ReferenceEnvoy {
    let config = ReferenceConfig::load().with_plugin_config(&plugin_config(unix_now()));
    ReferenceEnvoy::start(
        config,
        &LaunchOptions {
            concurrency: WORKERS,
            ..LaunchOptions::default()
        },
    )
}

fn notification(site: &str) -> String {
    format!(r#"{{"url":"https://{site}/","code":503,"host":"examplehost"}}"#)
}

/// Sends one request on a new connection, so the kernel spreads the
/// requests over the workers' listening sockets.
fn send(port: u16, method: &str, target: &str, body: &[u8]) -> Response {
    let request = http::request_bytes(method, target, &[], body);
    http::exchange(port, &request).unwrap()
}

fn webhook_target() -> String {
    format!("{WEBHOOK_PATH}?token={TOKEN}")
}

/// Returns how many connections each worker has accepted on the listener.
/// Envoy names listener stats by the configured address, so port 0 here.
fn connections_per_worker(reference: &ReferenceEnvoy) -> Vec<u64> {
    (0..WORKERS)
        .map(|worker| {
            let name = format!("listener.127.0.0.1_0.worker_{worker}.downstream_cx_total");
            reference
                .envoy
                .stat(&name)
                .unwrap_or_else(|| panic!("no stat {name}"))
        })
        .collect()
}

#[test]
fn outcomes_counted_across_workers() {
    let reference = start_envoy();
    let _log = reference.envoy.log_on_failure();
    let port = reference.port();
    let target = webhook_target();
    let oversized = vec![b' '; MAX_BODY_BYTES + 1];

    let mut expected = vec![
        ("suppressed", 2),
        ("dry_run", 1),
        ("invalid", 2),
        ("forbidden", 2),
        ("method_not_allowed", 1),
        ("too_large", 1),
    ];
    let mix = [
        send(
            port,
            "POST",
            &target,
            notification("down.example.com").as_bytes(),
        ),
        send(
            port,
            "POST",
            &target,
            notification("www.down.example.com").as_bytes(),
        ),
        send(
            port,
            "POST",
            &target,
            notification("trial.example.com").as_bytes(),
        ),
        send(port, "POST", &target, b"{not json"),
        send(port, "POST", &target, br#"{"url":"https://example.com/"}"#),
        send(
            port,
            "POST",
            &format!("{WEBHOOK_PATH}?token=wrong"),
            notification("example.com").as_bytes(),
        ),
        send(
            port,
            "POST",
            WEBHOOK_PATH,
            notification("example.com").as_bytes(),
        ),
        send(port, "GET", &target, b""),
        send(port, "POST", &target, &oversized),
    ];
    let mix_statuses: Vec<u16> = mix.iter().map(|response| response.status).collect();
    assert_eq!(
        mix_statuses,
        [200, 200, 200, 400, 400, 403, 403, 405, 413],
        "statuses of the mix: {mix:?}"
    );

    // Plain `ok` notifications until both workers have accepted connections,
    // so the counts below can only match if Envoy sums the workers' counters.
    let mut ok_count = 0;
    while ok_count < 3 || connections_per_worker(&reference).contains(&0) {
        assert!(
            ok_count < 100,
            "one worker accepted no connection in 100 requests"
        );
        let response = send(
            port,
            "POST",
            &target,
            notification("example.com").as_bytes(),
        );
        assert_eq!(response.text(), "ok", "{response:?}");
        ok_count += 1;
    }
    expected.push(("ok", ok_count));

    let text = reference.envoy.prometheus();
    for (outcome, count) in &expected {
        let value = prometheus_sample(&text, OUTCOME_METRIC, &[("outcome", outcome)]);
        assert_eq!(
            value,
            Some(f64::from(*count)),
            "{OUTCOME_METRIC}{{outcome=\"{outcome}\"}} in /stats/prometheus:\n{text}"
        );
    }
    assert!(
        !text.contains("downtime_responder_notifications_outcome_ok"),
        "an outcome is still part of a metric name instead of a label:\n{text}"
    );
    assert_eq!(
        reference.backend.connections(),
        0,
        "a webhook request reached the backend"
    );
}

#[test]
fn configuration_and_rule_metrics() {
    let reference = start_envoy();
    let _log = reference.envoy.log_on_failure();

    let text = reference.envoy.prometheus();
    let accepted = prometheus_sample(&text, "downtime_responder_config_accepted", &[]);
    let rejected = prometheus_sample(&text, "downtime_responder_config_rejected", &[]);
    let active = prometheus_sample(&text, "downtime_responder_rules_active", &[]);

    // Every VM configures the plugin once: one per worker, and more on the
    // main thread.
    assert!(
        accepted.is_some_and(|count| count >= f64::from(WORKERS)),
        "downtime_responder_config_accepted is {accepted:?}, expected at least {WORKERS}:\n{text}"
    );
    assert_eq!(
        rejected,
        Some(0.0),
        "downtime_responder_config_rejected:\n{text}"
    );
    assert_eq!(
        active,
        Some(2.0),
        "downtime_responder_rules_active:\n{text}"
    );
}

#[test]
fn access_log_carries_outcome_and_rules() {
    let reference = start_envoy();
    let _log = reference.envoy.log_on_failure();
    let port = reference.port();
    let target = webhook_target();

    let suppressed = send(
        port,
        "POST",
        &target,
        notification("down.example.com").as_bytes(),
    );
    let ok = send(
        port,
        "POST",
        &target,
        notification("example.com").as_bytes(),
    );
    let forbidden = send(port, "POST", &format!("{WEBHOOK_PATH}?token=wrong"), b"{}");
    let other = send(port, "GET", "/other?token=elsewhere", b"");
    assert_eq!(suppressed.status, 200, "{suppressed:?}");
    assert_eq!(ok.text(), "ok", "{ok:?}");
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    assert_eq!(other.text(), "upstream", "{other:?}");

    let lines = reference.envoy.wait_for_log_lines("\" 200 source=", 3);
    let webhook_lines = reference
        .envoy
        .wait_for_log_lines(&format!("\"POST {WEBHOOK_PATH} "), 3);
    let other_lines = reference.envoy.wait_for_log_lines("\"GET /other ", 1);

    assert_eq!(
        webhook_lines.len(),
        3,
        "access log lines for the webhook: {webhook_lines:#?}"
    );
    assert_eq!(
        other_lines.len(),
        1,
        "access log lines for /other: {other_lines:#?}"
    );
    assert!(
        webhook_lines
            .iter()
            .any(|line| line.contains(" 200 ")
                && line.contains("outcome=suppressed rules=down-window ")),
        "no line for the suppressed notification with its rule: {webhook_lines:#?}"
    );
    assert!(
        webhook_lines
            .iter()
            .any(|line| line.contains(" 200 ") && line.contains("outcome=ok rules= ")),
        "no line for the ok notification: {webhook_lines:#?}"
    );
    assert!(
        webhook_lines
            .iter()
            .any(|line| line.contains(" 403 ") && line.contains("outcome=forbidden rules=- ")),
        "no line for the forbidden notification: {webhook_lines:#?}"
    );
    assert!(
        other_lines[0].contains("outcome=- rules=- "),
        "the line for a path the filter passes on: {other_lines:#?}"
    );
    for line in lines.iter().chain(&webhook_lines).chain(&other_lines) {
        assert!(
            !line.contains('?'),
            "an access log line carries a query string: {line}"
        );
    }
}
