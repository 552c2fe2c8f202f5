//! How the filter handles the webhook request itself inside a real Envoy:
//! methods, tokens, sources, body limits and invalid bodies.
//!
//! A body may arrive chunked, slowly, after `Expect: 100-continue` or over
//! HTTP/2, and none of these, nor a broken request, reaches an upstream.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{ErrorKind, Write};
use std::net::Shutdown;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::http::{self, Response};
use common::time::format_utc;
use common::{unix_now, WebhookEnvoy, WEBHOOK_PATH};

const TOKEN: &str = "requests-test-token";
const MAX_BODY_BYTES: usize = 32_768;
const HOUR: i64 = 3600;

/// A notification for the site that the active rule covers.
const NOTIFICATION: &str =
    r#"{"ts":1385139152,"url":"http:\/\/example.com","code":403,"host":"example","type":"http"}"#;

struct Fixture {
    webhook: WebhookEnvoy,
    window_end: i64,
}

fn plugin_config(now: i64, allowed_sources: &[&str]) -> Value {
    json!({
        "webhook": {
            "path": WEBHOOK_PATH,
            "token": TOKEN,
            "allowed_sources": allowed_sources,
            // Above the default, so that a body nested 10,000 arrays deep
            // (20,000 bytes) reaches the JSON parser.
            "max_body_bytes": MAX_BODY_BYTES
        },
        "max_suppression_seconds": 86_400,
        "rules": [{
            "id": "example-com",
            "sites": ["example.com"],
            "start": format_utc(now - HOUR),
            "end": format_utc(now + 2 * HOUR)
        }]
    })
}

/// Returns the Envoy shared by the tests in this file that need no special setup.
fn shared() -> &'static Fixture {
    static SHARED: OnceLock<Fixture> = OnceLock::new();
    SHARED.get_or_init(|| {
        let now = unix_now();
        Fixture {
            webhook: WebhookEnvoy::start(&plugin_config(now, &["127.0.0.1/32"])),
            window_end: now + 2 * HOUR,
        }
    })
}

impl Fixture {
    fn port(&self) -> u16 {
        self.webhook.port()
    }

    fn suppressed_until(&self) -> String {
        format_utc(self.window_end)
    }

    fn webhook_target(&self) -> String {
        format!("{WEBHOOK_PATH}?token={TOKEN}")
    }

    fn send(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let request = http::request_bytes(method, target, headers, body);
        http::exchange(self.port(), &request).unwrap()
    }

    fn post(&self, body: &[u8]) -> Response {
        self.send("POST", &self.webhook_target(), &[], body)
    }

    /// Asserts that the filter and Envoy still work: a valid notification gets
    /// the usual timestamp.
    #[track_caller]
    fn assert_next_request_answered(&self) {
        let response = self.post(NOTIFICATION.as_bytes());
        assert_eq!(response.status, 200, "follow-up notification: {response:?}");
        assert_eq!(
            response.text(),
            self.suppressed_until(),
            "follow-up notification: {response:?}"
        );
    }

    /// Asserts that Envoy logged no trap or panic of the wasm VM.
    #[track_caller]
    fn assert_vm_did_not_fail(&self) {
        let log = self.webhook.envoy.log();
        for marker in ["Uncaught RuntimeError", "panicked at"] {
            assert!(!log.contains(marker), "the Envoy log contains {marker:?}");
        }
    }
}

#[track_caller]
fn assert_invalid_notification(response: &Response, case: &str) {
    assert_eq!(response.status, 400, "status for {case}: {response:?}");
    assert!(
        response.text().starts_with("invalid notification: "),
        "body for {case}: {response:?}"
    );
}

