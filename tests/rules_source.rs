//! The rules source: a singleton service VM polls a maintenance API that the
//! test serves on 127.0.0.1, and the filter answers from its own rules plus
//! the rules it fetched.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::http;
use common::launch::{prometheus_sample, LaunchOptions};
use common::live::{active_rule, answer, expected_answer, replace_once, wait_for, wait_for_answer};
use common::rules_source::{
    source_bootstrap, RulesReply, RulesServer, SourceEnvoy, SOURCE_CLUSTER, SOURCE_PATH,
};
use common::{unix_now, CountingUpstream, Envoy, WEBHOOK_PATH};

/// How long a test waits for something that takes a few poll periods.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(20);

const OWN_URL: &str = "https://own.example/";
const REMOTE_URL: &str = "https://remote.example/";

fn filter_config(rules: &[Value]) -> Value {
    json!({ "webhook": { "path": WEBHOOK_PATH }, "rules": rules })
}

fn document(rules: &[Value]) -> String {
    json!({ "rules": rules }).to_string()
}

/// Waits until the answer for `url` is `expected` and returns how many
/// requests the server received in the meantime, counted from
/// `requests_before`.
fn fetches_until_answer(
    source: &SourceEnvoy,
    url: &str,
    expected: &str,
    requests_before: usize,
) -> usize {
    let last = wait_for_answer(source.port(), url, expected, SOURCE_TIMEOUT);
    assert_eq!(last, expected, "the answer for {url} did not change");
    source.server.request_count() - requests_before
}

#[test]
fn answers_follow_source_changes() {
    let end_own = unix_now() + 3600;
    let end_first = unix_now() + 5400;
    let end_second = unix_now() + 7200;
    let source = SourceEnvoy::start(
        &filter_config(&[active_rule("own", "own.example", end_own)]),
        &json!({ "interval_seconds": 2, "timeout_ms": 1000 }),
        RulesReply::Status(503),
        4,
    );
    let _log = source.envoy.log_on_failure();
    let port = source.port();

    // Before the first good fetch the filter answers from its own rules.
    let tried = source.server.wait_for_requests(1, SOURCE_TIMEOUT);
    assert!(tried >= 1, "the rules source never fetched");
    assert_eq!(
        answer(port, REMOTE_URL),
        "ok",
        "source site before a good fetch"
    );
    assert_eq!(answer(port, OWN_URL), expected_answer(end_own));
    assert_eq!(source.source_stat("fetch.ok"), 0);

    let before = source.server.request_count();
    source
        .server
        .set_reply(RulesReply::Document(document(&[active_rule(
            "remote",
            "remote.example",
            end_first,
        )])));
    let fetches = fetches_until_answer(&source, REMOTE_URL, &expected_answer(end_first), before);
    assert!(
        fetches <= 2,
        "the first document took {fetches} fetches to take effect"
    );
    assert_eq!(
        answer(port, OWN_URL),
        expected_answer(end_own),
        "own rule after merge"
    );

    let before = source.server.request_count();
    source
        .server
        .set_reply(RulesReply::Document(document(&[active_rule(
            "remote",
            "remote.example",
            end_second,
        )])));
    let fetches = fetches_until_answer(&source, REMOTE_URL, &expected_answer(end_second), before);
    assert!(
        fetches <= 2,
        "the changed document took {fetches} fetches to take effect"
    );
    assert_eq!(source.source_stat("version"), 2);
    assert_eq!(source.webhook_upstream.connections(), 0);
}

#[test]
fn four_workers_fetch_once_per_period() {
    let period = Duration::from_secs(2);
    let source = SourceEnvoy::start(
        &filter_config(&[]),
        &json!({ "interval_seconds": 2, "timeout_ms": 1000 }),
        RulesReply::Document(document(&[])),
        4,
    );
    let _log = source.envoy.log_on_failure();

    let received = source.server.wait_for_requests(5, SOURCE_TIMEOUT * 2);
    let requests = source.server.requests();

    assert!(received >= 5, "only {received} fetches arrived");
    for pair in requests.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        // One poller per worker would send its fetches within milliseconds
        // of each other; one poller leaves a period between them.
        assert!(
            gap >= period / 2,
            "two fetches {gap:?} apart, less than half the {period:?} period"
        );
    }
    let first = &requests[0].head;
    assert!(
        first.starts_with(&format!("GET {SOURCE_PATH} HTTP/1.1")),
        "unexpected request: {first}"
    );
}

