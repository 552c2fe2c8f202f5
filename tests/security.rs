//! The webhook's defences inside a real Envoy: the token check, the source
//! address check for IPv4 and IPv6, how X-Forwarded-For is trusted, the rate
//! limit of the reference configuration, and a log free of the token.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use serde_json::{json, Value};

use common::http::{self, Response};
use common::launch::{exchange_at, LaunchOptions, ReferenceConfig, ReferenceEnvoy};
use common::{bootstrap, BootstrapOptions, CountingUpstream, Envoy, WebhookRoute, WEBHOOK_PATH};

/// Distinctive enough that finding it in a log can only mean a leak.
const TOKEN: &str = "Tok3n-5ecurity-7e5t";
const NOTIFICATION: &str = r#"{"url":"http:\/\/example.com","code":503,"host":"examplehost"}"#;

/// Returns the example rules of the reference configuration with another
/// token and allowed sources.
fn example_plugin_config(allowed_sources: &[&str]) -> Value {
    let path = common::repo_root().join("envoy/rules.example.json");
    let mut config: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    config["webhook"]["token"] = Value::from(TOKEN);
    config["webhook"]["allowed_sources"] = json!(allowed_sources);
    config
}

fn post(port: u16, target: &str, headers: &[(&str, &str)]) -> Response {
    let request = http::request_bytes("POST", target, headers, NOTIFICATION.as_bytes());
    http::exchange(port, &request).unwrap()
}

fn webhook_target() -> String {
    format!("{WEBHOOK_PATH}?token={TOKEN}")
}

#[track_caller]
fn assert_answered(response: &Response, case: &str) {
    assert_eq!(response.status, 200, "{case}: {response:?}");
    assert_eq!(response.text(), "ok", "{case}: {response:?}");
}

#[track_caller]
fn assert_forbidden(response: &Response, case: &str) {
    assert_eq!(response.status, 403, "{case}: {response:?}");
    assert_eq!(response.text(), "forbidden", "{case}: {response:?}");
}