#[test]
fn get_and_put_get_405() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();

    for method in ["GET", "PUT", "DELETE", "OPTIONS"] {
        let response = fixture.send(method, &fixture.webhook_target(), &[], b"");
        assert_eq!(response.status, 405, "status for {method}: {response:?}");
        assert_eq!(response.header("allow"), Some("POST"), "allow for {method}");
        assert!(!response.body.is_empty(), "body for {method} is empty");
        assert!(response.body.len() < 200, "body for {method} is not short");
    }
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn head_gets_405_without_body() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.send("HEAD", &fixture.webhook_target(), &[], b"");

    assert_eq!(response.status, 405, "status: {response:?}");
    assert_eq!(response.header("allow"), Some("POST"));
    assert!(
        response.body.is_empty(),
        "HEAD response carried body bytes: {:?}",
        response.text()
    );
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn empty_post_gets_400() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.send(
        "POST",
        &fixture.webhook_target(),
        &[("content-length", "0")],
        b"",
    );

    assert_invalid_notification(&response, "content-length: 0");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn invalid_notifications_get_400() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let cases: &[(&str, &[u8])] = &[
        ("not JSON", b"url=http://example.com&code=500"),
        ("truncated JSON", br#"{"url":"http://example.com","code":5"#),
        (
            "JSON array",
            br#"[{"url":"http://example.com","code":500}]"#,
        ),
        ("JSON null", b"null"),
        ("missing url", br#"{"code":500}"#),
        ("missing code", br#"{"url":"http://example.com"}"#),
        ("url not a string", br#"{"url":42,"code":500}"#),
        ("url without scheme", br#"{"url":"example.com","code":500}"#),
        ("ftp url", br#"{"url":"ftp://example.com/","code":500}"#),
        ("url without host", br#"{"url":"http://","code":500}"#),
        (
            "code as string",
            br#"{"url":"http://example.com","code":"500"}"#,
        ),
        (
            "code with fraction",
            br#"{"url":"http://example.com","code":500.5}"#,
        ),
        (
            "negative code",
            br#"{"url":"http://example.com","code":-1}"#,
        ),
        (
            "code above 999",
            br#"{"url":"http://example.com","code":1000}"#,
        ),
    ];

    for (case, body) in cases {
        let response = fixture.post(body);
        assert_invalid_notification(&response, case);
    }
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn body_over_limit_gets_413() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let mut at_limit = NOTIFICATION.as_bytes().to_vec();
    at_limit.resize(MAX_BODY_BYTES, b' ');
    let mut over_limit = at_limit.clone();
    over_limit.push(b' ');

    let accepted = fixture.post(&at_limit);
    let rejected = fixture.post(&over_limit);

    assert_eq!(accepted.status, 200, "body of max_body_bytes: {accepted:?}");
    assert_eq!(accepted.text(), fixture.suppressed_until());
    assert_eq!(
        rejected.status, 413,
        "body of max_body_bytes + 1: {rejected:?}"
    );
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn large_content_length_gets_413_before_body() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: 40000\r\n\r\n",
        fixture.webhook_target()
    );

    // No body follows, so only a response based on the content-length
    // arrives before the read times out.
    let mut stream = http::connect(fixture.port()).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let response = http::read_response(&mut stream, false)
        .expect("no response to a too-large content-length before the body was sent");

    assert_eq!(response.status, 413, "{response:?}");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn token_accepted_and_rejected() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let body = NOTIFICATION.as_bytes();

    let correct = fixture.send("POST", &format!("{WEBHOOK_PATH}?token={TOKEN}"), &[], body);
    let among_others = fixture.send(
        "POST",
        &format!("{WEBHOOK_PATH}?source=monitor&token={TOKEN}"),
        &[],
        body,
    );
    let missing = fixture.send("POST", WEBHOOK_PATH, &[], body);
    let wrong = fixture.send(
        "POST",
        &format!("{WEBHOOK_PATH}?token=wrong-token"),
        &[],
        body,
    );
    let prefix = fixture.send("POST", &format!("{WEBHOOK_PATH}?token=requests"), &[], body);
    let empty = fixture.send("POST", &format!("{WEBHOOK_PATH}?token="), &[], body);

    assert_eq!(correct.status, 200, "correct token: {correct:?}");
    assert_eq!(correct.text(), fixture.suppressed_until(), "correct token");
    assert_eq!(
        among_others.status, 200,
        "token after another parameter: {among_others:?}"
    );
    for (case, response) in [
        ("missing token", &missing),
        ("wrong token", &wrong),
        ("token prefix", &prefix),
        ("empty token", &empty),
    ] {
        assert_eq!(response.status, 403, "status for {case}: {response:?}");
        assert_eq!(response.text(), "forbidden", "body for {case}");
    }
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn source_outside_allowed_gets_403() {
    let now = unix_now();
    let webhook = WebhookEnvoy::start(&plugin_config(now, &["192.0.2.0/24"]));
    let request = http::request_bytes(
        "POST",
        &format!("{WEBHOOK_PATH}?token={TOKEN}"),
        &[],
        NOTIFICATION.as_bytes(),
    );

    let response = http::exchange(webhook.port(), &request).unwrap();

    assert_eq!(response.status, 403, "{response:?}");
    assert_eq!(response.text(), "forbidden");
    webhook.assert_webhook_never_forwarded();
}

#[test]
fn chunked_body_in_five_parts() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         transfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n",
        fixture.webhook_target()
    );
    // Each piece alone is invalid JSON, so only the whole body, read once at
    // the end of the stream, gets the timestamp.
    let pieces = [
        r#"{"ts":1385139152,"#,
        r#""url":"http:\/\/exa"#,
        r#"mple.com","code":4"#,
        r#"03,"host":"example","#,
        r#""type":"http"}"#,
    ];
    let mut parts: Vec<Vec<u8>> = vec![head.into_bytes()];
    for piece in pieces {
        parts.push(format!("{:x}\r\n{piece}\r\n", piece.len()).into_bytes());
    }
    parts.push(b"0\r\n\r\n".to_vec());
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();

    let response =
        http::exchange_in_parts(fixture.port(), &parts, Duration::from_millis(100)).unwrap();

    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), fixture.suppressed_until());
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn slow_body_never_reaches_upstream() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let body = NOTIFICATION.as_bytes();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        fixture.webhook_target(),
        body.len()
    );
    let third = body.len() / 3;
    let first = [head.as_bytes(), &body[..third]].concat();
    let parts: [&[u8]; 3] = [&first, &body[third..2 * third], &body[2 * third..]];

    let response =
        http::exchange_in_parts(fixture.port(), &parts, Duration::from_millis(200)).unwrap();

    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), fixture.suppressed_until());
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn expect_continue_gets_100_then_answer() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let mut body = NOTIFICATION.as_bytes().to_vec();
    body.resize(4096, b' ');
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         expect: 100-continue\r\ncontent-length: {}\r\n\r\n",
        fixture.webhook_target(),
        body.len()
    );

    let mut stream = http::connect(fixture.port()).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let interim = http::read_head_status(&mut stream).expect("no interim response to Expect");
    stream.write_all(&body).unwrap();
    let response = http::read_response(&mut stream, false).unwrap();

    assert_eq!(interim, 100, "the first response to Expect: 100-continue");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), fixture.suppressed_until());
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn h2c_post_answered() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();

    let post = http::curl_h2c(
        fixture.port(),
        "POST",
        &fixture.webhook_target(),
        NOTIFICATION.as_bytes(),
    )
    .unwrap();
    let get = http::curl_h2c(fixture.port(), "GET", &fixture.webhook_target(), b"").unwrap();

    assert_eq!(post.status, 200, "{post:?}");
    assert_eq!(post.text(), fixture.suppressed_until());
    assert_eq!(
        post.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(get.status, 405, "{get:?}");
    assert_eq!(get.header("allow"), Some("POST"));
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn query_string_still_webhook() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.send(
        "POST",
        &format!("{WEBHOOK_PATH}?token={TOKEN}&attempt=2"),
        &[],
        NOTIFICATION.as_bytes(),
    );

    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), fixture.suppressed_until());
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn other_paths_reach_upstream() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let before = fixture.webhook.other_upstream.connections();

    let get = fixture.send("GET", "/index.html", &[], b"");
    let longer = fixture.send("GET", "/jetpack/monitor/status", &[], b"");
    let prefix = fixture.send("GET", "/jetpack/monitoring", &[], b"");
    let post = fixture.send("POST", "/wp-json/api", &[], NOTIFICATION.as_bytes());
    let after = fixture
        .webhook
        .other_upstream
        .wait_for_connections(before + 4, Duration::from_secs(2));

    for (case, response) in [
        ("GET /index.html", &get),
        ("GET /jetpack/monitor/status", &longer),
        ("GET /jetpack/monitoring", &prefix),
        ("POST /wp-json/api", &post),
    ] {
        assert_eq!(response.status, 200, "status for {case}: {response:?}");
        assert_eq!(response.text(), "upstream", "body for {case}");
    }
    assert!(
        after >= before + 4,
        "the upstream counted {} new connections for 4 requests",
        after - before
    );
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn other_path_body_passes_untouched() {
    // Its own Envoy, so that the last request the upstream saw is this one.
    let webhook = WebhookEnvoy::start(&plugin_config(unix_now(), &["127.0.0.1/32"]));
    let body = br#"{"not":"a notification"}"#;
    let request = http::request_bytes("POST", "/wp-json/api", &[], body);

    let response = http::exchange(webhook.port(), &request).unwrap();
    let received = webhook.other_upstream.last_request();

    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), "upstream");
    assert!(
        received.ends_with(body),
        "the upstream received {:?}",
        String::from_utf8_lossy(&received)
    );
    webhook.assert_webhook_never_forwarded();
}

