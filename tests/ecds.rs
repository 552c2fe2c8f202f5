//! Rule changes through file-based ECDS: a rejected update keeps the rules in
//! force, a valid one replaces them, and updates under load never drop or
//! misanswer a notification.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::ecds::EcdsEnvoy;
use common::http;
use common::launch::LaunchOptions;
use common::live::{active_rule, answer, expected_answer, replace_once, wait_for, wait_for_answer};
use common::time::format_utc;
use common::{unix_now, CountingUpstream, Envoy, WEBHOOK_PATH};

/// How long a pushed resource may take to change the answers. Envoy reloads
/// within milliseconds of the rename; the margin is for a loaded machine.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(15);

fn config_with_rules(rules: &[Value]) -> Value {
    json!({ "webhook": { "path": WEBHOOK_PATH }, "rules": rules })
}

#[test]
fn rejected_update_keeps_previous_rules() {
    let url = "https://reload.example/";
    let end_v1 = unix_now() + 3600;
    let end_v3 = unix_now() + 7200;
    let v1 = config_with_rules(&[active_rule("v1", "reload.example", end_v1)]);
    let v2 = config_with_rules(&[json!({
        "id": "v2",
        "sites": ["reload.example"],
        "start": format_utc(unix_now() + 3600),
        "end": format_utc(unix_now())
    })]);
    let v3 = config_with_rules(&[active_rule("v3", "reload.example", end_v3)]);
    let ecds = EcdsEnvoy::start(&v1, 1);
    let _log = ecds.envoy.log_on_failure();
    let port = ecds.port();
    assert_eq!(
        answer(port, url),
        expected_answer(end_v1),
        "v1 before any update"
    );

    let resource_before = ecds.pusher.resource_text();
    let checked = ecds.pusher.push(&v2);
    assert!(
        !checked.success,
        "push-rules.sh accepted v2: {}",
        checked.stderr
    );
    assert!(
        checked.stderr.contains("rules[0].end"),
        "push-rules.sh did not name rules[0].end: {}",
        checked.stderr
    );
    assert_eq!(
        ecds.pusher.resource_text(),
        resource_before,
        "push-rules.sh changed the resource although its check failed"
    );

    let unchecked = ecds.pusher.push_unchecked(&v2);
    assert!(
        unchecked.success,
        "push --no-check failed: {}",
        unchecked.stderr
    );
    let rejected = wait_for(UPDATE_TIMEOUT, || {
        (ecds.ecds_stat("update_rejected") >= Some(1)).then_some(())
    });
    assert!(
        rejected.is_some(),
        "update_rejected is {:?}, expected 1",
        ecds.ecds_stat("update_rejected")
    );
    let cause = ecds
        .envoy
        .wait_for_log_lines("invalid configuration: rules[0].end", 1);
    assert!(!cause.is_empty(), "the log does not name rules[0].end");
    let envoy_rejection = ecds.envoy.wait_for_log_lines("config update rejected", 1);
    assert!(
        !envoy_rejection.is_empty(),
        "Envoy did not log the rejected update"
    );
    for attempt in 0..5 {
        assert_eq!(
            answer(port, url),
            expected_answer(end_v1),
            "answer {attempt} after the rejected v2"
        );
    }

    let pushed = ecds.pusher.push(&v3);
    assert!(pushed.success, "pushing v3 failed: {}", pushed.stderr);
    assert_eq!(
        wait_for_answer(port, url, &expected_answer(end_v3), UPDATE_TIMEOUT),
        expected_answer(end_v3),
        "v3 did not take effect"
    );
    assert_eq!(ecds.ecds_stat("update_rejected"), Some(1));
    assert_eq!(ecds.ecds_stat("update_success"), Some(2));
    assert_eq!(ecds.webhook_upstream.connections(), 0);
}

