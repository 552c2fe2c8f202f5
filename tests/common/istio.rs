//! The Istio deployment kit in envoy/istio/: its manifests, the OpenAPI
//! schemas of Istio's CRDs turned into JSON Schemas, and an Envoy bootstrap
//! equivalent to what Istio generates from the manifests for an ingress
//! gateway.
//!
//! The bootstrap follows Istio's own translation, in
//! pilot/pkg/model/extensions.go and
//! pilot/pkg/networking/core/listener_builder.go of istio/istio. The plugin's
//! HTTP filter is named `extensions.istio.io/wasmplugin/NAMESPACE.NAME`, gets
//! its configuration over ECDS, and sits in the gateway's filter chain where
//! its `phase` puts it. The EnvoyFilter patches then apply to that chain and to
//! the gateway's routes. Istio delivers ECDS over ADS from istiod, while here
//! the same resource comes from a file (`path_config_source`). Its module is a
//! local file, as the Istio agent hands it to Envoy after pulling the image.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{repo_root, CountingUpstream, Envoy};

/// Where the CRDs are read from, relative to the repository root, unless
/// `ISTIO_CRDS` names another file.
const CRD_FILE: &str = "../shared/istio/crds.yaml";

pub const WASM_TYPE_URL: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
pub const RBAC_TYPE_URL: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
const HCM_FILTER: &str = "envoy.filters.network.http_connection_manager";

/// The request header that the gateway's stand-in AuthorizationPolicy
/// requires on every request.
pub const AUTHORIZED_HEADER: &str = "x-gateway-authorized";

/// One YAML document of a manifest file.
pub struct Manifest {
    pub file: String,
    pub document: Value,
}

/// Returns every document of every `.yaml` file in envoy/istio/, in file
/// name order.
pub fn manifests() -> Vec<Manifest> {
    let directory = repo_root().join("envoy/istio");
    let mut files: Vec<PathBuf> = fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("read {}: {error}", directory.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();

    let mut manifests = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        for document in yaml_documents(&file) {
            manifests.push(Manifest {
                file: name.clone(),
                document,
            });
        }
    }
    manifests
}

/// Returns the one manifest of `kind`. Panics unless there is exactly one.
pub fn manifest_of_kind(kind: &str) -> Value {
    let mut found: Vec<Value> = manifests()
        .into_iter()
        .filter(|manifest| manifest.document["kind"] == kind)
        .map(|manifest| manifest.document)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "envoy/istio/ should hold exactly one {kind}"
    );
    found.remove(0)
}

/// Parses every non-empty document of a YAML file into JSON values.
pub fn yaml_documents(path: &Path) -> Vec<Value> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|document| {
            serde_json::to_value(
                serde_norway::Value::deserialize(document).unwrap_or_else(|error| {
                    panic!("{} is not valid YAML: {error}", path.display())
                }),
            )
            .unwrap_or_else(|error| panic!("{} does not convert to JSON: {error}", path.display()))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// Returns the CRD file, or the path where it was expected when it is
/// absent.
pub fn crd_file() -> Result<PathBuf, PathBuf> {
    let path = match std::env::var_os("ISTIO_CRDS") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => repo_root().join(CRD_FILE),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(path)
    }
}

/// Returns the JSON Schema for objects of `api_version` and `kind`, built from
/// the `openAPIV3Schema` of the matching CRD version in `crd_path`, or None
/// when the file has no such CRD.
pub fn crd_json_schema(crd_path: &Path, api_version: &str, kind: &str) -> Option<Value> {
    let (group, version) = api_version.split_once('/')?;
    let crd = yaml_documents(crd_path).into_iter().find(|crd| {
        crd["kind"] == "CustomResourceDefinition"
            && crd["spec"]["group"] == group
            && crd["spec"]["names"]["kind"] == kind
    })?;
    let openapi = crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|entry| entry["name"] == version)?["schema"]["openAPIV3Schema"]
        .clone();

    let mut schema = openapi_to_json_schema(&openapi);
    let properties = schema
        .as_object_mut()?
        .entry("properties")
        .or_insert_with(|| json!({}));
    properties["apiVersion"] = json!({ "enum": [api_version] });
    properties["kind"] = json!({ "enum": [kind] });
    properties["metadata"] = object_meta_schema();
    schema["required"] = json!(["apiVersion", "kind", "metadata", "spec"]);
    schema["additionalProperties"] = json!(false);
    Some(schema)
}

/// Returns a schema for the part of Kubernetes' ObjectMeta that a manifest in
/// a repository sets.
fn object_meta_schema() -> Value {
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {
                "type": "string",
                "maxLength": 253,
                "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
            },
            "namespace": { "type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" },
            "labels": { "type": "object", "additionalProperties": { "type": "string" } },
            "annotations": { "type": "object", "additionalProperties": { "type": "string" } }
        },
        "additionalProperties": false
    })
}