#[test]
fn failed_fetches_keep_last_rules() {
    let end_good = unix_now() + 3600;
    let end_next = unix_now() + 5400;
    let good = document(&[active_rule("remote", "remote.example", end_good)]);
    let source = SourceEnvoy::start(
        &filter_config(&[]),
        &json!({ "interval_seconds": 1, "timeout_ms": 300 }),
        RulesReply::Document(good),
        1,
    );
    let _log = source.envoy.log_on_failure();
    let port = source.port();
    assert_eq!(
        wait_for_answer(port, REMOTE_URL, &expected_answer(end_good), SOURCE_TIMEOUT),
        expected_answer(end_good),
        "the first document did not take effect"
    );

    let failures = [
        (RulesReply::Status(503), "status"),
        (RulesReply::Hang(Duration::from_secs(2)), "timeout"),
        (RulesReply::Refuse, "connection"),
        (RulesReply::Garbage, "invalid"),
    ];
    for (reply, cause) in failures {
        let counter = format!("fetch.failed.{cause}");
        let before = source.source_stat(&counter);
        source.server.set_reply(reply.clone());

        let after = source.wait_for_source_stat(&counter, before + 1, SOURCE_TIMEOUT);

        assert!(after > before, "{counter} stayed at {before} for {reply:?}");
        assert_eq!(
            answer(port, REMOTE_URL),
            expected_answer(end_good),
            "answer after {reply:?}"
        );
        let logged = source
            .envoy
            .wait_for_log_lines(&format!("rules source fetch failed ({cause})"), 1);
        assert!(!logged.is_empty(), "no log line for the {cause} failure");
    }

    // The next period fetches again, and a good document takes effect.
    source
        .server
        .set_reply(RulesReply::Document(document(&[active_rule(
            "remote",
            "remote.example",
            end_next,
        )])));
    assert_eq!(
        wait_for_answer(port, REMOTE_URL, &expected_answer(end_next), SOURCE_TIMEOUT),
        expected_answer(end_next),
        "a good document after the failures did not take effect"
    );
    assert!(!source.envoy.log().contains("panicked"), "a VM panicked");
}

#[test]
fn stale_source_warns_and_recovers() {
    let end = unix_now() + 3600;
    let good = document(&[active_rule("remote", "remote.example", end)]);
    let source = SourceEnvoy::start(
        &filter_config(&[]),
        &json!({ "interval_seconds": 1, "timeout_ms": 300, "stale_after_seconds": 2 }),
        RulesReply::Document(good.clone()),
        1,
    );
    let _log = source.envoy.log_on_failure();
    let port = source.port();
    assert_eq!(
        wait_for_answer(port, REMOTE_URL, &expected_answer(end), SOURCE_TIMEOUT),
        expected_answer(end),
        "the first document did not take effect"
    );
    assert_eq!(source.source_stat("stale"), 0);

    source.server.set_reply(RulesReply::Refuse);
    let stale = source.wait_for_source_stat("stale", 1, SOURCE_TIMEOUT);

    assert_eq!(stale, 1, "the source did not turn stale");
    assert!(source.source_stat("age_seconds") >= 2);
    let warnings = source.envoy.wait_for_log_lines("rules source is stale", 1);
    assert!(!warnings.is_empty(), "no staleness warning in the log");
    assert_eq!(
        answer(port, REMOTE_URL),
        expected_answer(end),
        "stale rules still answer"
    );

    source.server.set_reply(RulesReply::Document(good));
    let fresh = wait_for(SOURCE_TIMEOUT, || {
        (source.source_stat("stale") == 0).then_some(())
    });

    assert!(
        fresh.is_some(),
        "the source stayed stale after a good fetch"
    );
    assert!(source.source_stat("age_seconds") <= 2);
    let recovered = source
        .envoy
        .wait_for_log_lines("rules source is fresh again", 1);
    assert!(!recovered.is_empty(), "no recovery line in the log");
}

#[test]
fn unknown_cluster_counts_dispatch_failures() {
    let server = RulesServer::start(RulesReply::Document(document(&[])));
    let upstream = CountingUpstream::start();
    let bootstrap = source_bootstrap(
        &filter_config(&[]),
        &json!({ "rules_source": { "cluster": "no_such_cluster", "path": SOURCE_PATH, "interval_seconds": 1 } }),
        server.port(),
        upstream.port(),
        upstream.port(),
    );
    let envoy = Envoy::start_text(&bootstrap.to_string(), "json", &LaunchOptions::default());
    let _log = envoy.log_on_failure();

    let failures = wait_for(SOURCE_TIMEOUT, || {
        envoy
            .stat("wasmcustom.downtime_responder.source.fetch.failed.dispatch")
            .filter(|count| *count >= 2)
    });

    assert!(failures.is_some(), "no dispatch failure was counted");
    let logged = envoy.wait_for_log_lines("rules source fetch failed (dispatch)", 1);
    assert!(!logged.is_empty(), "no log line for the dispatch failure");
    assert!(logged[0].contains("no_such_cluster"), "{}", logged[0]);
    assert_eq!(server.request_count(), 0);
}

