//! A catalog of bad requests to the webhook, sent to a real Envoy one after
//! another: bodies, methods, headers, encodings, sizes and clients that
//! break off. Each has its expected response and is followed by a valid
//! notification that must get the usual timestamp. Afterwards the wasm VM must
//! not have failed or been reloaded, the log must show no panic or trap, and
//! no request may have reached the upstream behind the webhook route.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use common::http::{self, Response};
use common::time::format_utc;
use common::{unix_now, WebhookEnvoy, WEBHOOK_PATH};

const TOKEN: &str = "bad-inputs-token";
/// Above the default, so a body nested 10,000 arrays deep (20,000 bytes)
/// reaches the JSON parser.
const MAX_BODY_BYTES: usize = 32_768;
const HOUR: i64 = 3600;
const NOTIFICATION: &str =
    r#"{"ts":1385139152,"url":"http:\/\/example.com","code":403,"host":"example","type":"http"}"#;
const INVALID: &str = "invalid notification: ";

fn plugin_config(now: i64) -> Value {
    json!({
        "webhook": {
            "path": WEBHOOK_PATH,
            "token": TOKEN,
            "allowed_sources": ["127.0.0.1/32"],
            "max_body_bytes": MAX_BODY_BYTES
        },
        "rules": [{
            "id": "example-com",
            "sites": ["example.com"],
            "start": format_utc(now - HOUR),
            "end": format_utc(now + 2 * HOUR)
        }]
    })
}

fn target() -> String {
    format!("{WEBHOOK_PATH}?token={TOKEN}")
}

/// How a bad input reaches Envoy.
enum Delivery {
    /// These bytes on a new connection, then one response is read (until
    /// the connection closes, for HEAD).
    Raw(Vec<u8>),
    /// The head with `expect: 100-continue`, the interim response, then
    /// the body.
    AfterContinue { head: Vec<u8>, body: Vec<u8> },
    /// The head with `expect: 100-continue`, part of the body after the
    /// interim response, then the client resets the connection.
    ResetMidBody {
        head: Vec<u8>,
        partial_body: Vec<u8>,
    },
    /// The head and part of the body, then the client closes its side.
    HalfCloseMidBody(Vec<u8>),
    /// An HTTP/2 request without TLS, sent by curl.
    H2c { body: Vec<u8> },
}

