//! What Envoy does with the webhook when the plugin's VM fails at runtime,
//! for each `failure_policy` of the wasm filter.
//!
//! The filter itself has no known way to trap. So these tests load a small
//! proxy-wasm module in its place in the reference filter chain. The module
//! traps (executes `unreachable`) in its request-headers callback for the
//! webhook path and lets every other request continue. The webhook route is the
//! `direct_response` 503 backstop of the reference configuration, and every
//! other path goes to a counting upstream.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Value};

use common::http::{self, Response};
use common::{bootstrap, BootstrapOptions, CountingUpstream, Envoy, WebhookRoute, WEBHOOK_PATH};

const NOTIFICATION: &str = r#"{"url":"http://example.com","code":503}"#;
const BACKSTOP_BODY: &str = "maintenance responder unavailable";

/// A proxy-wasm (ABI 0.2.1) module whose request-headers callback reads
/// `:path` and traps when it starts with the webhook path. Memory is a bump
/// allocator that restarts at every request, because nothing the host
/// allocates outlives the callback that asked for it.
const TRAPPING_MODULE: &str = r#"
(module
  (import "env" "proxy_get_header_map_value"
    (func $get_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $next_free (mut i32) (i32.const 4096))
  ;; 0..8: the value pointer and length that the host writes.
  (data (i32.const 16) ":path")
  (data (i32.const 32) "/jetpack/monitor")

  (func (export "proxy_abi_version_0_2_1"))

  (func (export "malloc") (param $size i32) (result i32)
    (local $start i32)
    (local.set $start (global.get $next_free))
    (global.set $next_free (i32.add (local.get $start) (local.get $size)))
    (local.get $start))

  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))

  ;; Returns 1 when the `length` bytes at `start` begin with the 16 bytes of
  ;; the webhook path at offset 32.
  (func $is_webhook (param $start i32) (param $length i32) (result i32)
    (local $index i32)
    (if (i32.lt_u (local.get $length) (i32.const 16)) (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.eq (local.get $index) (i32.const 16)))
        (if (i32.ne
              (i32.load8_u (i32.add (local.get $start) (local.get $index)))
              (i32.load8_u (i32.add (i32.const 32) (local.get $index))))
          (then (return (i32.const 0))))
        (local.set $index (i32.add (local.get $index) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (global.set $next_free (i32.const 4096))
    ;; Map type 0 is the request headers.
    (drop (call $get_header_map_value
      (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 0) (i32.const 4)))
    (if (call $is_webhook (i32.load (i32.const 0)) (i32.load (i32.const 4)))
      (then unreachable))
    ;; 0 is Action::Continue.
    (i32.const 0))
)
"#;

/// Writes the trapping module once per test process and returns its path.
fn trapping_module() -> &'static PathBuf {
    static MODULE: OnceLock<PathBuf> = OnceLock::new();
    MODULE.get_or_init(|| {
        let binary = wat::parse_str(TRAPPING_MODULE).expect("the trapping module is valid WAT");
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("trapping-{}.wasm", std::process::id()));
        fs::write(&path, binary).expect("write the trapping module");
        path
    })
}

/// Envoy with the reference filter chain and routes, with the trapping
/// module in place of the filter.
struct TrappingEnvoy {
    envoy: Envoy,
    upstream: CountingUpstream,
}

impl TrappingEnvoy {
    /// Starts Envoy with `failure_policy` set, or with Envoy's default when
    /// it is `None`.
    fn start(failure_policy: Option<&str>) -> TrappingEnvoy {
        let upstream = CountingUpstream::start();
        let plugin_config = json!({ "webhook": { "path": WEBHOOK_PATH } });
        let mut bootstrap = bootstrap(&BootstrapOptions {
            plugin_config: &plugin_config,
            webhook_route: WebhookRoute::Backstop,
            other_port: upstream.port(),
            buffer_filter: true,
        });

        let config = &mut bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]
            ["filters"][0]["typed_config"]["http_filters"][0]["typed_config"]["config"];
        config["vm_config"]["code"]["local"]["filename"] =
            Value::from(trapping_module().to_string_lossy().into_owned());
        if let Some(policy) = failure_policy {
            config["failure_policy"] = Value::from(policy);
        }

