//! The reference Envoy configuration, and how Envoy treats a plugin
//! configuration that the filter rejects.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;

use serde_json::{json, Value};

use common::{bootstrap, BootstrapOptions, CountingUpstream, Envoy, WebhookRoute};

/// Returns the text of the one YAML literal block (`value: |`) in
/// envoy/envoy.yaml, which holds the plugin configuration.
fn inline_plugin_configuration(yaml: &str) -> String {
    let marker_count = yaml
        .lines()
        .filter(|line| line.trim() == "value: |")
        .count();
    assert_eq!(
        marker_count, 1,
        "envoy/envoy.yaml should hold exactly one `value: |` block, the plugin configuration"
    );

    let indentation = |line: &str| line.len() - line.trim_start().len();
    let mut lines = yaml.lines();
    let marker_indentation = lines
        .by_ref()
        .find(|line| line.trim() == "value: |")
        .map(indentation)
        .unwrap();
    let block: Vec<&str> = lines
        .take_while(|line| line.trim().is_empty() || indentation(line) > marker_indentation)
        .collect();
    block.join("\n")
}

#[test]
fn inline_rules_match_example_file() {
    let root = common::repo_root();
    let yaml = fs::read_to_string(root.join("envoy/envoy.yaml")).unwrap();
    let example = fs::read_to_string(root.join("envoy/rules.example.json")).unwrap();

    let inline: Value = serde_json::from_str(&inline_plugin_configuration(&yaml))
        .expect("the plugin configuration in envoy/envoy.yaml is valid JSON");
    let example: Value =
        serde_json::from_str(&example).expect("envoy/rules.example.json is valid JSON");

    assert_eq!(
        inline, example,
        "the plugin configuration in envoy/envoy.yaml differs from envoy/rules.example.json"
    );
}

#[test]
fn reference_config_passes_envoy_validate() {
    common::assert_envoy_validates("envoy/envoy.yaml");
}

/// Starts Envoy with `plugin_config` and returns its log, asserting that
/// Envoy refused to start.
fn rejected_startup_log(plugin_config: &Value) -> String {
    let upstream = CountingUpstream::start();
    let failed = Envoy::start_expecting_failure(&bootstrap(&BootstrapOptions {
        plugin_config,
        webhook_route: WebhookRoute::Backstop,
        other_port: upstream.port(),
        buffer_filter: true,
    }));

    assert!(
        !failed.status.success(),
        "Envoy exited successfully with a configuration the filter should reject:\n{}",
        failed.log
    );
    failed.log
}

#[test]
fn end_before_start_stops_envoy() {
    let plugin_config = json!({
        "webhook": { "path": "/jetpack/monitor" },
        "rules": [{
            "id": "backwards",
            "sites": ["example.com"],
            "start": "2026-12-05T03:00:00Z",
            "end": "2026-12-05T01:00:00Z"
        }]
    });

    let log = rejected_startup_log(&plugin_config);

    assert!(
        log.contains("rules[0].end"),
        "the log does not name the JSON path rules[0].end:\n{log}"
    );
}

#[test]
fn unknown_field_stops_envoy() {
    let plugin_config = json!({
        "webhook": { "path": "/jetpack/monitor", "tokne": "typo" }
    });

    let log = rejected_startup_log(&plugin_config);

    assert!(
        log.contains("tokne"),
        "the log does not name the unknown field `tokne`:\n{log}"
    );
}

#[test]
fn missing_webhook_path_stops_envoy() {
    let plugin_config = json!({ "webhook": { "token": "secret-token-value" } });

    let log = rejected_startup_log(&plugin_config);

    assert!(
        log.contains("path"),
        "the log does not name the missing field webhook.path:\n{log}"
    );
    assert!(
        !log.contains("secret-token-value"),
        "the log contains the webhook token"
    );
}

#[test]
fn rule_without_target_stops_envoy() {
    let plugin_config = json!({
        "webhook": { "path": "/jetpack/monitor" },
        "rules": [{
            "id": "matches-nothing",
            "start": "2026-12-05T01:00:00Z",
            "end": "2026-12-05T03:00:00Z"
        }]
    });

    let log = rejected_startup_log(&plugin_config);

    assert!(
        log.contains("rules[0]"),
        "the log does not name the rule at rules[0]:\n{log}"
    );
}