#[test]
fn one_kib_body_answered_within_one_second() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let mut body = NOTIFICATION.as_bytes().to_vec();
    body.resize(1024, b' ');

    let started = Instant::now();
    let response = fixture.post(&body);
    let elapsed = started.elapsed();

    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.text(), fixture.suppressed_until());
    assert!(
        elapsed < Duration::from_secs(1),
        "the response took {elapsed:?}"
    );
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn hostile_bodies_get_400() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let mut invalid_utf8 = br#"{"url":"http://example.com/"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#"","code":500}"#);
    let nested_arrays = ["[".repeat(10_000), "]".repeat(10_000)].concat();
    let nested_in_field = format!(
        r#"{{"url":"http://example.com","code":500,"extra":{}}}"#,
        nested_arrays
    );

    let malformed = fixture.post(br#"{"url":"http://example.com","code":500,,}"#);
    let utf8 = fixture.post(&invalid_utf8);
    let nested = fixture.post(nested_arrays.as_bytes());
    let nested_field = fixture.post(nested_in_field.as_bytes());

    assert_invalid_notification(&malformed, "malformed JSON");
    assert_invalid_notification(&utf8, "invalid UTF-8");
    assert_invalid_notification(&nested, "arrays nested 10,000 deep");
    // Unknown fields are ignored, so skipping the nested value and responding
    // is as valid as rejecting it. Crashing or hanging is not.
    assert!(
        nested_field.status == 200 || nested_field.status == 400,
        "an unknown field nested 10,000 deep: {nested_field:?}"
    );
    fixture.assert_next_request_answered();
    fixture.assert_vm_did_not_fail();
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn client_gone_halfway_then_next_answered() {
    let fixture = shared();
    let _log = fixture.webhook.envoy.log_on_failure();
    let body = NOTIFICATION.as_bytes();
    let half = body.len() / 2;
    let head = |expect: &str| {
        format!(
            "POST {} HTTP/1.1\r\nhost: localhost\r\n{expect}content-length: {}\r\n\r\n",
            fixture.webhook_target(),
            body.len()
        )
    };

    // Half the body, then a FIN. Envoy may respond 4xx or close without a response.
    let mut closed = http::connect(fixture.port()).unwrap();
    closed.write_all(head("").as_bytes()).unwrap();
    closed.write_all(&body[..half]).unwrap();
    closed.shutdown(Shutdown::Write).unwrap();
    match http::read_until_closed(&mut closed) {
        Ok(bytes) if bytes.is_empty() => {}
        Ok(bytes) => {
            let response = http::parse_response(&bytes, false).unwrap();
            assert!(
                (400..500).contains(&response.status),
                "answer to a half-sent body: {response:?}"
            );
        }
        Err(error) if error.kind() == ErrorKind::TimedOut => {
            panic!("Envoy neither answered nor closed a half-closed request: {error}")
        }
        Err(_) => {}
    }

    // Half the body, then a reset: closing a socket with unread received
    // data (here the 100 Continue) makes the kernel send RST instead of FIN.
    let mut reset = http::connect(fixture.port()).unwrap();
    reset
        .write_all(head("expect: 100-continue\r\n").as_bytes())
        .unwrap();
    let mut peeked = [0_u8; 1];
    reset
        .peek(&mut peeked)
        .expect("no 100 Continue before the reset");
    reset.write_all(&body[..half]).unwrap();
    drop(reset);
    // Envoy handles the reset asynchronously.
    thread::sleep(Duration::from_millis(200));

    fixture.assert_next_request_answered();
    fixture.assert_vm_did_not_fail();
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn without_buffer_filter_webhook_leaks() {
    // The control experiment for every zero-connection assertion: without the
    // buffer filter, the router forwards the headers as soon as the plugin
    // lets them continue, and the counting upstream accepts a connection.
    let webhook = WebhookEnvoy::start_with_buffer_filter(
        &plugin_config(unix_now(), &["127.0.0.1/32"]),
        false,
    );
    let body = NOTIFICATION.as_bytes();
    let head = format!(
        "POST {WEBHOOK_PATH}?token={TOKEN} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    let third = body.len() / 3;
    let first = [head.as_bytes(), &body[..third]].concat();
    let parts: [&[u8]; 3] = [&first, &body[third..2 * third], &body[2 * third..]];

    // The response does not matter here, only whether the upstream was reached.
    let _ = http::exchange_in_parts(webhook.port(), &parts, Duration::from_millis(200));
    let connections = webhook
        .webhook_upstream
        .wait_for_connections(1, Duration::from_secs(2));

    assert!(
        connections >= 1,
        "without the buffer filter the upstream saw no connection, so the counter cannot show a leak"
    );
}

#[test]
fn backstop_route_still_gets_answer() {
    // The reference configuration routes the webhook to a direct_response 503.
    // The plugin answers before the router, so that 503 is never sent while
    // the plugin runs.
    let upstream = common::CountingUpstream::start();
    let plugin_config = plugin_config(unix_now(), &["127.0.0.1/32"]);
    let envoy = common::Envoy::start(&common::bootstrap(&common::BootstrapOptions {
        plugin_config: &plugin_config,
        webhook_route: common::WebhookRoute::Backstop,
        other_port: upstream.port(),
        buffer_filter: true,
    }));
    let post = http::request_bytes(
        "POST",
        &format!("{WEBHOOK_PATH}?token={TOKEN}"),
        &[],
        NOTIFICATION.as_bytes(),
    );

    let response = http::exchange(envoy.port(), &post).unwrap();

    assert_eq!(response.status, 200, "{response:?}");
    assert_ne!(response.text(), "maintenance responder unavailable");
    assert_eq!(
        upstream.connections(),
        0,
        "a webhook request reached the upstream"
    );
}
