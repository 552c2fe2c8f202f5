//! The Istio deployment kit. The manifests in envoy/istio/ are checked against
//! Istio's CRD schemas and their plugin configuration against the operator
//! CLI. The OCI image that scripts/package-oci.sh builds goes through a real
//! registry on loopback, and the Envoy configuration that Istio generates from
//! the manifests runs in a real Envoy.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use flate2::read::GzDecoder;
use serde_json::Value;
use sha2::{Digest, Sha256};

use common::http::{self, Response};
use common::istio::{
    crd_file, crd_json_schema, manifest_of_kind, manifests, plugin_configuration_text,
    unique_work_dir, wasm_filter_name, IstioGateway, PluginDelivery, AUTHORIZED_HEADER,
};
use common::registry::Registry;
use common::time::format_utc;
use common::{unix_now, wasm_module, WEBHOOK_PATH};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REPOSITORY: &str = "platform/downtime-responder";

// ---------------------------------------------------------------------------
// Manifests

#[test]
fn manifests_match_crd_schemas() {
    let crd_path = match crd_file() {
        Ok(path) => path,
        Err(missing) => {
            eprintln!(
                "skipped: the Istio CRD file {} is absent, so the manifests were not \
                 validated against the CRD schemas (set ISTIO_CRDS to the file's path)",
                missing.display()
            );
            return;
        }
    };

    let manifests = manifests();
    assert!(!manifests.is_empty(), "envoy/istio/ holds no manifest");
    for manifest in &manifests {
        let document = &manifest.document;
        let api_version = document["apiVersion"].as_str().unwrap_or_default();
        let kind = document["kind"].as_str().unwrap_or_default();
        let schema = crd_json_schema(&crd_path, api_version, kind);
        assert!(
            schema.is_some(),
            "{}: no CRD for {kind} in {api_version} in {}",
            manifest.file,
            crd_path.display()
        );

        let validator = jsonschema::draft4::new(&schema.unwrap()).expect("the schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(document)
            .map(|error| format!("{}: {error}", error.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {kind} does not match the CRD schema:\n{}",
            manifest.file,
            errors.join("\n")
        );
    }
}

#[test]
fn schema_rejects_unknown_field() {
    let Ok(crd_path) = crd_file() else {
        eprintln!("skipped: the Istio CRD file is absent (set ISTIO_CRDS to its path)");
        return;
    };
    let mut wasm_plugin = manifest_of_kind("WasmPlugin");
    let schema = crd_json_schema(&crd_path, "extensions.istio.io/v1alpha1", "WasmPlugin").unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    assert!(
        validator.is_valid(&wasm_plugin),
        "the shipped WasmPlugin is valid"
    );

    wasm_plugin["spec"]["failstrategy"] = Value::from("FAIL_OPEN");
    assert!(
        !validator.is_valid(&wasm_plugin),
        "a misspelt field is rejected, as kubectl's strict field validation does"
    );

    let mut wasm_plugin = manifest_of_kind("WasmPlugin");
    wasm_plugin["spec"]["phase"] = Value::from("AUTHENTICATION");
    assert!(
        !validator.is_valid(&wasm_plugin),
        "a value outside an enum is rejected"
    );
}

#[test]
fn manifests_are_plugin_and_filter() {
    let kinds: Vec<String> = manifests()
        .iter()
        .map(|manifest| {
            manifest.document["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(kinds.iter().filter(|kind| *kind == "WasmPlugin").count(), 1);
    assert_eq!(
        kinds.iter().filter(|kind| *kind == "EnvoyFilter").count(),
        1
    );
    assert_eq!(kinds.len(), 2, "unexpected manifests: {kinds:?}");
}

#[test]
fn wasm_plugin_targets_gateway() {
    let wasm_plugin = manifest_of_kind("WasmPlugin");
    let spec = &wasm_plugin["spec"];

    assert_eq!(spec["selector"]["matchLabels"]["istio"], "ingressgateway");
    assert!(
        spec["targetRefs"].is_null() && spec["targetRef"].is_null(),
        "only one of selector and targetRefs may be set"
    );
    // Istio classes gateway listeners as CLIENT; SERVER would never match one.
    assert_eq!(spec["match"][0]["mode"], "CLIENT");
    assert_eq!(spec["match"].as_array().map(Vec::len), Some(1));
    assert_eq!(spec["phase"], "AUTHN");
    assert_eq!(spec["failStrategy"], "FAIL_OPEN");
    assert_eq!(spec["pluginName"], "downtime_responder");
    assert_eq!(spec["type"], "HTTP");

    let url = spec["url"].as_str().unwrap_or_default();
    assert!(url.starts_with("oci://"), "url {url} is not an OCI image");
    assert!(
        url.ends_with(&format!(
            "/downtime-responder:{}",
            env!("CARGO_PKG_VERSION")
        )),
        "url {url} does not name the image of version {}",
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn envoy_filter_follows_plugin() {
    let wasm_plugin = manifest_of_kind("WasmPlugin");
    let envoy_filter = manifest_of_kind("EnvoyFilter");
    let patches = envoy_filter["spec"]["configPatches"].as_array().unwrap();
    let plugin_config: Value =
        serde_json::from_str(&plugin_configuration_text(&wasm_plugin)).unwrap();

    assert_eq!(
        envoy_filter["spec"]["workloadSelector"]["labels"],
        wasm_plugin["spec"]["selector"]["matchLabels"],
        "the EnvoyFilter selects other workloads than the WasmPlugin"
    );
    assert_eq!(
        envoy_filter["metadata"]["namespace"],
        wasm_plugin["metadata"]["namespace"]
    );

    let buffer_patch = patches
        .iter()
        .find(|patch| patch["applyTo"] == "HTTP_FILTER")
        .expect("an HTTP_FILTER patch");
    assert_eq!(
        buffer_patch["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"],
        wasm_filter_name(&wasm_plugin).as_str(),
        "the buffer filter is not placed after the plugin's filter"
    );
    assert_eq!(buffer_patch["patch"]["operation"], "INSERT_AFTER");
    assert_eq!(
        buffer_patch["patch"]["value"]["name"],
        "envoy.filters.http.buffer"
    );

    let route_patch = patches
        .iter()
        .find(|patch| patch["applyTo"] == "HTTP_ROUTE")
        .expect("an HTTP_ROUTE patch");
    let route = &route_patch["patch"]["value"];
    assert_eq!(route_patch["patch"]["operation"], "INSERT_FIRST");
    assert_eq!(
        route["match"]["path"], plugin_config["webhook"]["path"],
        "the backstop route and webhook.path name different paths"
    );
    assert_eq!(route["direct_response"]["status"], 503);
    assert_eq!(
        route["direct_response"]["body"]["inline_string"],
        "maintenance responder unavailable"
    );
}

// ---------------------------------------------------------------------------
// Plugin configuration

fn check_configuration(text: &str) -> Output {
    let directory = unique_work_dir();
    let path = directory.join("plugin-config.json");
    fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_downtime-responder"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("the CLI runs");
    fs::remove_dir_all(&directory).unwrap();
    output
}

#[test]
fn plugin_config_passes_check() {
    let wasm_plugin = manifest_of_kind("WasmPlugin");
    let output = check_configuration(&plugin_configuration_text(&wasm_plugin));
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert!(
        output.status.success(),
        "downtime-responder check rejected the WasmPlugin's pluginConfig:\n{}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("valid, 4 rules"),
        "unexpected output: {stdout}"
    );
}

#[test]
fn broken_plugin_config_fails_check() {
    let wasm_plugin = manifest_of_kind("WasmPlugin");
    let mut plugin_config: Value =
        serde_json::from_str(&plugin_configuration_text(&wasm_plugin)).unwrap();
    plugin_config["rules"][3]["end"] = Value::from("2025-01-01T00:00:00Z");

    let output = check_configuration(&plugin_config.to_string());
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("rules[3].end"),
        "unexpected errors: {stderr}"
    );
}

#[test]
fn plugin_config_matches_example() {
    let wasm_plugin = manifest_of_kind("WasmPlugin");
    let mut plugin_config: Value =
        serde_json::from_str(&plugin_configuration_text(&wasm_plugin)).unwrap();
    let example_text =
        fs::read_to_string(common::repo_root().join("envoy/rules.example.json")).unwrap();
    let mut example: Value = serde_json::from_str(&example_text).unwrap();

    // The example restricts sources to loopback for the local Envoy. The
    // WasmPlugin leaves allowed_sources to the gateway's operator.
    assert!(plugin_config["webhook"]["allowed_sources"].is_null());
    example["webhook"]
        .as_object_mut()
        .unwrap()
        .remove("allowed_sources");
    plugin_config["webhook"]
        .as_object_mut()
        .unwrap()
        .remove("allowed_sources");

    assert_eq!(plugin_config["rules"], example["rules"], "the rules differ");
    assert_eq!(plugin_config, example, "the other settings differ");
}

// ---------------------------------------------------------------------------
// OCI image

fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// Runs scripts/package-oci.sh and returns the digest it printed.
fn package(module: &Path, destination: &str, digest_file: &Path) -> String {
    let output = Command::new(common::repo_root().join("scripts/package-oci.sh"))
        .arg("--wasm")
        .arg(module)
        .arg("--tls-verify=false")
        .arg("--digest-file")
        .arg(digest_file)
        .arg(destination)
        .output()
        .expect("scripts/package-oci.sh runs");
    assert!(
        output.status.success(),
        "scripts/package-oci.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn read_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    fs::read(layout.join("blobs/sha256").join(hex)).expect("the blob is in the layout")
}

#[test]
fn oci_image_round_trip() {
    let module = wasm_module();
    let module_bytes = fs::read(&module).unwrap();
    let registry = Registry::start();
    let work_dir = unique_work_dir();
    let reference = format!("{}/{REPOSITORY}", registry.address());

    // Push.
    let digest_file = work_dir.join("digest");
    let digest = package(&module, &format!("docker://{reference}:test"), &digest_file);
    assert!(digest.starts_with("sha256:"), "unexpected digest {digest}");
    assert_eq!(fs::read_to_string(&digest_file).unwrap().trim(), digest);

    // The registry serves the manifest under that digest.
    let manifest_response = registry
        .get(
            &format!("/v2/{REPOSITORY}/manifests/test"),
            &[("accept", OCI_MANIFEST)],
        )
        .unwrap();
    assert_eq!(manifest_response.status, 200);
    assert_eq!(manifest_response.header("content-type"), Some(OCI_MANIFEST));
    assert_eq!(
        manifest_response.header("docker-content-digest"),
        Some(digest.as_str())
    );
    assert_eq!(sha256_digest(&manifest_response.body), digest);

    // Pull it back into an OCI layout with a standard client.
    let layout = work_dir.join("pulled");
    let pull = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--preserve-digests",
        ])
        .arg(format!("docker://{reference}:test"))
        .arg(format!("oci:{}:pulled", layout.display()))
        .output()
        .expect("skopeo runs; install it with scripts/setup-istio-tools.sh");
    assert!(
        pull.status.success(),
        "skopeo copy failed:\n{}",
        String::from_utf8_lossy(&pull.stderr)
    );

    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    assert_eq!(index["manifests"][0]["mediaType"], OCI_MANIFEST);

    let manifest_bytes = read_blob(&layout, &digest);
    assert_eq!(sha256_digest(&manifest_bytes), digest);
    assert_eq!(manifest_bytes, manifest_response.body);
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();

    // The compat variant of the Wasm OCI image specification.
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"],
        "compat"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "the compat variant has exactly one layer");
    let layer = &layers[0];
    assert_eq!(layer["mediaType"], OCI_GZIP_LAYER);

    // Each blob matches its descriptor.
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config_bytes = read_blob(&layout, config_digest);
    assert_eq!(sha256_digest(&config_bytes), config_digest);
    assert_eq!(manifest["config"]["size"], config_bytes.len());

    let layer_digest = layer["digest"].as_str().unwrap();
    let layer_bytes = read_blob(&layout, layer_digest);
    assert_eq!(sha256_digest(&layer_bytes), layer_digest);
    assert_eq!(layer["size"], layer_bytes.len());

    let mut layer_tar = Vec::new();
    GzDecoder::new(layer_bytes.as_slice())
        .read_to_end(&mut layer_tar)
        .expect("the layer is gzip");
    let config: Value = serde_json::from_slice(&config_bytes).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        sha256_digest(&layer_tar).as_str()
    );

    // The layer contains plugin.wasm and nothing else, byte for byte the build.
    let mut archive = tar::Archive::new(layer_tar.as_slice());
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        entries.push((path, contents));
    }
    let paths: Vec<&str> = entries.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["plugin.wasm"]);
    assert!(
        entries[0].1 == module_bytes,
        "plugin.wasm in the image ({} bytes) differs from {} ({} bytes)",
        entries[0].1.len(),
        module.display(),
        module_bytes.len()
    );

    // The same module packaged again gets the same digest.
    let again = package(
        &module,
        &format!("docker://{reference}:again"),
        &work_dir.join("digest-again"),
    );
    assert_eq!(again, digest, "packaging is not reproducible");

    fs::remove_dir_all(&work_dir).unwrap();
}

// ---------------------------------------------------------------------------
// The gateway in a real Envoy

fn token() -> String {
    let wasm_plugin = manifest_of_kind("WasmPlugin");
    wasm_plugin["spec"]["pluginConfig"]["webhook"]["token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn notification(url: &str) -> String {
    format!(
        r#"{{"ts":{},"url":"{}","code":503,"host":"otherhost","type":"http"}}"#,
        unix_now(),
        url.replace('/', "\\/")
    )
}

fn post_notification(port: u16, body: &str, extra_headers: &[(&str, &str)]) -> Response {
    let target = format!("{WEBHOOK_PATH}?token={}", token());
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra_headers);
    let request = http::request_bytes("POST", &target, &headers, body.as_bytes());
    http::exchange(port, &request).expect("a response to the notification")
}

#[test]
fn gateway_answers_notifications() {
    let gateway = IstioGateway::start(&PluginDelivery::Module(wasm_module()));
    let _log = gateway.envoy.log_on_failure();
    let port = gateway.port();

    // No rule covers example.com.
    let ok = post_notification(port, &notification("http://example.com"), &[]);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.text(), "ok");

    // archive-read-only covers blog.example.com/archive until 2099, so the
    // answer is capped at now + max_suppression_seconds (one day), rounded up
    // to the second.
    let before = unix_now();
    let suppressed = post_notification(
        port,
        &notification("https://blog.example.com/archive/2019"),
        &[],
    );
    let after = unix_now();
    assert_eq!(suppressed.status, 200);
    let text = suppressed.text();
    let expected: Vec<String> = (before + 86_400..=after + 86_401).map(format_utc).collect();
    assert!(
        expected.contains(&text),
        "expected one of {expected:?}, got {text:?}"
    );

    // The body arrives in three parts, 200 ms apart.
    let body = notification("http://example.com");
    let head = format!(
        "POST {WEBHOOK_PATH}?token={} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        token(),
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    let slow = http::exchange_in_parts(
        port,
        &[head.as_bytes(), first.as_bytes(), rest.as_bytes()],
        Duration::from_millis(200),
    )
    .unwrap();
    assert_eq!(slow.status, 200);
    assert_eq!(slow.text(), "ok");

    // The plugin runs before the gateway's AuthorizationPolicy (phase AUTHN),
    // which rejects every other request without its header.
    let rejected = http::exchange(port, &http::request_bytes("GET", "/", &[], b"")).unwrap();
    assert_eq!(rejected.status, 403);
    assert_eq!(rejected.text(), "RBAC: access denied");

    assert_eq!(
        gateway.upstream.connections(),
        0,
        "a webhook request or a rejected request reached the upstream"
    );

    // Other paths stream to the service without the buffer filter, which would
    // reject this upload with 413 because of its 65536-byte limit.
    let upload = vec![b'x'; 200_000];
    let uploaded = http::exchange(
        port,
        &http::request_bytes(
            "POST",
            "/wp-admin/async-upload.php",
            &[(AUTHORIZED_HEADER, "yes")],
            &upload,
        ),
    )
    .unwrap();
    assert_eq!(uploaded.status, 200);
    assert_eq!(uploaded.text(), "upstream");
    assert_eq!(
        gateway
            .upstream
            .wait_for_connections(1, Duration::from_secs(5)),
        1
    );
}

#[test]
fn gateway_backstop_without_plugin() {
    let gateway = IstioGateway::start(&PluginDelivery::FetchFailed);
    let _log = gateway.envoy.log_on_failure();
    let port = gateway.port();

    // Without the plugin, the gateway's AuthorizationPolicy applies to the
    // webhook too, so this request carries the header it requires.
    let answer = post_notification(
        port,
        &notification("https://blog.example.com/archive/2019"),
        &[(AUTHORIZED_HEADER, "yes")],
    );
    assert_eq!(answer.status, 503);
    assert_eq!(answer.text(), "maintenance responder unavailable");

    let rejected = post_notification(port, &notification("http://example.com"), &[]);
    assert_eq!(rejected.status, 403);

    assert_eq!(
        gateway.upstream.connections(),
        0,
        "the webhook reached the upstream without the plugin"
    );

    // With FAIL_OPEN the rest of the gateway keeps serving.
    let page = http::exchange(
        port,
        &http::request_bytes("GET", "/", &[(AUTHORIZED_HEADER, "yes")], b""),
    )
    .unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(page.text(), "upstream");
}