/// Turns a Kubernetes structural OpenAPI v3 schema into a JSON Schema (draft
/// 4) with the same meaning for a manifest:
///
/// - `nullable: true` becomes a `null` alternative of the type;
/// - an object schema with `properties` and without
///   `x-kubernetes-preserve-unknown-fields` rejects other fields, as
///   `kubectl apply` does with its default strict field validation;
/// - the other `x-kubernetes-*` extensions are dropped.
///
/// NOTE: the CEL rules in `x-kubernetes-validations` are not evaluated, so
/// the tests check the few that concern these manifests on their own.
pub fn openapi_to_json_schema(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };

    let preserve_unknown = object
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let nullable = object
        .get("nullable")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let mut converted = Map::new();
    for (key, value) in object {
        if key.starts_with("x-kubernetes-") || key == "nullable" {
            continue;
        }
        let value = match key.as_str() {
            "properties" => Value::Object(
                value
                    .as_object()
                    .map(|properties| {
                        properties
                            .iter()
                            .map(|(name, property)| {
                                (name.clone(), openapi_to_json_schema(property))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" | "not" => openapi_to_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .map(|schemas| schemas.iter().map(openapi_to_json_schema).collect())
                    .unwrap_or_default(),
            ),
            _ => value.clone(),
        };
        converted.insert(key.clone(), value);
    }

    if converted.contains_key("properties")
        && !preserve_unknown
        && !converted.contains_key("additionalProperties")
    {
        converted.insert("additionalProperties".to_string(), json!(false));
    }
    if nullable {
        if let Some(Value::String(kind)) = converted.get("type").cloned() {
            converted.insert("type".to_string(), json!([kind, "null"]));
        }
    }
    Value::Object(converted)
}

/// Returns the name that Istio gives a WasmPlugin's HTTP filter and its ECDS
/// resource.
pub fn wasm_filter_name(wasm_plugin: &Value) -> String {
    format!(
        "extensions.istio.io/wasmplugin/{}.{}",
        metadata_string(wasm_plugin, "namespace"),
        metadata_string(wasm_plugin, "name")
    )
}

fn metadata_string(manifest: &Value, field: &str) -> String {
    manifest["metadata"][field]
        .as_str()
        .unwrap_or_else(|| panic!("manifest has no metadata.{field}: {manifest}"))
        .to_string()
}

/// Returns the WasmPlugin's `pluginConfig` as the JSON text that Istio passes
/// to the plugin.
pub fn plugin_configuration_text(wasm_plugin: &Value) -> String {
    let plugin_config = &wasm_plugin["spec"]["pluginConfig"];
    assert!(
        plugin_config.is_object(),
        "the WasmPlugin has no pluginConfig object"
    );
    serde_json::to_string(plugin_config).expect("serialize pluginConfig")
}

/// What the Istio agent hands Envoy for the plugin's ECDS resource.
pub enum PluginDelivery {
    /// The module was pulled, so the resource is the wasm filter with the
    /// module as a local file.
    Module(PathBuf),
    /// The module could not be pulled. The agent then substitutes an RBAC
    /// filter: one that allows every request for FAIL_OPEN, one that denies
    /// every request otherwise (pkg/wasm/convert.go in istio/istio).
    FetchFailed,
}

/// Builds the ECDS resource (a `TypedExtensionConfig`) that Envoy receives for
/// the WasmPlugin.
pub fn ecds_resource(wasm_plugin: &Value, delivery: &PluginDelivery) -> Value {
    let spec = &wasm_plugin["spec"];
    let fail_strategy = spec["failStrategy"].as_str().unwrap_or("FAIL_CLOSE");

    let typed_config = match delivery {
        PluginDelivery::Module(module) => json!({
            "@type": WASM_TYPE_URL,
            "config": {
                "name": format!(
                    "{}.{}",
                    metadata_string(wasm_plugin, "namespace"),
                    metadata_string(wasm_plugin, "name")
                ),
                "root_id": spec["pluginName"].as_str().unwrap_or_default(),
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": plugin_configuration_text(wasm_plugin)
                },
                "vm_config": {
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": module.to_string_lossy() } }
                },
                "failure_policy": envoy_failure_policy(fail_strategy)
            }
        }),
        PluginDelivery::FetchFailed if fail_strategy == "FAIL_OPEN" => json!({
            "@type": RBAC_TYPE_URL,
            "rules_stat_prefix": "wasm-default-allow"
        }),
        PluginDelivery::FetchFailed => json!({
            "@type": RBAC_TYPE_URL,
            "rules": {},
            "rules_stat_prefix": "wasm-default-deny"
        }),
    };

    json!({
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
        "name": wasm_filter_name(wasm_plugin),
        "typed_config": typed_config
    })
}

fn envoy_failure_policy(fail_strategy: &str) -> &'static str {
    match fail_strategy {
        "FAIL_OPEN" => "FAIL_OPEN",
        "FAIL_RELOAD" => "FAIL_RELOAD",
        "FAIL_CLOSE" => "FAIL_CLOSED",
        other => panic!("unknown failStrategy {other}"),
    }
}

/// Builds the gateway's HTTP filter chain in Istio's order, with the plugin's
/// filter at the place its `phase` selects. Istio inserts each phase's
/// plugins before its own filters of that phase; this gateway has no
/// RequestAuthentication, so no authentication filter, and one
/// AuthorizationPolicy, whose RBAC filter allows only requests that carry
/// [`AUTHORIZED_HEADER`].
pub fn gateway_http_filters(wasm_plugin: &Value, ecds_path: &Path) -> Vec<Value> {
    let plugin_filter = json!({
        "name": wasm_filter_name(wasm_plugin),
        "config_discovery": {
            "config_source": {
                "path_config_source": { "path": ecds_path.to_string_lossy() },
                "resource_api_version": "V3",
                // Istio blocks the listener until the plugin's configuration
                // has arrived.
                "initial_fetch_timeout": "0s"
            },
            "type_urls": [WASM_TYPE_URL, RBAC_TYPE_URL]
        }
    });
    let authorization_filter = json!({
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": RBAC_TYPE_URL,
            "rules": {
                "action": "ALLOW",
                "policies": {
                    "ns[istio-system]-policy[gateway-sign-in]-rule[0]": {
                        "permissions": [{ "any": true }],
                        "principals": [{
                            "header": { "name": AUTHORIZED_HEADER, "present_match": true }
                        }]
                    }
                }
            }
        }
    });

    let phase = wasm_plugin["spec"]["phase"]
        .as_str()
        .unwrap_or("UNSPECIFIED_PHASE");
    let in_phase = |name: &str| (phase == name).then(|| plugin_filter.clone());

    let mut filters = Vec::new();
    filters.extend(in_phase("AUTHN"));
    filters.extend(in_phase("AUTHZ"));
    filters.push(authorization_filter);
    filters.extend(in_phase("STATS"));
    filters.extend(in_phase("UNSPECIFIED_PHASE"));
    filters.push(json!({
        "name": "envoy.filters.http.fault",
        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault" }
    }));
    filters.push(json!({
        "name": "envoy.filters.http.cors",
        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" }
    }));
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
    }));
    assert!(
        filters
            .iter()
            .any(|filter| filter["name"] == plugin_filter["name"]),
        "unknown WasmPlugin phase {phase}"
    );
    filters
}

