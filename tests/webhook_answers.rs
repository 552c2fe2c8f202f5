//! Which response body the filter sends inside a real Envoy: `ok` or the end
//! of the active maintenance window, for each way a rule can match.
//!
//! Windows are placed around the time the configuration is built, so the
//! expected timestamps are computed here and do not depend on the date.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;

use serde_json::{json, Value};

use common::http::{self, Response};
use common::time::{format_rfc3339_offset, format_utc};
use common::{unix_now, WebhookEnvoy, WEBHOOK_PATH};

const TOKEN: &str = "answers-test-token";
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// The end of the window most rules below share, relative to configuration time.
const WINDOW_END: i64 = 2 * HOUR;

/// The payload from the Jetpack Monitor documentation, byte for byte, with the
/// slashes escaped as Monitor sends them.
const SEED_PAYLOAD: &str =
    r#"{"ts":1385139152,"url":"http:\/\/example.com","code":403,"host":"example","type":"http"}"#;

/// An Envoy running the filter, and the Unix time its windows are relative to.
struct Fixture {
    webhook: WebhookEnvoy,
    configured_at: i64,
}

impl Fixture {
    fn start(plugin_config: impl FnOnce(i64) -> Value) -> Fixture {
        let configured_at = unix_now();
        let webhook = WebhookEnvoy::start(&plugin_config(configured_at));
        Fixture {
            webhook,
            configured_at,
        }
    }

    /// Returns the timestamp the filter sends for a window that ends `offset`
    /// seconds after configuration time.
    fn timestamp_at(&self, offset: i64) -> String {
        format_utc(self.configured_at + offset)
    }

    fn post(&self, body: &[u8]) -> Response {
        let target = format!("{WEBHOOK_PATH}?token={TOKEN}");
        let request = http::request_bytes(
            "POST",
            &target,
            &[("content-type", "application/json")],
            body,
        );
        http::exchange(self.webhook.port(), &request).unwrap()
    }

    fn notify(&self, url: &str, code: i64, host: &str) -> Response {
        let payload = json!({
            "ts": unix_now(),
            "url": url,
            "code": code,
            "host": host,
            "type": "http"
        });
        self.post(payload.to_string().as_bytes())
    }
}

/// Builds a configuration with `rules`, the test token, and loopback as the
/// only allowed source. `max_body_bytes` is left at its default.
fn plugin_config(rules: Value) -> Value {
    json!({
        "webhook": {
            "path": WEBHOOK_PATH,
            "token": TOKEN,
            "allowed_sources": ["127.0.0.1/32"]
        },
        "max_suppression_seconds": DAY,
        "chain_gap_seconds": 0,
        "rules": rules
    })
}

fn one_off_rule(id: &str, sites: &[&str], start: i64, end: i64) -> Value {
    json!({
        "id": id,
        "sites": sites,
        "start": format_utc(start),
        "end": format_utc(end)
    })
}