        let envoy = Envoy::start(&bootstrap);
        TrappingEnvoy { envoy, upstream }
    }

    fn post_webhook(&self) -> Response {
        let request = http::request_bytes("POST", WEBHOOK_PATH, &[], NOTIFICATION.as_bytes());
        http::exchange(self.envoy.port(), &request).unwrap()
    }

    fn get_other(&self) -> Response {
        let request = http::request_bytes("GET", "/other", &[], b"");
        http::exchange(self.envoy.port(), &request).unwrap()
    }

    fn vm_stat(&self, name: &str) -> u64 {
        self.envoy
            .stat(&format!("wasm.downtime_responder.{name}"))
            .unwrap_or_else(|| panic!("no stat wasm.downtime_responder.{name}"))
    }

    #[track_caller]
    fn assert_trapped(&self) {
        let log = self.envoy.log();
        assert!(
            log.contains("Uncaught RuntimeError: unreachable"),
            "the log shows no trap of the module"
        );
    }
}

#[track_caller]
fn assert_failed_stream(response: &Response, case: &str) {
    assert_eq!(response.status, 503, "{case}: {response:?}");
    assert_eq!(response.text(), "", "{case}: {response:?}");
}

#[track_caller]
fn assert_backstop(response: &Response, case: &str) {
    assert_eq!(response.status, 503, "{case}: {response:?}");
    assert_eq!(response.text(), BACKSTOP_BODY, "{case}: {response:?}");
}

#[track_caller]
fn assert_upstream(response: &Response, case: &str) {
    assert_eq!(response.status, 200, "{case}: {response:?}");
    assert_eq!(response.text(), "upstream", "{case}: {response:?}");
}

#[test]
fn fail_closed_stops_all_traffic() {
    // Envoy's default policy (none set) is FAIL_CLOSED.
    for policy in [None, Some("FAIL_CLOSED")] {
        let trapping = TrappingEnvoy::start(policy);
        let _log = trapping.envoy.log_on_failure();
        let case = format!("failure_policy {policy:?}");

        let before = trapping.get_other();
        let trapped = trapping.post_webhook();
        let other_after = trapping.get_other();
        let webhook_after = trapping.post_webhook();

        assert_upstream(&before, &format!("{case}, other path before the trap"));
        assert_failed_stream(&trapped, &format!("{case}, the trapping webhook"));
        trapping.assert_trapped();
        // The failed VM takes every request on the listener down with it,
        // because every request passes through the filter.
        assert_failed_stream(&other_after, &format!("{case}, other path after the trap"));
        assert_failed_stream(&webhook_after, &format!("{case}, webhook after the trap"));
        assert_eq!(
            trapping.upstream.connections(),
            1,
            "{case}: only the request before the trap may reach the upstream"
        );
    }
}

#[test]
fn fail_open_skips_to_backstop() {
    let trapping = TrappingEnvoy::start(Some("FAIL_OPEN"));
    let _log = trapping.envoy.log_on_failure();

    let trapped = trapping.post_webhook();
    let other_after = trapping.get_other();
    let webhook_after = trapping.post_webhook();

    assert_failed_stream(&trapped, "the trapping webhook");
    trapping.assert_trapped();
    assert_upstream(&other_after, "other path after the trap");
    // The filter is skipped from now on, so the route decides: the webhook
    // route is the direct_response backstop, never an upstream.
    assert_backstop(&webhook_after, "webhook after the trap");
    assert_eq!(
        trapping.upstream.connections(),
        1,
        "only the request to the other path may reach the upstream"
    );
}

#[test]
fn fail_reload_starts_new_vm() {
    let trapping = TrappingEnvoy::start(Some("FAIL_RELOAD"));
    let _log = trapping.envoy.log_on_failure();

    let trapped = trapping.post_webhook();
    assert_failed_stream(&trapped, "the trapping webhook");
    trapping.assert_trapped();

    // Until the reload backoff (1 s base by default) has passed, requests
    // fail as with FAIL_CLOSED. The first request after it gets a new VM.
    let mut recovered = None;
    for _ in 0..40 {
        let response = trapping.get_other();
        if response.status == 200 {
            recovered = Some(response);
            break;
        }
        assert_failed_stream(&response, "other path during the reload backoff");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let recovered = recovered.expect("no request got through a reloaded VM within 10 s");
    assert_upstream(&recovered, "other path after the reload");
    assert!(
        trapping.vm_stat("vm_reload_success") >= 1,
        "wasm.downtime_responder.vm_reload_success did not count the reload"
    );

    // The new VM runs the same module, so the webhook traps it again.
    let webhook_after = trapping.post_webhook();
    assert_failed_stream(&webhook_after, "webhook on the reloaded VM");
    let traps = trapping
        .envoy
        .log()
        .matches("Uncaught RuntimeError: unreachable")
        .count();
    assert_eq!(traps, 2, "traps logged");
    assert_eq!(
        trapping.upstream.connections(),
        1,
        "only the request to the other path after the reload may reach the upstream"
    );
}
