//! Envoy launches beyond the shared harness: any bootstrap text, including the
//! reference configuration envoy/envoy.yaml itself, with a chosen worker count
//! and log level, plus readers for the admin stats and the log.

use std::fs::{self, File};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{self, Response, RESPONSE_TIMEOUT};
use super::{
    envoy_binary, repo_root, spawn_from_lasting_thread, unique_work_dir, wasm_module,
    CountingUpstream, Envoy, WATCHDOG_SCRIPT,
};

/// How long a test waits for Envoy to write an expected log line.
pub const LOG_TIMEOUT: Duration = Duration::from_secs(10);
/// How often Envoy flushes access logs. Its default, 10 s, would make every
/// access log check wait that long.
const ACCESS_LOG_FLUSH_MILLISECONDS: &str = "100";

/// How Envoy runs, apart from its bootstrap.
pub struct LaunchOptions {
    /// `--concurrency`: the number of worker threads, each with its own VM.
    pub concurrency: u32,
    /// `--log-level` for every component.
    pub log_level: &'static str,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            concurrency: 1,
            log_level: "warning",
        }
    }
}

impl Envoy {
    /// Starts Envoy from bootstrap text, YAML or JSON by `extension`, and
    /// waits until it is ready. The listener port is not looked up,
    /// because listener names differ: use `listener_port`.
    pub fn start_text(bootstrap: &str, extension: &str, options: &LaunchOptions) -> Envoy {
        let work_dir = unique_work_dir();
        let bootstrap_path = work_dir.join(format!("bootstrap.{extension}"));
        fs::write(&bootstrap_path, bootstrap).expect("write the bootstrap file");

        let log = File::create(work_dir.join("envoy.log")).expect("create envoy.log");
        let log_for_stderr = log.try_clone().expect("clone the envoy.log handle");
        let envoy_binary = envoy_binary();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("envoy-watchdog")
            .arg(&envoy_binary)
            .arg("--config-path")
            .arg(&bootstrap_path)
            .arg("--admin-address-path")
            .arg(work_dir.join("admin-address.txt"))
            .arg("--use-dynamic-base-id")
            .arg("--concurrency")
            .arg(options.concurrency.to_string())
            .arg("--log-level")
            .arg(options.log_level)
            .arg("--file-flush-interval-msec")
            .arg(ACCESS_LOG_FLUSH_MILLISECONDS)
            // The filter's own lines, at info, are part of what the tests check.
            .arg("--component-log-level")
            .arg("wasm:info")
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_for_stderr));
        let mut child = spawn_from_lasting_thread(command)
            .unwrap_or_else(|error| panic!("failed to start {}: {error}", envoy_binary.display()));
        let watchdog_stdin = child.stdin.take();

        let mut envoy = Envoy {
            child,
            watchdog_stdin,
            listener_port: 0,
            admin_port: 0,
            work_dir,
        };
        envoy.admin_port = envoy.wait_for_admin_port();
        envoy.wait_until_live();
        envoy
    }

    /// Returns the port of the listener named `name`.
    pub fn listener_port(&self, name: &str) -> u16 {
        let response = self
            .admin_get("/listeners?format=json")
            .expect("GET /listeners from the Envoy admin API");
        let listeners: Value =
            serde_json::from_slice(&response.body).expect("/listeners returns JSON");
        listeners["listener_statuses"]
            .as_array()
            .and_then(|statuses| statuses.iter().find(|status| status["name"] == name))
            .and_then(|status| status["local_address"]["socket_address"]["port_value"].as_u64())
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or_else(|| {
                panic!(
                    "no listener named {name} in the admin /listeners output: {}",
                    String::from_utf8_lossy(&response.body)
                )
            })
    }

    /// Returns the text of `/stats/prometheus`.
    pub fn prometheus(&self) -> String {
        let response = self
            .admin_get("/stats/prometheus")
            .expect("GET /stats/prometheus from the Envoy admin API");
        assert_eq!(response.status, 200, "/stats/prometheus: {response:?}");
        response.text()
    }

    /// Returns every stat of `/stats` whose name contains `part`, as
    /// (name, value) pairs. Histograms are left out.
    pub fn stats_containing(&self, part: &str) -> Vec<(String, String)> {
        let response = self
            .admin_get("/stats")
            .expect("GET /stats from the Envoy admin API");
        assert_eq!(response.status, 200, "/stats: {response:?}");
        response
            .text()
            .lines()
            .filter_map(|line| line.split_once(": "))
            .filter(|(name, _)| name.contains(part))
            .map(|(name, value)| (name.to_string(), value.trim().to_string()))
            .collect()
    }

    /// Returns the value of the counter or gauge `name` from `/stats`.
    pub fn stat(&self, name: &str) -> Option<u64> {
        self.stats_containing(name)
            .into_iter()
            .find(|(found, _)| found == name)
            .and_then(|(_, value)| value.parse().ok())
    }

    /// Waits until the log has at least `count` lines containing `part`, for
    /// at most `LOG_TIMEOUT`, and returns those lines.
    pub fn wait_for_log_lines(&self, part: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + LOG_TIMEOUT;
        loop {
            let lines: Vec<String> = self
                .log()
                .lines()
                .filter(|line| line.contains(part))
                .map(str::to_string)
                .collect();
            if lines.len() >= count || Instant::now() >= deadline {
                return lines;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Returns the value of the Prometheus sample `metric` whose labels are
/// exactly `labels`, from `/stats/prometheus` text.
pub fn prometheus_sample(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let expected_labels: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{value}\""))
        .collect();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, label_text) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let mut found_labels: Vec<&str> = label_text
                .split(',')
                .filter(|label| !label.is_empty())
                .collect();
            let mut expected: Vec<&str> = expected_labels.iter().map(String::as_str).collect();
            found_labels.sort_unstable();
            expected.sort_unstable();
            (name == metric && found_labels == expected)
                .then(|| value.parse().ok())
                .flatten()
        })
}