/// Returns the Envoy shared by the tests in this file whose rules can coexist.
fn active() -> &'static Fixture {
    static ACTIVE: OnceLock<Fixture> = OnceLock::new();
    ACTIVE.get_or_init(|| {
        Fixture::start(|now| {
            let start = now - HOUR;
            let end = now + WINDOW_END;
            plugin_config(json!([
                one_off_rule("example-com", &["example.com"], start, end),
                {
                    "id": "exact-host",
                    "sites": ["exact.example.net"],
                    "exact_host": true,
                    "start": format_utc(start),
                    "end": format_utc(end)
                },
                {
                    "id": "whole-host",
                    "hosts": ["ExampleHost"],
                    "start": format_utc(start),
                    "end": format_utc(end)
                },
                one_off_rule("wildcard", &["*.example.org"], start, end),
                one_off_rule("multisite-blog", &["multisite.example.net/blog"], start, end),
                one_off_rule("unicode-rule", &["bücher.example"], start, end),
                one_off_rule("punycode-rule", &["xn--caf-dma.example"], start, end),
                one_off_rule("port-rule", &["ported.example.net:8443"], start, end),
                one_off_rule("https-default-port", &["https://secure.example.net:443/"], start, end),
                one_off_rule("chain-first", &["chain.example.net"], start, now + HOUR),
                {
                    "id": "chain-second",
                    "sites": ["chain.example.net"],
                    "start": format_rfc3339_offset(now + HOUR, 0),
                    "end": format_rfc3339_offset(now + 3 * HOUR, 0)
                },
                // Starts one second after chain-second ends, a gap that a
                // chain_gap_seconds of 0 does not join.
                one_off_rule("chain-after-gap", &["chain.example.net"], now + 3 * HOUR + 1, now + 5 * HOUR),
                {
                    "id": "offset-end",
                    "sites": ["offset.example.net"],
                    "start": format_rfc3339_offset(start, 120),
                    "end": format_rfc3339_offset(end, 120)
                },
                one_off_rule("long-window", &["capped.example.net"], start, now + 30 * DAY),
                {
                    "id": "dry-run-rule",
                    "sites": ["dryrun.example.net"],
                    "dry_run": true,
                    "start": format_utc(start),
                    "end": format_utc(end)
                },
                one_off_rule("expired", &["expired.example.net"], now - 2 * HOUR, now - HOUR),
                one_off_rule("future", &["future.example.net"], now + HOUR, now + 2 * HOUR)
            ]))
        })
    })
}

#[track_caller]
fn assert_answer(response: &Response, expected: &str) {
    assert_eq!(response.status, 200, "status of {response:?}");
    assert_eq!(response.text(), expected, "body of {response:?}");
}

#[test]
fn utc_format_matches_known_dates() {
    assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(format_utc(1_385_139_152), "2013-11-22T16:52:32Z");
    assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(format_utc(4_102_444_799), "2099-12-31T23:59:59Z");
    assert_eq!(format_rfc3339_offset(0, 120), "1970-01-01T02:00:00+02:00");
    assert_eq!(format_rfc3339_offset(0, -90), "1969-12-31T22:30:00-01:30");
}