/// The number of valid updates pushed while the client sends notifications.
const LOAD_UPDATES: usize = 20;
/// The time between two pushes; 20 of them fill about 20 s.
const PUSH_SPACING: Duration = Duration::from_millis(950);
/// The client stops after this long even if the pushes are not done.
const LOAD_LIMIT: Duration = Duration::from_secs(90);
const LOAD_MAX_REQUESTS: usize = 2_000_000;
/// A client connection is replaced after this many requests, so the load
/// covers both new connections and requests on open ones.
const REQUESTS_PER_CONNECTION: usize = 100;

/// What the load client and the pushing test thread share.
struct LoadState {
    /// The newest version pushed, stored before its push starts, so any
    /// answer from it is already counted as in flight.
    pushed: AtomicUsize,
    /// When the client first received an answer from each version.
    first_seen: Mutex<Vec<Option<Instant>>>,
    stop: AtomicBool,
}

/// Stops the load client when the test thread ends, even by a panic.
struct StopOnDrop(Arc<LoadState>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct LoadReport {
    requests: usize,
    failed: usize,
    wrong: usize,
    /// The first few failed or wrong answers, for the assert messages.
    examples: Vec<String>,
}

impl LoadReport {
    fn note(&mut self, example: String) {
        if self.examples.len() < 10 {
            self.examples.push(example);
        }
    }
}

fn keep_alive_request(url: &str) -> Vec<u8> {
    let body = json!({ "url": url, "code": 503, "type": "http" }).to_string();
    format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends notifications one after another until `stop` is set, and checks
/// that each answer belongs to a version in flight: the version pushed last
/// when the answer arrived, or the one before it.
fn run_load_client(
    port: u16,
    url: &str,
    versions_by_answer: &HashMap<String, usize>,
    state: &LoadState,
) -> LoadReport {
    let request = keep_alive_request(url);
    let started = Instant::now();
    let mut report = LoadReport::default();
    let mut connection: Option<(TcpStream, usize)> = None;

    while !state.stop.load(Ordering::SeqCst)
        && started.elapsed() < LOAD_LIMIT
        && report.requests < LOAD_MAX_REQUESTS
    {
        let (mut stream, used) = match connection.take() {
            Some(open) if open.1 < REQUESTS_PER_CONNECTION => open,
            _ => match http::connect(port) {
                Ok(stream) => (stream, 0),
                Err(error) => {
                    report.requests += 1;
                    report.failed += 1;
                    report.note(format!("connect failed: {error}"));
                    continue;
                }
            },
        };

        let oldest_in_flight = state.pushed.load(Ordering::SeqCst).saturating_sub(1);
        let result = stream
            .write_all(&request)
            .and_then(|()| http::read_response(&mut stream, false));
        let newest_in_flight = state.pushed.load(Ordering::SeqCst);
        report.requests += 1;

        let response = match result {
            Ok(response) => response,
            Err(error) => {
                report.failed += 1;
                report.note(format!("request failed: {error}"));
                continue;
            }
        };
        if response.status != 200 {
            report.failed += 1;
            report.note(format!("status {}: {}", response.status, response.text()));
            continue;
        }
        let body = response.text();
        match versions_by_answer.get(&body) {
            Some(&version) if (oldest_in_flight..=newest_in_flight).contains(&version) => {
                let mut first_seen = state.first_seen.lock().unwrap();
                for seen in first_seen.iter_mut().take(version + 1) {
                    seen.get_or_insert_with(Instant::now);
                }
            }
            found => {
                report.wrong += 1;
                report.note(format!(
                    "answer {body:?} is version {found:?}, but versions {oldest_in_flight}..={newest_in_flight} were in flight"
                ));
            }
        }
        connection = Some((stream, used + 1));
    }
    report
}

#[test]
fn updates_under_load() {
    let site = "load.example";
    let url = "https://load.example/";
    let base_end = unix_now() + 3600;
    let end_of = |version: usize| base_end + 60 * i64::try_from(version).unwrap();
    let config_of = |version: usize| {
        config_with_rules(&[active_rule(
            &format!("load-v{version}"),
            site,
            end_of(version),
        )])
    };
    let versions_by_answer: HashMap<String, usize> = (0..=LOAD_UPDATES)
        .map(|version| (expected_answer(end_of(version)), version))
        .collect();
    let ecds = EcdsEnvoy::start(&config_of(0), 2);
    let _log = ecds.envoy.log_on_failure();
    let port = ecds.port();
    assert_eq!(answer(port, url), expected_answer(end_of(0)), "version 0");

    let state = Arc::new(LoadState {
        pushed: AtomicUsize::new(0),
        first_seen: Mutex::new(vec![None; LOAD_UPDATES + 1]),
        stop: AtomicBool::new(false),
    });
    let _stop_client = StopOnDrop(Arc::clone(&state));
    let client_state = Arc::clone(&state);
    let client_url = url.to_string();
    let client = thread::spawn(move || {
        run_load_client(port, &client_url, &versions_by_answer, &client_state)
    });

    let started = Instant::now();
    let mut latencies = Vec::with_capacity(LOAD_UPDATES);
    for version in 1..=LOAD_UPDATES {
        let push_time = started + PUSH_SPACING * u32::try_from(version).unwrap();
        thread::sleep(push_time.saturating_duration_since(Instant::now()));
        state.pushed.store(version, Ordering::SeqCst);
        let push = ecds.pusher.push(&config_of(version));
        let renamed_at = Instant::now();
        assert!(
            push.success,
            "push of version {version} failed: {}",
            push.stderr
        );

        let seen = wait_for(UPDATE_TIMEOUT, || state.first_seen.lock().unwrap()[version]);
        let seen = seen.unwrap_or_else(|| {
            panic!("the client never received an answer from version {version}")
        });
        latencies.push(seen.saturating_duration_since(renamed_at));
    }
    state.stop.store(true, Ordering::SeqCst);
    let report = client.join().expect("the load client panicked");
    let elapsed = started.elapsed();

    latencies.sort_unstable();
    let rate = report.requests as f64 / elapsed.as_secs_f64();
    println!(
        "updates under load: {} requests in {:.1} s ({rate:.0} requests/s) over {LOAD_UPDATES} updates; \
         update to new answer: min {:?}, median {:?}, max {:?} (measured from the end of push-rules.sh)",
        report.requests,
        elapsed.as_secs_f64(),
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(report.requests > 0, "the client sent no request");
    assert_eq!(report.failed, 0, "failed requests: {:?}", report.examples);
    assert_eq!(report.wrong, 0, "wrong answers: {:?}", report.examples);
    assert_eq!(ecds.ecds_stat("update_rejected"), Some(0));
    assert_eq!(
        ecds.ecds_stat("update_success"),
        Some(u64::try_from(LOAD_UPDATES).unwrap() + 1)
    );
    assert_eq!(
        ecds.webhook_upstream.connections(),
        0,
        "a webhook reached the upstream behind the webhook route"
    );
    assert_eq!(ecds.other_upstream.connections(), 0);
}

#[test]
fn reference_config_passes_envoy_validate() {
    common::assert_envoy_validates("envoy/ecds/envoy.yaml");
}

/// Runs envoy/ecds/envoy.yaml itself, which loads the example resource from
/// envoy/ecds/resources, with its ports moved to ones the kernel picks.
#[test]
fn reference_config_loads_example_resource() {
    let file = "envoy/ecds/envoy.yaml";
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
    common::wasm_module();
    let envoy = Envoy::start_text(&text, "yaml", &LaunchOptions::default());
    let _log = envoy.log_on_failure();
    let port = envoy.listener_port("ingress");
    let body = br#"{"url":"https://unlisted.example","code":503}"#;

    let without_token =
        http::exchange(port, &http::request_bytes("POST", WEBHOOK_PATH, &[], body)).unwrap();
    let with_token = http::exchange(
        port,
        &http::request_bytes(
            "POST",
            &format!("{WEBHOOK_PATH}?token=change-me"),
            &[],
            body,
        ),
    )
    .unwrap();

    assert_eq!(without_token.status, 403, "{without_token:?}");
    assert_eq!(with_token.status, 200, "{with_token:?}");
    assert_eq!(with_token.text(), "ok");
    assert_eq!(backend.connections(), 0);
}