#[test]
fn shared_id_rejects_source_document() {
    let end_own = unix_now() + 3600;
    let end_first = unix_now() + 5400;
    let end_second = unix_now() + 7200;
    let source = SourceEnvoy::start(
        &filter_config(&[active_rule("shared", "own.example", end_own)]),
        &json!({ "interval_seconds": 1, "timeout_ms": 500 }),
        RulesReply::Document(document(&[active_rule(
            "remote",
            "remote.example",
            end_first,
        )])),
        1,
    );
    let _log = source.envoy.log_on_failure();
    let port = source.port();
    assert_eq!(
        wait_for_answer(
            port,
            REMOTE_URL,
            &expected_answer(end_first),
            SOURCE_TIMEOUT
        ),
        expected_answer(end_first),
        "the first document did not take effect"
    );

    source.server.set_reply(RulesReply::Document(document(&[
        active_rule("remote", "remote.example", end_second),
        active_rule("shared", "other.example", end_second),
    ])));
    let rejected = source.envoy.wait_for_log_lines("rules[1].id", 1);

    assert!(!rejected.is_empty(), "the shared id was not reported");
    assert!(
        rejected[0].contains("\"shared\" is already the id of rules[0]"),
        "{}",
        rejected[0]
    );
    assert!(source.source_stat("merge.rejected") >= 1);
    assert_eq!(
        answer(port, REMOTE_URL),
        expected_answer(end_first),
        "the rejected document replaced the rules"
    );
    assert_eq!(answer(port, "https://other.example/"), "ok");
    assert_eq!(answer(port, OWN_URL), expected_answer(end_own));
}

#[test]
fn unknown_source_field_stops_envoy() {
    let upstream = CountingUpstream::start();
    let bootstrap = source_bootstrap(
        &filter_config(&[]),
        &json!({ "rules_source": { "cluster": SOURCE_CLUSTER, "path": SOURCE_PATH, "intervall": 5 } }),
        upstream.port(),
        upstream.port(),
        upstream.port(),
    );

    let failed = Envoy::start_expecting_failure(&bootstrap);

    assert!(!failed.status.success(), "Envoy started:\n{}", failed.log);
    assert!(
        failed.log.contains("rules_source.intervall: unknown field"),
        "the log does not name rules_source.intervall:\n{}",
        failed.log
    );
}

#[test]
fn reference_config_passes_envoy_validate() {
    common::assert_envoy_validates("envoy/rules-source.yaml");
}

/// Runs envoy/rules-source.yaml itself, with its ports moved to ones the
/// kernel picks and its maintenance API served by the test.
#[test]
fn reference_config_adopts_source_rules() {
    let file = "envoy/rules-source.yaml";
    let end = unix_now() + 3600;
    let server = RulesServer::start(RulesReply::Document(document(&[active_rule(
        "api-rule",
        "api.example",
        end,
    )])));
    let backend = CountingUpstream::start();
    let text = std::fs::read_to_string(common::repo_root().join(file)).unwrap();
    let text = replace_once(&text, "port_value: 9901", "port_value: 0", file);
    let text = replace_once(&text, "port_value: 10000", "port_value: 0", file);
    let text = replace_once(
        &text,
        "port_value: 8080",
        &format!("port_value: {}", backend.port()),
        file,
    );
    let text = replace_once(
        &text,
        "port_value: 8081",
        &format!("port_value: {}", server.port()),
        file,
    );
    common::wasm_module();
    let envoy = Envoy::start_text(&text, "yaml", &LaunchOptions::default());
    let _log = envoy.log_on_failure();
    let port = envoy.listener_port("ingress");
    let body = br#"{"url":"https://api.example","code":503}"#;
    let request = http::request_bytes(
        "POST",
        &format!("{WEBHOOK_PATH}?token=change-me"),
        &[],
        body,
    );
    let expected = expected_answer(end);

    let mut last = String::new();
    let adopted = wait_for(SOURCE_TIMEOUT, || {
        last = http::exchange(port, &request)
            .map(|response| response.text())
            .unwrap_or_default();
        (last == expected).then_some(())
    });

    assert!(
        adopted.is_some(),
        "the answer stayed {last:?}, expected {expected}"
    );
    let fetch = &server.requests()[0].head.to_ascii_lowercase();
    assert!(
        fetch.starts_with("get /v1/maintenance-rules http/1.1"),
        "unexpected fetch: {fetch}"
    );
    assert!(fetch.contains("host: maintenance.internal"), "{fetch}");
    let prometheus = envoy.prometheus();
    for cause in [
        "dispatch",
        "connection",
        "timeout",
        "status",
        "invalid",
        "publish",
    ] {
        assert_eq!(
            prometheus_sample(
                &prometheus,
                "downtime_responder_source_fetch_failed",
                &[("cause", cause)]
            ),
            Some(0.0),
            "no Prometheus sample for cause {cause}"
        );
    }
    assert_eq!(
        prometheus_sample(&prometheus, "downtime_responder_source_fetch_ok", &[]),
        Some(1.0)
    );
    assert_eq!(backend.connections(), 0);
}