#[test]
fn seed_payload_inside_window_gets_end() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.post(SEED_PAYLOAD.as_bytes());

    assert_answer(&response, &fixture.timestamp_at(WINDOW_END));
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn answers_are_plain_text_no_store() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let suppressed = fixture.post(SEED_PAYLOAD.as_bytes());
    let ok = fixture.notify("http://no-rule.example.net/", 500, "otherhost");

    for response in [&suppressed, &ok] {
        assert_eq!(response.status, 200, "status of {response:?}");
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "content-type of {response:?}"
        );
        assert_eq!(
            response.header("cache-control"),
            Some("no-store"),
            "cache-control of {response:?}"
        );
        assert!(
            !response.body.ends_with(b"\n"),
            "the body ends with a newline: {response:?}"
        );
    }
    assert_eq!(ok.text(), "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn success_codes_get_ok() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();
    let suppressed = fixture.timestamp_at(WINDOW_END);

    for code in [200, 204, 299] {
        let response = fixture.notify("http://example.com", code, "example");
        assert_eq!(response.status, 200, "status for code {code}");
        assert_eq!(response.text(), "ok", "body for code {code}");
    }
    // 0 means Monitor's check timed out: a failure like any code outside 2xx.
    for code in [0, 199, 300, 403, 500, 999] {
        let response = fixture.notify("http://example.com", code, "example");
        assert_eq!(response.status, 200, "status for code {code}");
        assert_eq!(response.text(), suppressed, "body for code {code}");
    }
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn optional_and_unknown_fields() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();
    let suppressed = fixture.timestamp_at(WINDOW_END);

    let minimal = fixture.post(br#"{"url":"http:\/\/example.com\/","code":503}"#);
    let other_type = fixture.post(br#"{"url":"http://example.com","code":503,"type":"dns"}"#);
    let extra_field =
        fixture.post(br#"{"url":"http://example.com","code":503,"region":"eu","ts":1}"#);

    assert_answer(&minimal, &suppressed);
    assert_answer(&other_type, &suppressed);
    assert_answer(&extra_field, &suppressed);
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn bare_domain_rule_covers_www() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();
    let suppressed = fixture.timestamp_at(WINDOW_END);

    let www = fixture.notify("https://www.example.com/shop", 503, "otherhost");
    let upper_case = fixture.notify("http://EXAMPLE.COM./", 503, "otherhost");
    let other_subdomain = fixture.notify("http://blog.example.com/", 503, "otherhost");

    assert_answer(&www, &suppressed);
    assert_answer(&upper_case, &suppressed);
    assert_answer(&other_subdomain, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn exact_host_rule_skips_www() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let exact = fixture.notify("http://exact.example.net/", 503, "otherhost");
    let www = fixture.notify("http://www.exact.example.net/", 503, "otherhost");

    assert_answer(&exact, &fixture.timestamp_at(WINDOW_END));
    assert_answer(&www, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn host_slug_matches_case_insensitively() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();
    let suppressed = fixture.timestamp_at(WINDOW_END);

    let lower = fixture.notify("http://unrelated.example.net/", 500, "examplehost");
    let upper = fixture.notify("http://unrelated.example.net/", 500, "EXAMPLEHOST");
    let other = fixture.notify("http://unrelated.example.net/", 500, "otherhost");

    assert_answer(&lower, &suppressed);
    assert_answer(&upper, &suppressed);
    assert_answer(&other, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn wildcard_matches_subdomains_not_apex() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();
    let suppressed = fixture.timestamp_at(WINDOW_END);

    let subdomain = fixture.notify("http://shop.example.org/", 502, "otherhost");
    let deeper = fixture.notify("https://a.b.example.org/x", 502, "otherhost");
    let apex = fixture.notify("http://example.org/", 502, "otherhost");

    assert_answer(&subdomain, &suppressed);
    assert_answer(&deeper, &suppressed);
    assert_answer(&apex, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn path_prefix_matches_whole_segments() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();
    let suppressed = fixture.timestamp_at(WINDOW_END);

    for path in ["/blog", "/blog/", "/blog/2026/post", "/blog?p=1"] {
        let url = format!("http://multisite.example.net{path}");
        let response = fixture.notify(&url, 500, "otherhost");
        assert_eq!(response.status, 200, "status for {url}");
        assert_eq!(response.text(), suppressed, "body for {url}");
    }
    for path in ["/", "/blogger", "/Blog", "/shop/blog"] {
        let url = format!("http://multisite.example.net{path}");
        let response = fixture.notify(&url, 500, "otherhost");
        assert_eq!(response.status, 200, "status for {url}");
        assert_eq!(response.text(), "ok", "body for {url}");
    }
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn unicode_rule_matches_punycode_url() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.notify("http://xn--bcher-kva.example/", 500, "otherhost");

    assert_answer(&response, &fixture.timestamp_at(WINDOW_END));
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn punycode_rule_matches_unicode_url() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.notify("http://café.example/menu", 500, "otherhost");

    assert_answer(&response, &fixture.timestamp_at(WINDOW_END));
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn port_in_rule_limits_the_match() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();
    let suppressed = fixture.timestamp_at(WINDOW_END);

    let same_port = fixture.notify("https://ported.example.net:8443/", 500, "otherhost");
    let default_port = fixture.notify("https://ported.example.net/", 500, "otherhost");
    let default_port_rule = fixture.notify("https://secure.example.net/", 500, "otherhost");
    let explicit_default = fixture.notify("https://secure.example.net:443/", 500, "otherhost");

    assert_answer(&same_port, &suppressed);
    assert_answer(&default_port, "ok");
    assert_answer(&default_port_rule, &suppressed);
    assert_answer(&explicit_default, &suppressed);
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn back_to_back_windows_chain() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.notify("http://chain.example.net/", 500, "otherhost");

    assert_answer(&response, &fixture.timestamp_at(3 * HOUR));
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn offset_end_answered_in_utc() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.notify("http://offset.example.net/", 500, "otherhost");

    assert_answer(&response, &fixture.timestamp_at(WINDOW_END));
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn long_window_capped_at_max_suppression() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let sent_at = unix_now();
    let response = fixture.notify("http://capped.example.net/", 500, "otherhost");
    // The filter caps at its own clock plus max_suppression_seconds and
    // rounds up, so the timestamp lies between these two, inclusive.
    let earliest = format_utc(sent_at + DAY);
    let latest = format_utc(unix_now() + DAY + 1);

    assert_eq!(response.status, 200, "status of {response:?}");
    let answer = response.text();
    assert!(
        answer.as_str() >= earliest.as_str(),
        "{answer} is before {earliest}"
    );
    assert!(
        answer.as_str() <= latest.as_str(),
        "{answer} is after {latest}"
    );
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn dry_run_rule_answers_ok() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let response = fixture.notify("http://dryrun.example.net/", 500, "otherhost");

    assert_answer(&response, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn inactive_windows_answer_ok() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();

    let expired = fixture.notify("http://expired.example.net/", 500, "otherhost");
    let future = fixture.notify("http://future.example.net/", 500, "otherhost");

    assert_answer(&expired, "ok");
    assert_answer(&future, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn default_body_limit_is_16384_bytes() {
    let fixture = active();
    let _log = fixture.webhook.envoy.log_on_failure();
    let payload = br#"{"url":"http://example.com","code":500}"#;
    let padded = |length: usize| {
        let mut body = payload.to_vec();
        body.resize(length, b' ');
        body
    };

    let at_limit = fixture.post(&padded(16_384));
    let over_limit = fixture.post(&padded(16_385));

    assert_answer(&at_limit, &fixture.timestamp_at(WINDOW_END));
    assert_eq!(over_limit.status, 413, "status of {over_limit:?}");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn seed_payload_outside_window_gets_ok() {
    let fixture = Fixture::start(|now| {
        plugin_config(json!([
            one_off_rule("example-com-earlier", &["example.com"], now - 3 * HOUR, now - HOUR),
            one_off_rule("example-com-later", &["example.com"], now + HOUR, now + 3 * HOUR),
            {
                "id": "example-host-later",
                "hosts": ["example"],
                "start": format_utc(now + HOUR),
                "end": format_utc(now + 3 * HOUR)
            }
        ]))
    });

    let response = fixture.post(SEED_PAYLOAD.as_bytes());

    assert_answer(&response, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn all_rule_matches_every_site() {
    let fixture = Fixture::start(|now| {
        plugin_config(json!([{
            "id": "whole-platform",
            "all": true,
            "start": format_utc(now - HOUR),
            "end": format_utc(now + WINDOW_END)
        }]))
    });
    let suppressed = fixture.timestamp_at(WINDOW_END);

    let seed = fixture.post(SEED_PAYLOAD.as_bytes());
    let other = fixture.notify("https://anything.example.test/path", 500, "anyhost");
    let recovered = fixture.notify("https://anything.example.test/path", 200, "anyhost");

    assert_answer(&seed, &suppressed);
    assert_answer(&other, &suppressed);
    assert_answer(&recovered, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}

#[test]
fn global_dry_run_answers_ok() {
    let fixture = Fixture::start(|now| {
        let mut config = plugin_config(json!([one_off_rule(
            "example-com",
            &["example.com"],
            now - HOUR,
            now + WINDOW_END
        )]));
        config["dry_run"] = json!(true);
        config
    });

    let response = fixture.post(SEED_PAYLOAD.as_bytes());

    assert_answer(&response, "ok");
    fixture.webhook.assert_webhook_never_forwarded();
}