/// Returns the EnvoyFilter's patches that apply to `apply_to` in a gateway.
fn gateway_patches<'a>(envoy_filter: &'a Value, apply_to: &str) -> Vec<&'a Value> {
    envoy_filter["spec"]["configPatches"]
        .as_array()
        .map(|patches| {
            patches
                .iter()
                .filter(|patch| patch["applyTo"] == apply_to)
                .filter(|patch| {
                    let context = patch["match"]["context"].as_str().unwrap_or("ANY");
                    context == "GATEWAY" || context == "ANY"
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies the EnvoyFilter's HTTP_FILTER patches to the filter chain of the
/// gateway's HTTP connection manager, as Istio does. A patch whose sub-filter
/// is not in the chain is skipped, as Istio skips it.
pub fn apply_http_filter_patches(filters: &mut Vec<Value>, envoy_filter: &Value) {
    for patch in gateway_patches(envoy_filter, "HTTP_FILTER") {
        let filter_match = &patch["match"]["listener"]["filterChain"]["filter"];
        if let Some(network_filter) = filter_match["name"].as_str() {
            if network_filter != HCM_FILTER {
                continue;
            }
        }
        let sub_filter = filter_match["subFilter"]["name"].as_str();
        let value = patch["patch"]["value"].clone();
        let position =
            sub_filter.and_then(|name| filters.iter().position(|filter| filter["name"] == name));

        match (patch["patch"]["operation"].as_str(), sub_filter, position) {
            (Some("INSERT_AFTER"), Some(_), Some(index)) => filters.insert(index + 1, value),
            (Some("INSERT_BEFORE"), Some(_), Some(index)) => filters.insert(index, value),
            (Some("INSERT_AFTER" | "INSERT_BEFORE"), Some(_), None) => {}
            (Some("INSERT_FIRST"), _, _) => filters.insert(0, value),
            (operation, _, _) => panic!(
                "HTTP_FILTER patch operation {operation:?} with sub-filter {sub_filter:?} is not emulated"
            ),
        }
    }
}

/// Applies the EnvoyFilter's HTTP_ROUTE patches to the routes of one virtual
/// host of the gateway.
pub fn apply_route_patches(routes: &mut Vec<Value>, envoy_filter: &Value) {
    for patch in gateway_patches(envoy_filter, "HTTP_ROUTE") {
        let route_configuration = &patch["match"]["routeConfiguration"];
        assert!(
            route_configuration["vhost"]["route"].is_null(),
            "HTTP_ROUTE patches that match a route are not emulated"
        );
        let value = patch["patch"]["value"].clone();
        match patch["patch"]["operation"].as_str() {
            Some("INSERT_FIRST" | "INSERT_BEFORE") => routes.insert(0, value),
            Some("ADD" | "INSERT_AFTER") => routes.push(value),
            operation => panic!("HTTP_ROUTE patch operation {operation:?} is not emulated"),
        }
    }
}

/// The ingress gateway, run as a real Envoy with the configuration that Istio
/// generates from the manifests in envoy/istio/.
pub struct IstioGateway {
    pub envoy: Envoy,
    /// Stands in for the service that a VirtualService routes every path to.
    pub upstream: CountingUpstream,
    work_dir: PathBuf,
}

impl IstioGateway {
    pub fn start(delivery: &PluginDelivery) -> IstioGateway {
        let wasm_plugin = manifest_of_kind("WasmPlugin");
        let envoy_filter = manifest_of_kind("EnvoyFilter");
        let upstream = CountingUpstream::start();
        let work_dir = unique_work_dir();

        let ecds_path = work_dir.join("ecds.json");
        let discovery_response = json!({
            "version_info": "1",
            "resources": [ecds_resource(&wasm_plugin, delivery)]
        });
        fs::write(
            &ecds_path,
            serde_json::to_string_pretty(&discovery_response).expect("serialize ECDS"),
        )
        .expect("write the ECDS file");

        let mut http_filters = gateway_http_filters(&wasm_plugin, &ecds_path);
        apply_http_filter_patches(&mut http_filters, &envoy_filter);

        // The route that a VirtualService binding the gateway to a service
        // produces: every path to that service.
        let mut routes = vec![json!({
            "name": "sites",
            "match": { "prefix": "/" },
            "route": { "cluster": "outbound|80||sites.default.svc.cluster.local" }
        })];
        apply_route_patches(&mut routes, &envoy_filter);

        let bootstrap = gateway_bootstrap(http_filters, routes, upstream.port());
        let envoy = Envoy::start(&bootstrap);
        IstioGateway {
            envoy,
            upstream,
            work_dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.envoy.port()
    }
}

impl Drop for IstioGateway {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.work_dir);
        }
    }
}

/// The gateway's listener, route and cluster around the given filters and
/// routes. Istio sends the routes over RDS; they are inline here.
fn gateway_bootstrap(http_filters: Vec<Value>, routes: Vec<Value>, upstream_port: u16) -> Value {
    let loopback =
        |port: u16| json!({ "socket_address": { "address": "127.0.0.1", "port_value": port } });
    let cluster_name = "outbound|80||sites.default.svc.cluster.local";
    json!({
        // The node that Istio's agent reports for an ingress gateway pod. A
        // file-based subscription, such as the ECDS file, requires one.
        "node": {
            "id": "router~127.0.0.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local",
            "cluster": "istio-ingressgateway.istio-system"
        },
        "admin": { "address": loopback(0) },
        "static_resources": {
            "listeners": [{
                // The harness finds the listener port by this name.
                "name": "webhook_listener",
                "address": loopback(0),
                "filter_chains": [{
                    "filters": [{
                        "name": HCM_FILTER,
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "outbound_0.0.0.0_8080",
                            "codec_type": "AUTO",
                            "use_remote_address": true,
                            "route_config": {
                                "name": "http.8080",
                                "virtual_hosts": [{
                                    "name": "*:80",
                                    "domains": ["*"],
                                    "routes": routes
                                }]
                            },
                            "http_filters": http_filters
                        }
                    }]
                }]
            }],
            "clusters": [{
                "name": cluster_name,
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {
                    "cluster_name": cluster_name,
                    "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": loopback(upstream_port) } }] }]
                }
            }]
        }
    })
}

/// Creates an empty directory under Cargo's temporary directory for
/// integration tests. The name carries the test process ID, so directories
/// kept after failures of processes that have exited are removed on first use.
pub fn unique_work_dir() -> PathBuf {
    super::unique_work_dir_named("istio")
}
