//! Envoy with the filter's configuration delivered through file-based ECDS,
//! as in envoy/ecds/envoy.yaml: the HTTP filter names a resource that Envoy
//! reads from a watched directory, and `scripts/push-rules.sh` replaces that
//! resource.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use super::launch::LaunchOptions;
use super::{
    bootstrap, repo_root, unique_work_dir, wasm_module, BootstrapOptions, CountingUpstream, Envoy,
    WebhookRoute,
};

/// The HTTP filter's name, which is also the ECDS resource name.
pub const FILTER_NAME: &str = "downtime_responder";

/// How a run of `scripts/push-rules.sh` ended.
#[derive(Debug)]
pub struct Push {
    pub success: bool,
    pub stderr: String,
}

pub struct EcdsEnvoy {
    pub envoy: Envoy,
    pub webhook_upstream: CountingUpstream,
    pub other_upstream: CountingUpstream,
    pub pusher: Pusher,
    port: u16,
}

impl EcdsEnvoy {
    /// Pushes `initial` as the first resource, then starts Envoy with
    /// `concurrency` workers. The webhook route points at a counting upstream,
    /// so a webhook that leaks past the filter shows up as a connection.
    pub fn start(initial: &Value, concurrency: u32) -> EcdsEnvoy {
        let pusher = Pusher::new();
        let first = pusher.push(initial);
        assert!(first.success, "the first push failed: {}", first.stderr);

        let webhook_upstream = CountingUpstream::start();
        let other_upstream = CountingUpstream::start();
        let bootstrap = ecds_bootstrap(
            &pusher.resource_dir,
            webhook_upstream.port(),
            other_upstream.port(),
        );
        let options = LaunchOptions {
            concurrency,
            ..LaunchOptions::default()
        };
        let envoy = Envoy::start_text(&bootstrap.to_string(), "json", &options);
        let port = envoy.listener_port("webhook_listener");
        EcdsEnvoy {
            envoy,
            webhook_upstream,
            other_upstream,
            pusher,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns an ECDS statistic of the filter, such as `update_rejected`.
    pub fn ecds_stat(&self, name: &str) -> Option<u64> {
        self.envoy.stat(&format!(
            "extension_config_discovery.http_filter.{FILTER_NAME}.{name}"
        ))
    }
}

/// Runs `scripts/push-rules.sh` on a resource directory of its own.
pub struct Pusher {
    resource_dir: PathBuf,
    config_dir: PathBuf,
    pushes: AtomicUsize,
}

impl Pusher {
    fn new() -> Pusher {
        let work_dir = unique_work_dir();
        let resource_dir = work_dir.join("resources");
        let config_dir = work_dir.join("configs");
        fs::create_dir_all(&resource_dir).expect("create the ECDS resource directory");
        fs::create_dir_all(&config_dir).expect("create the configuration directory");
        Pusher {
            resource_dir,
            config_dir,
            pushes: AtomicUsize::new(0),
        }
    }

    /// Pushes `config`, which the script checks with the CLI first.
    pub fn push(&self, config: &Value) -> Push {
        self.run(config, &[])
    }

    /// Pushes `config` without the CLI check, as a control plane that does
    /// not validate would.
    pub fn push_unchecked(&self, config: &Value) -> Push {
        self.run(config, &["--no-check"])
    }

    fn run(&self, config: &Value, extra_args: &[&str]) -> Push {
        let number = self.pushes.fetch_add(1, Ordering::SeqCst);
        let config_path = self.config_dir.join(format!("config-{number}.json"));
        let text = serde_json::to_string_pretty(config).expect("serialize the configuration");
        fs::write(&config_path, text).expect("write the configuration file");

        let output = Command::new(repo_root().join("scripts/push-rules.sh"))
            .arg("--dir")
            .arg(&self.resource_dir)
            .arg("--module")
            .arg(wasm_module())
            .args(extra_args)
            .arg(&config_path)
            .env(
                "DOWNTIME_RESPONDER_BIN",
                env!("CARGO_BIN_EXE_downtime-responder"),
            )
            .output()
            .expect("run scripts/push-rules.sh");
        Push {
            success: output.status.success(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Returns the text of the resource that Envoy watches.
    pub fn resource_text(&self) -> String {
        fs::read_to_string(self.resource_dir.join(format!("{FILTER_NAME}.yaml")))
            .expect("read the ECDS resource")
    }
}

/// Builds the generated test bootstrap with its plugin replaced by an ECDS
/// subscription to `resource_dir`, the form of envoy/ecds/envoy.yaml.
pub fn ecds_bootstrap(resource_dir: &std::path::Path, webhook_port: u16, other_port: u16) -> Value {
    let mut bootstrap = bootstrap(&BootstrapOptions {
        plugin_config: &json!({}),
        webhook_route: WebhookRoute::Cluster { port: webhook_port },
        other_port,
        buffer_filter: true,
    });

    // xDS subscriptions, file-based ones included, need a node id and cluster.
    bootstrap["node"] = json!({ "id": "downtime-responder-test", "cluster": "test" });
    let resource = resource_dir.join(format!("{FILTER_NAME}.yaml"));
    let http_filters = &mut bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]
        ["filters"][0]["typed_config"]["http_filters"];
    assert_eq!(
        http_filters[0]["name"], "envoy.filters.http.wasm",
        "the generated bootstrap should start its filter chain with the plugin"
    );
    http_filters[0] = json!({
        "name": FILTER_NAME,
        "config_discovery": {
            "config_source": {
                "resource_api_version": "V3",
                "path_config_source": {
                    "path": resource.to_string_lossy(),
                    "watched_directory": { "path": resource_dir.to_string_lossy() }
                }
            },
            "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"]
        }
    });
    bootstrap
}