/// The expected response.
enum Expected {
    /// This status and a body that starts with this text. An empty prefix
    /// accepts any body.
    Status(u16, &'static str),
    /// 405 with `allow: POST`.
    MethodNotAllowed,
    /// 405 with `allow: POST` and no body bytes, for HEAD.
    MethodNotAllowedNoBody,
    /// 100 Continue, then this status and a body that starts with this text.
    ContinueThen(u16, &'static str),
    /// No response, or a 4xx, for a client that breaks off.
    NothingOr4xx,
}

struct BadInput {
    name: &'static str,
    delivery: Delivery,
    expected: Expected,
}

fn post_body(name: &'static str, body: &[u8], expected: Expected) -> BadInput {
    BadInput {
        name,
        delivery: Delivery::Raw(http::request_bytes("POST", &target(), &[], body)),
        expected,
    }
}

fn invalid_body(name: &'static str, body: &[u8]) -> BadInput {
    post_body(name, body, Expected::Status(400, INVALID))
}

fn raw(name: &'static str, bytes: &[u8], expected: Expected) -> BadInput {
    BadInput {
        name,
        delivery: Delivery::Raw(bytes.to_vec()),
        expected,
    }
}

fn method(name: &'static str, method: &str, body: &[u8]) -> BadInput {
    let expected = if method == "HEAD" {
        Expected::MethodNotAllowedNoBody
    } else {
        Expected::MethodNotAllowed
    };
    BadInput {
        name,
        delivery: Delivery::Raw(http::request_bytes(method, &target(), &[], body)),
        expected,
    }
}

/// Builds a request head with a content-length for `body_length` bytes.
fn head_for(body_length: usize, extra_headers: &str) -> Vec<u8> {
    format!(
        "POST {} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n{extra_headers}\
         content-length: {body_length}\r\n\r\n",
        target()
    )
    .into_bytes()
}

fn chunked(body: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut encoded = Vec::new();
    for chunk in body.chunks(chunk_size) {
        encoded.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        encoded.extend_from_slice(chunk);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(b"0\r\n\r\n");
    encoded
}

fn catalog() -> Vec<BadInput> {
    let target = target();
    let notification = NOTIFICATION.as_bytes();
    let half = &notification[..notification.len() / 2];
    let mut invalid_utf8 = br#"{"url":"http://example.com/"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    invalid_utf8.extend_from_slice(br#"","code":500}"#);
    let nested_arrays = ["[".repeat(10_000), "]".repeat(10_000)].concat();
    let nested_objects = [r#"{"a":"#.repeat(5_000), "1".to_string(), "}".repeat(5_000)].concat();
    let mut with_bom = vec![0xef, 0xbb, 0xbf];
    with_bom.extend_from_slice(notification);
    let utf16: Vec<u8> = NOTIFICATION
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let gzip_magic = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00,
    ];
    let mut four_kib = notification.to_vec();
    four_kib.resize(4096, b' ');
    let over_limit = vec![b' '; MAX_BODY_BYTES + 1];
    let long_header = format!("x-padding: {}\r\n", "a".repeat(70 * 1024));

    let mut half_closed_request = head_for(notification.len(), "");
    half_closed_request.extend_from_slice(half);

    let mut chunked_over_limit = format!(
        "POST {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         transfer-encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    chunked_over_limit.extend_from_slice(&chunked(&over_limit, 4096));

    vec![
        // Bodies.
        invalid_body("empty body with content-length 0", b""),
        invalid_body("whitespace only", b" \r\n\t "),
        invalid_body("malformed JSON", br#"{"url":"http://example.com","code":500,,}"#),
        invalid_body("truncated JSON", br#"{"url":"http://example.com","code":5"#),
        invalid_body("invalid UTF-8 inside a string", &invalid_utf8),
        invalid_body("arrays nested 10,000 deep", nested_arrays.as_bytes()),
        invalid_body("objects nested 5,000 deep", nested_objects.as_bytes()),
        invalid_body("JSON array", br#"[{"url":"http://example.com","code":500}]"#),
        invalid_body("JSON string", br#""ok""#),
        invalid_body("JSON null", b"null"),
        invalid_body("missing url", br#"{"code":500}"#),
        invalid_body("missing code", br#"{"url":"http://example.com"}"#),
        invalid_body("url is a number", br#"{"url":42,"code":500}"#),
        invalid_body("url with ftp scheme", br#"{"url":"ftp://example.com/","code":500}"#),
        invalid_body("url without host", br#"{"url":"http://","code":500}"#),
        invalid_body("url with a host of dots only", br#"{"url":"https://./a","code":500}"#),
        invalid_body("relative url", br#"{"url":"/wp-admin/","code":500}"#),
        invalid_body("url with a space in the host", br#"{"url":"http://exa mple.com","code":500}"#),
        invalid_body("code is a string", br#"{"url":"http://example.com","code":"500"}"#),
        invalid_body("negative code", br#"{"url":"http://example.com","code":-1}"#),
        invalid_body("code above 999", br#"{"url":"http://example.com","code":1000}"#),
        invalid_body("code with a fraction", br#"{"url":"http://example.com","code":500.5}"#),
        invalid_body("code out of f64 range", br#"{"url":"http://example.com","code":1e400}"#),
        invalid_body("ts is a string", br#"{"url":"http://example.com","code":500,"ts":"now"}"#),
        invalid_body("host is a number", br#"{"url":"http://example.com","code":500,"host":7}"#),
        invalid_body("type is an object", br#"{"url":"http://example.com","code":500,"type":{}}"#),
        invalid_body("garbage after the object", br#"{"url":"http://example.com","code":500} x"#),
        invalid_body("lone surrogate escape", br#"{"url":"http://example.com/\ud800","code":500}"#),
        invalid_body("NUL bytes", &[0_u8; 64]),
        // Encodings.
        invalid_body("UTF-8 byte order mark", &with_bom),
        invalid_body("UTF-16LE JSON", &utf16),
        invalid_body("form encoding", b"url=http%3A%2F%2Fexample.com&code=500"),
        BadInput {
            name: "gzip content-encoding",
            delivery: Delivery::Raw(http::request_bytes(
                "POST",
                &target,
                &[("content-encoding", "gzip")],
                &gzip_magic,
            )),
            expected: Expected::Status(400, INVALID),
        },
        BadInput {
            name: "HTTP/2 invalid JSON",
            delivery: Delivery::H2c {
                body: b"{not json".to_vec(),
            },
            expected: Expected::Status(400, INVALID),
        },
        // Methods.
        method("GET", "GET", b""),
        method("HEAD", "HEAD", b""),
        method("PUT with a notification", "PUT", notification),
        method("DELETE", "DELETE", b""),
        method("OPTIONS", "OPTIONS", b""),
        method("PATCH with a notification", "PATCH", notification),
        method("unknown method", "PURGE", b""),
        // Headers and framing.
        raw(
            "no token",
            &http::request_bytes("POST", WEBHOOK_PATH, &[], notification),
            Expected::Status(403, "forbidden"),
        ),
        raw(
            "token in the wrong letter case",
            &http::request_bytes(
                "POST",
                &format!("{WEBHOOK_PATH}?token={}", TOKEN.to_uppercase()),
                &[],
                notification,
            ),
            Expected::Status(403, "forbidden"),
        ),
        raw(
            "content-length not a number",
            &http::request_bytes("POST", &target, &[("content-length", "ten")], b""),
            Expected::Status(400, ""),
        ),
        raw(
            "two different content-lengths",
            &http::request_bytes(
                "POST",
                &target,
                &[("content-length", "3"), ("content-length", "4")],
                b"{}  ",
            ),
            Expected::Status(400, ""),
        ),
        raw(
            "content-length and chunked together",
            &[
                format!(
                    "POST {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
                     content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n"
                )
                .into_bytes(),
                chunked(notification, 16),
            ]
            .concat(),
            Expected::Status(400, ""),
        ),
        raw(
            "invalid chunk size",
            &[
                format!(
                    "POST {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
                     transfer-encoding: chunked\r\n\r\n"
                )
                .into_bytes(),
                b"zz\r\n{}\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
            Expected::Status(400, ""),
        ),
        raw(
            "header line without a colon",
            &[
                format!("POST {target} HTTP/1.1\r\nhost: localhost\r\nno colon here\r\n")
                    .into_bytes(),
                b"content-length: 2\r\n\r\n{}".to_vec(),
            ]
            .concat(),
            Expected::Status(400, ""),
        ),
        raw(
            "70 KiB header",
            &[
                format!("POST {target} HTTP/1.1\r\nhost: localhost\r\n{long_header}")
                    .into_bytes(),
                b"content-length: 2\r\n\r\n{}".to_vec(),
            ]
            .concat(),
            Expected::Status(431, ""),
        ),
        raw(
            "HTTP/1.0",
            &format!(
                "POST {target} HTTP/1.0\r\nhost: localhost\r\ncontent-length: {}\r\n\r\n{NOTIFICATION}",
                notification.len()
            )
            .into_bytes(),
            Expected::Status(426, ""),
        ),
        raw(
            "garbage request line",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http\r\n\r\n",
            Expected::Status(400, ""),
        ),
        // Sizes.
        post_body(
            "body one byte over max_body_bytes",
            &over_limit,
            Expected::Status(413, "notification too large"),
        ),
        raw(
            "content-length of 10^15 without a body",
            &head_for(1_000_000_000_000_000, ""),
            Expected::Status(413, "notification too large"),
        ),
        raw(
            "chunked body over max_body_bytes",
            &chunked_over_limit,
            Expected::Status(413, "notification too large"),
        ),
        // Expect: 100-continue with a 4 KiB body gets the usual response.
        BadInput {
            name: "expect 100-continue with a 4 KiB body",
            delivery: Delivery::AfterContinue {
                head: head_for(four_kib.len(), "expect: 100-continue\r\n"),
                body: four_kib,
            },
            expected: Expected::ContinueThen(200, ""),
        },
        // Clients that break off.
        BadInput {
            name: "client reset halfway through the body",
            delivery: Delivery::ResetMidBody {
                head: head_for(notification.len(), "expect: 100-continue\r\n"),
                partial_body: half.to_vec(),
            },
            expected: Expected::NothingOr4xx,
        },
        BadInput {
            name: "client closes its side halfway through the body",
            delivery: Delivery::HalfCloseMidBody(half_closed_request),
            expected: Expected::NothingOr4xx,
        },
    ]
}

/// Sends one bad input and returns the interim statuses and the response,
/// or `None` when the connection ended without a response.
fn deliver(port: u16, delivery: &Delivery) -> Option<Response> {
    match delivery {
        Delivery::Raw(bytes) => Some(http::exchange(port, bytes).unwrap()),
        Delivery::AfterContinue { head, body } => {
            let mut stream = http::connect(port).unwrap();
            stream.write_all(head).unwrap();
            let interim = http::read_head_status(&mut stream).unwrap();
            stream.write_all(body).unwrap();
            let mut response = http::read_response(&mut stream, false).unwrap();
            response.interim_statuses.insert(0, interim);
            Some(response)
        }
        Delivery::ResetMidBody { head, partial_body } => {
            // Closing a socket with received data still unread (here the
            // 100 Continue) makes the kernel send RST instead of FIN.
            let mut stream = http::connect(port).unwrap();
            stream.write_all(head).unwrap();
            let mut peeked = [0_u8; 1];
            stream.peek(&mut peeked).unwrap();
            stream.write_all(partial_body).unwrap();
            drop(stream);
            // Envoy handles the reset asynchronously.
            thread::sleep(Duration::from_millis(100));
            None
        }
        Delivery::HalfCloseMidBody(bytes) => {
            let mut stream = http::connect(port).unwrap();
            stream.write_all(bytes).unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            let mut received = Vec::new();
            let _ = stream.read_to_end(&mut received);
            (!received.is_empty()).then(|| http::parse_response(&received, false).unwrap())
        }
        Delivery::H2c { body } => Some(http::curl_h2c(port, "POST", &target(), body).unwrap()),
    }
}

/// Returns why `response` does not meet `expected`, or `None` when it does.
fn mismatch(expected: &Expected, response: Option<&Response>) -> Option<String> {
    let body_starts = |response: &Response, prefix: &str| response.text().starts_with(prefix);
    match (expected, response) {
        (Expected::NothingOr4xx, None) => None,
        (Expected::NothingOr4xx, Some(response)) if (400..500).contains(&response.status) => None,
        (_, None) => Some("no response".to_string()),
        (Expected::Status(status, prefix), Some(response))
            if response.status == *status && body_starts(response, prefix) =>
        {
            None
        }
        (Expected::MethodNotAllowed, Some(response))
            if response.status == 405
                && response.header("allow") == Some("POST")
                && !response.body.is_empty() =>
        {
            None
        }
        (Expected::MethodNotAllowedNoBody, Some(response))
            if response.status == 405
                && response.header("allow") == Some("POST")
                && response.body.is_empty() =>
        {
            None
        }
        (Expected::ContinueThen(status, prefix), Some(response))
            if response.interim_statuses == [100]
                && response.status == *status
                && body_starts(response, prefix) =>
        {
            None
        }
        (_, Some(response)) => Some(format!(
            "got {} {:?} (interim {:?}, headers {:?})",
            response.status,
            response.text(),
            response.interim_statuses,
            response.headers
        )),
    }
}

fn expected_text(expected: &Expected) -> String {
    match expected {
        Expected::Status(status, prefix) => format!("{status} with a body starting {prefix:?}"),
        Expected::MethodNotAllowed => "405 with allow: POST and a body".to_string(),
        Expected::MethodNotAllowedNoBody => "405 with allow: POST and no body".to_string(),
        Expected::ContinueThen(status, prefix) => {
            format!("100, then {status} with a body starting {prefix:?}")
        }
        Expected::NothingOr4xx => "no response or a 4xx".to_string(),
    }
}

/// The VM counters that move when a VM fails or is reloaded.
const VM_FAILURE_STATS: [&str; 4] = [
    "wasm.downtime_responder.vm_reload",
    "wasm.downtime_responder.vm_reload_backoff",
    "wasm.downtime_responder.vm_reload_failure",
    "wasm.downtime_responder.vm_reload_success",
];

#[test]
fn bad_inputs_answered_and_vm_survives() {
    let now = unix_now();
    let webhook = WebhookEnvoy::start(&plugin_config(now));
    let _log = webhook.envoy.log_on_failure();
    let port = webhook.port();
    let good_answer = format_utc(now + 2 * HOUR);
    let active_vms = webhook.envoy.stat("wasm.envoy.wasm.runtime.v8.active");
    let catalog = catalog();

    let mut failures = Vec::new();
    for input in &catalog {
        let response = deliver(port, &input.delivery);
        if let Some(problem) = mismatch(&input.expected, response.as_ref()) {
            failures.push(format!(
                "{}: expected {}, {problem}",
                input.name,
                expected_text(&input.expected)
            ));
        }

        let follow_up = http::exchange(
            port,
            &http::request_bytes("POST", &target(), &[], NOTIFICATION.as_bytes()),
        )
        .unwrap();
        if follow_up.status != 200 || follow_up.text() != good_answer {
            failures.push(format!(
                "valid notification after {}: expected 200 {good_answer}, got {} {:?}",
                input.name,
                follow_up.status,
                follow_up.text()
            ));
        }
    }

    assert!(
        catalog.len() >= 30,
        "the catalog has {} inputs, fewer than 30",
        catalog.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs got an unexpected answer:\n{}",
        failures.len(),
        catalog.len(),
        failures.join("\n")
    );
    for name in VM_FAILURE_STATS {
        assert_eq!(webhook.envoy.stat(name), Some(0), "{name}");
    }
    assert_eq!(
        webhook.envoy.stat("wasm.envoy.wasm.runtime.v8.active"),
        active_vms,
        "wasm.envoy.wasm.runtime.v8.active changed"
    );
    let log = webhook.envoy.log();
    for marker in ["panicked", "Uncaught", "wasm_fail_stream"] {
        assert!(!log.contains(marker), "the Envoy log contains {marker:?}");
    }
    webhook.assert_webhook_never_forwarded();
}