/// Sends `request` to `address` on a new connection and reads one response.
/// Unlike `http::exchange`, the address may be IPv6.
pub fn exchange_at(address: SocketAddr, request: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&address, RESPONSE_TIMEOUT)?;
    stream.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
    stream.set_write_timeout(Some(RESPONSE_TIMEOUT))?;
    stream.write_all(request)?;
    http::read_response(&mut stream, request.starts_with(b"HEAD "))
}

/// The text of envoy/envoy.yaml, rewritten so a test can run it: ports
/// chosen by the kernel, the backend cluster on a test upstream, and
/// optionally another plugin configuration. Every rewrite checks that the
/// text it replaces occurs exactly once, so a change to the reference
/// configuration fails the tests loudly instead of being tested half.
pub struct ReferenceConfig {
    text: String,
}

impl ReferenceConfig {
    pub fn load() -> ReferenceConfig {
        let path = repo_root().join("envoy/envoy.yaml");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        ReferenceConfig { text }
    }

    /// Replaces `old` with `new`, and panics unless `old` occurs exactly once.
    pub fn replace(mut self, old: &str, new: &str) -> ReferenceConfig {
        let count = self.text.matches(old).count();
        assert_eq!(
            count, 1,
            "envoy/envoy.yaml should contain {old:?} exactly once, found {count}"
        );
        self.text = self.text.replacen(old, new, 1);
        self
    }

    /// Points the admin and the listener at port 0 and the backend cluster at
    /// `backend_port`, and names the module by its absolute path.
    fn runnable(self, backend_port: u16) -> ReferenceConfig {
        let module = wasm_module();
        self.replace("port_value: 9901", "port_value: 0")
            .replace("port_value: 10000", "port_value: 0")
            .replace("port_value: 8080", &format!("port_value: {backend_port}"))
            .replace(
                "filename: target/wasm32-wasip1/release/downtime_responder.wasm",
                &format!("filename: {}", module.display()),
            )
    }

    /// Replaces the plugin configuration (the one `value: |` block) with
    /// `plugin_config`.
    pub fn with_plugin_config(mut self, plugin_config: &Value) -> ReferenceConfig {
        let indentation = |line: &str| line.len() - line.trim_start().len();
        let lines: Vec<&str> = self.text.lines().collect();
        let markers: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| line.trim() == "value: |")
            .map(|(index, _)| index)
            .collect();
        assert_eq!(
            markers.len(),
            1,
            "envoy/envoy.yaml should hold exactly one `value: |` block"
        );
        let marker = markers[0];
        let marker_indentation = indentation(lines[marker]);
        let block_end = lines[marker + 1..]
            .iter()
            .position(|line| !line.trim().is_empty() && indentation(line) <= marker_indentation)
            .map_or(lines.len(), |offset| marker + 1 + offset);

        let pad = " ".repeat(marker_indentation + 2);
        let json = serde_json::to_string_pretty(plugin_config)
            .expect("serialize the plugin configuration");
        let block = json.lines().map(|line| format!("{pad}{line}"));
        let rewritten: Vec<String> = lines[..=marker]
            .iter()
            .map(|line| line.to_string())
            .chain(block)
            .chain(lines[block_end..].iter().map(|line| line.to_string()))
            .collect();
        self.text = rewritten.join("\n") + "\n";
        self
    }
}

/// Envoy running the reference configuration, with its backend cluster
/// pointed at a counting upstream.
pub struct ReferenceEnvoy {
    pub envoy: Envoy,
    pub backend: CountingUpstream,
}

impl ReferenceEnvoy {
    pub fn start(config: ReferenceConfig, options: &LaunchOptions) -> ReferenceEnvoy {
        let backend = CountingUpstream::start();
        let text = config.runnable(backend.port()).text;
        let envoy = Envoy::start_text(&text, "yaml", options);
        ReferenceEnvoy { envoy, backend }
    }

    /// Returns the port of the reference listener, named `ingress`.
    pub fn port(&self) -> u16 {
        self.envoy.listener_port("ingress")
    }
}