#[test]
fn token_variants_rejected_and_never_logged() {
    // Envoy's own info lines and the access log are both on, as an operator
    // would run it.
    let reference = ReferenceEnvoy::start(
        ReferenceConfig::load().with_plugin_config(&example_plugin_config(&["127.0.0.1/32"])),
        &LaunchOptions {
            log_level: "info",
            ..LaunchOptions::default()
        },
    );
    let _log = reference.envoy.log_on_failure();
    let port = reference.port();
    let upper = TOKEN.to_uppercase();
    let lower = TOKEN.to_lowercase();
    let rejected_queries = [
        String::new(),
        "token=".to_string(),
        format!("token={upper}"),
        format!("token={lower}"),
        format!("token=%20{TOKEN}"),
        format!("token={TOKEN}%20"),
        format!("token=+{TOKEN}"),
        format!("token={TOKEN}+"),
        format!("token={TOKEN}%00"),
        format!("token={TOKEN}%0A"),
        format!("token={TOKEN}="),
        format!("token=%22{TOKEN}%22"),
        format!("token={}", &TOKEN[..TOKEN.len() - 1]),
        format!("token={TOKEN}&token={TOKEN}"),
        format!("token=wrong&token={TOKEN}"),
        format!("token={TOKEN}&token=wrong"),
        format!("Token={TOKEN}"),
        format!("token[]={TOKEN}"),
        format!("x-token={TOKEN}"),
    ];

    for query in &rejected_queries {
        let response = post(port, &format!("{WEBHOOK_PATH}?{query}"), &[]);
        assert_forbidden(&response, &format!("query {query:?}"));
    }
    let in_header = post(
        port,
        WEBHOOK_PATH,
        &[("authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_forbidden(&in_header, "the token in an authorization header");
    let accepted = post(port, &webhook_target(), &[]);
    assert_answered(&accepted, "the token exactly");
    // Percent-encoding is undone before the comparison.
    let encoded = post(
        port,
        &format!("{WEBHOOK_PATH}?a=1&token=Tok3n%2D5ecurity%2D7e5t"),
        &[],
    );
    assert_answered(
        &encoded,
        "the token percent-encoded after another parameter",
    );

    let requests = rejected_queries.len() + 3;
    let access_lines = reference
        .envoy
        .wait_for_log_lines(&format!("\"POST {WEBHOOK_PATH}"), requests);
    assert_eq!(
        access_lines.len(),
        requests,
        "access log lines: {access_lines:#?}"
    );
    let log = reference.envoy.log().to_lowercase();
    assert!(
        !log.contains(&lower),
        "the token, in some letter case, appears in Envoy's log"
    );
    assert!(
        !log.contains("tok3n%2d5ecurity"),
        "the percent-encoded token appears in Envoy's log"
    );
    assert_eq!(
        reference.backend.connections(),
        0,
        "a webhook reached the backend"
    );
}

/// Starts an Envoy with `allowed_sources` and listeners on 127.0.0.1 and
/// [::1], and returns it with the address of each listener.
fn start_dual_stack(allowed_sources: &[&str]) -> (Envoy, CountingUpstream, SocketAddr, SocketAddr) {
    let upstream = CountingUpstream::start();
    let plugin_config = json!({
        "webhook": { "path": WEBHOOK_PATH, "token": TOKEN, "allowed_sources": allowed_sources }
    });
    let mut bootstrap = bootstrap(&BootstrapOptions {
        plugin_config: &plugin_config,
        webhook_route: WebhookRoute::Backstop,
        other_port: upstream.port(),
        buffer_filter: true,
    });
    let mut ipv6_listener = bootstrap["static_resources"]["listeners"][0].clone();
    ipv6_listener["name"] = Value::from("webhook_listener_ipv6");
    ipv6_listener["address"] = json!({ "socket_address": { "address": "::1", "port_value": 0 } });
    bootstrap["static_resources"]["listeners"]
        .as_array_mut()
        .unwrap()
        .push(ipv6_listener);

    let envoy = Envoy::start(&bootstrap);
    let ipv4 = SocketAddr::from(([127, 0, 0, 1], envoy.port()));
    let ipv6 = SocketAddr::new(
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        envoy.listener_port("webhook_listener_ipv6"),
    );
    (envoy, upstream, ipv4, ipv6)
}

fn post_to(address: SocketAddr) -> Response {
    let request = http::request_bytes("POST", &webhook_target(), &[], NOTIFICATION.as_bytes());
    exchange_at(address, &request).unwrap()
}

#[test]
fn ipv6_block_admits_only_ipv6() {
    // ::1 is inside the IPv6 block, and 127.0.0.1 is outside the IPv4 one.
    let (envoy, upstream, ipv4, ipv6) = start_dual_stack(&["127.0.0.2/32", "::1/128"]);
    let _log = envoy.log_on_failure();

    let from_ipv6 = post_to(ipv6);
    let from_ipv4 = post_to(ipv4);

    assert_answered(&from_ipv6, "from ::1 with ::1/128 allowed");
    assert_forbidden(&from_ipv4, "from 127.0.0.1 with only 127.0.0.2/32 allowed");
    assert_eq!(upstream.connections(), 0, "a webhook reached an upstream");
}

#[test]
fn ipv4_block_admits_only_ipv4() {
    // 127.0.0.1 is inside the IPv4 block, and ::1 is outside ::2/127.
    let (envoy, upstream, ipv4, ipv6) = start_dual_stack(&["127.0.0.0/8", "::2/127"]);
    let _log = envoy.log_on_failure();

    let from_ipv4 = post_to(ipv4);
    let from_ipv6 = post_to(ipv6);

    assert_answered(&from_ipv4, "from 127.0.0.1 with 127.0.0.0/8 allowed");
    assert_forbidden(&from_ipv6, "from ::1 with only ::2/127 allowed");
    assert_eq!(upstream.connections(), 0, "a webhook reached an upstream");
}

/// Starts `config` with allowed_sources set to a documentation block that
/// the test client (127.0.0.1) is outside of.
fn reference_behind(config: ReferenceConfig) -> ReferenceEnvoy {
    let config = config.with_plugin_config(&example_plugin_config(&["192.0.2.0/24"]));
    ReferenceEnvoy::start(config, &LaunchOptions::default())
}

#[test]
fn forwarded_for_cannot_spoof_source() {
    let reference = reference_behind(ReferenceConfig::load());
    let _log = reference.envoy.log_on_failure();
    let port = reference.port();

    let spoofed = post(port, &webhook_target(), &[("x-forwarded-for", "192.0.2.7")]);
    let plain = post(port, &webhook_target(), &[]);

    assert_forbidden(&spoofed, "X-Forwarded-For naming an allowed address");
    assert_forbidden(&plain, "no X-Forwarded-For");
}

#[test]
fn trusted_hop_gives_client_address() {
    // One trusted proxy in front of Envoy: the address it appended, the last
    // X-Forwarded-For entry, is the client.
    let config =
        ReferenceConfig::load().replace("xff_num_trusted_hops: 0", "xff_num_trusted_hops: 1");
    let reference = reference_behind(config);
    let _log = reference.envoy.log_on_failure();
    let port = reference.port();

    let allowed = post(port, &webhook_target(), &[("x-forwarded-for", "192.0.2.7")]);
    let forged_earlier = post(
        port,
        &webhook_target(),
        &[("x-forwarded-for", "192.0.2.7, 198.51.100.1")],
    );
    let without_header = post(port, &webhook_target(), &[]);

    assert_answered(&allowed, "last X-Forwarded-For entry inside the block");
    assert_forbidden(
        &forged_earlier,
        "an allowed address before the trusted entry",
    );
    assert_forbidden(&without_header, "no X-Forwarded-For, so the TCP peer");
}

#[test]
fn without_remote_address_spoof_works() {
    // The control experiment for the two tests above: with Envoy's default,
    // use_remote_address false, a client picks its own address.
    let config =
        ReferenceConfig::load().replace("use_remote_address: true", "use_remote_address: false");
    let reference = reference_behind(config);
    let _log = reference.envoy.log_on_failure();

    let spoofed = post(
        reference.port(),
        &webhook_target(),
        &[("x-forwarded-for", "192.0.2.7")],
    );

    assert_answered(&spoofed, "X-Forwarded-For with use_remote_address false");
}

#[test]
fn rate_limit_covers_webhook_only() {
    // The reference bucket, shrunk to three requests an hour, so the test
    // needs few requests and no refill can happen while it runs.
    let config = ReferenceConfig::load()
        .replace("max_tokens: 200", "max_tokens: 3")
        .replace("tokens_per_fill: 50", "tokens_per_fill: 3")
        .replace("fill_interval: 1s", "fill_interval: 3600s")
        .with_plugin_config(&example_plugin_config(&["127.0.0.1/32"]));
    // Two workers share the bucket.
    let reference = ReferenceEnvoy::start(
        config,
        &LaunchOptions {
            concurrency: 2,
            ..LaunchOptions::default()
        },
    );
    let _log = reference.envoy.log_on_failure();
    let port = reference.port();

    let within: Vec<Response> = (0..3).map(|_| post(port, &webhook_target(), &[])).collect();
    let beyond = post(port, &webhook_target(), &[]);
    let others: Vec<Response> = (0..5)
        .map(|_| http::exchange(port, &http::request_bytes("GET", "/other", &[], b"")).unwrap())
        .collect();

    for (index, response) in within.iter().enumerate() {
        assert_answered(response, &format!("webhook request {} of 3", index + 1));
    }
    assert_eq!(beyond.status, 429, "the fourth webhook request: {beyond:?}");
    assert_eq!(beyond.text(), "local_rate_limited", "{beyond:?}");
    for response in &others {
        assert_eq!(
            response.status, 200,
            "other path after the bucket ran out: {response:?}"
        );
    }
    assert_eq!(
        reference.backend.connections(),
        others.len(),
        "only the requests to the other path may reach the backend"
    );
    let limited_lines = reference.envoy.wait_for_log_lines("\" 429 source=", 1);
    assert_eq!(
        limited_lines.len(),
        1,
        "access log lines for the 429: {limited_lines:#?}"
    );
    assert!(
        limited_lines[0].contains("outcome=- rules=- details=local_rate_limited "),
        "the access log line of the 429: {}",
        limited_lines[0]
    );
}

#[test]
fn body_fields_cannot_forge_log_lines() {
    let reference = ReferenceEnvoy::start(
        ReferenceConfig::load().with_plugin_config(&example_plugin_config(&["127.0.0.1/32"])),
        &LaunchOptions {
            log_level: "info",
            ..LaunchOptions::default()
        },
    );
    let _log = reference.envoy.log_on_failure();
    let body = r#"{"url":"http://example.com","code":500,"host":"a\n[2026-12-04 20:00:00.000][1][critical][main] forged line","type":"x\u001b[31mred"}"#;
    let request = http::request_bytes("POST", &webhook_target(), &[], body.as_bytes());
    let response = http::exchange(reference.port(), &request).unwrap();
    assert_answered(&response, "a notification with control characters");

    let lines = reference
        .envoy
        .wait_for_log_lines("notification url=http://example.com/", 1);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let log = reference.envoy.log();
    assert!(lines[0].contains(r"host=a\n[2026-12-04"), "{}", lines[0]);
    assert!(lines[0].contains(r"type=x\u{1b}[31mred"), "{}", lines[0]);
    assert!(
        !log.lines()
            .any(|line| line.starts_with("[2026-12-04 20:00:00.000][1][critical]")),
        "a forged line appears in Envoy's log"
    );
    assert!(
        !log.contains('\u{1b}'),
        "an escape character reached Envoy's log"
    );
}
