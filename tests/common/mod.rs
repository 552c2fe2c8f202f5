//! Harness for the tests that run the filter inside a real Envoy on loopback.
//!
//! Each Envoy gets a bootstrap generated as JSON, listens on 127.0.0.1 with
//! ports chosen by the kernel, and is stopped when its handle is dropped or,
//! for an Envoy shared through a `static`, when the test process exits.
//! Every wait in this module is bounded in time.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod ecds;
pub mod http;
pub mod istio;
pub mod launch;
pub mod live;
pub mod registry;
pub mod rules_source;
pub mod time;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub const WEBHOOK_PATH: &str = "/jetpack/monitor";

/// How long Envoy may take to load the wasm module and open its listener.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Envoy may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The amount of Envoy's log printed when a test fails.
const LOG_TAIL_BYTES: usize = 24 * 1024;

/// Starts the program given as arguments with the current process ID, after
/// forking a watcher that sends SIGTERM to that ID when its standard input
/// reaches end of file. The test process keeps the write end of that pipe, and
/// the kernel closes it when the test process exits however it exits, so an
/// Envoy kept in a `static` (never dropped) still stops with the tests.
///
/// NOTE: when Envoy has already exited and been reaped, the watcher's `kill`
/// targets a free process ID. Linux hands out IDs in sequence, so that ID is
/// reused only after the ID space wraps around.
const WATCHDOG_SCRIPT: &str = r#"
exec 3<&0
program_pid=$$
( read -r _ignored <&3; kill "$program_pid" ) </dev/null >/dev/null 2>&1 &
exec "$@" </dev/null 3<&-
"#;

/// How long `envoy --mode validate` may take; it loads and compiles the module.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `envoy --mode validate` on a configuration file given relative to
/// the repository root, and fails with Envoy's output when it is rejected.
pub fn assert_envoy_validates(config_path: &str) {
    let envoy_binary = envoy_binary();
    // Validation loads the module, which the reference configurations name
    // by a path relative to the repository root.
    wasm_module();

    let mut child = Command::new(&envoy_binary)
        .args(["--mode", "validate", "--config-path", config_path])
        .arg("--use-dynamic-base-id")
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start envoy --mode validate");

    let deadline = Instant::now() + VALIDATE_TIMEOUT;
    while child
        .try_wait()
        .expect("poll envoy --mode validate")
        .is_none()
    {
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("envoy --mode validate did not finish within {VALIDATE_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    let output = child
        .wait_with_output()
        .expect("read envoy --mode validate output");

    assert!(
        output.status.success(),
        "envoy --mode validate rejected {config_path} with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Returns the Envoy binary from `$ENVOY_BIN`, or the one that
/// `scripts/setup.sh` links at `.tools/bin/envoy`.
pub fn envoy_binary() -> PathBuf {
    let binary = match std::env::var_os("ENVOY_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => repo_root().join(".tools/bin/envoy"),
    };
    assert!(
        binary.is_file(),
        "Envoy binary not found at {}: run scripts/setup.sh, or set ENVOY_BIN to an Envoy binary",
        binary.display()
    );
    binary
}

/// Returns the built filter module, and warns when a source file is newer than
/// it, because the tests would then run an old build.
pub fn wasm_module() -> PathBuf {
    let module = repo_root().join("target/wasm32-wasip1/release/downtime_responder.wasm");
    assert!(
        module.is_file(),
        "wasm module not found at {}: run scripts/build.sh \
         (cargo build --release --target wasm32-wasip1 --lib)",
        module.display()
    );

    let module_time = fs::metadata(&module).and_then(|metadata| metadata.modified());
    let newest_source = newest_modification(&repo_root().join("src"));
    if let (Ok(module_time), Some(source_time)) = (module_time, newest_source) {
        if source_time > module_time {
            eprintln!(
                "warning: {} is older than a file in src/; run scripts/build.sh to test the current source",
                module.display()
            );
        }
    }
    module
}

fn newest_modification(directory: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in fs::read_dir(directory).ok()?.flatten() {
        let path = entry.path();
        let modified = if path.is_dir() {
            newest_modification(&path)
        } else {
            entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .ok()
        };
        newest = newest.max(modified);
    }
    newest
}

/// Returns the current Unix time in whole seconds.
pub fn unix_now() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is before 1970");
    i64::try_from(elapsed.as_secs()).expect("Unix time fits in i64")
}

/// An HTTP/1.1 server on 127.0.0.1 that counts the connections it accepts and
/// responds to every request with 200 `upstream`. It replaces an upstream
/// cluster, so a test can prove that a request never reached one.
pub struct CountingUpstream {
    port: u16,
    connections: Arc<AtomicUsize>,
    last_request: Arc<Mutex<Vec<u8>>>,
    stopping: Arc<AtomicBool>,
}

impl CountingUpstream {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream listener");
        let port = listener.local_addr().expect("upstream address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let last_request = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));

        let thread_connections = Arc::clone(&connections);
        let thread_last_request = Arc::clone(&last_request);
        let thread_stopping = Arc::clone(&stopping);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                thread_connections.fetch_add(1, Ordering::SeqCst);
                let last_request = Arc::clone(&thread_last_request);
                thread::spawn(move || serve_upstream_connection(stream, &last_request));
            }
        });

        CountingUpstream {
            port,
            connections,
            last_request,
            stopping,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the number of connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Returns the head and body of the last request received.
    pub fn last_request(&self) -> Vec<u8> {
        self.last_request
            .lock()
            .map(|request| request.clone())
            .unwrap_or_default()
    }

    /// Waits until the count of connections is at least `minimum`, for at most
    /// `timeout`, and returns the last count seen.
    pub fn wait_for_connections(&self, minimum: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.connections();
            if count >= minimum || Instant::now() >= deadline {
                return count;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for CountingUpstream {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // The accept loop checks the flag only when a connection arrives.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request (the head, then a body of `content-length` bytes),
/// sends the response and closes the connection.
fn serve_upstream_connection(mut stream: TcpStream, last_request: &Mutex<Vec<u8>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));

    let mut request = Vec::new();
    let mut chunk = [0_u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && request.len() < 1024 * 1024 {
        if let Some(head_end) = http::find_head_end(&request) {
            let head = String::from_utf8_lossy(&request[..head_end]);
            let body_length = http::content_length(&head).unwrap_or(0);
            if request.len() >= head_end + body_length {
                break;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(count) => request.extend_from_slice(&chunk[..count]),
        }
    }
    if let Ok(mut stored) = last_request.lock() {
        stored.clone_from(&request);
    }

    let response = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\
                    connection: close\r\n\r\nupstream";
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

/// Where the webhook route of a generated bootstrap sends requests.
pub enum WebhookRoute {
    /// To a cluster, so that a request leaking past the filter shows up as a
    /// connection on that cluster's upstream.
    Cluster { port: u16 },
    /// To the `direct_response` 503 of the reference configuration.
    Backstop,
}

/// The parts of a generated Envoy bootstrap that tests vary.
pub struct BootstrapOptions<'a> {
    pub plugin_config: &'a Value,
    pub webhook_route: WebhookRoute,
    /// The upstream port for every path other than the webhook.
    pub other_port: u16,
    /// Whether `envoy.filters.http.buffer` sits between the plugin and the
    /// router, as in the reference configuration.
    pub buffer_filter: bool,
}

/// Builds an Envoy bootstrap like envoy/envoy.yaml, but with the listener and
/// admin on port 0 and the clusters pointed at test upstreams.
pub fn bootstrap(options: &BootstrapOptions) -> Value {
    let wasm = wasm_module();
    let plugin_configuration =
        serde_json::to_string(options.plugin_config).expect("serialize the plugin configuration");

    let webhook_route = match options.webhook_route {
        WebhookRoute::Cluster { .. } => json!({
            "match": { "path": WEBHOOK_PATH },
            "route": { "cluster": "webhook_upstream" }
        }),
        WebhookRoute::Backstop => json!({
            "match": { "path": WEBHOOK_PATH },
            "direct_response": {
                "status": 503,
                "body": { "inline_string": "maintenance responder unavailable" }
            }
        }),
    };
    let other_route = json!({
        "match": { "prefix": "/" },
        "route": { "cluster": "other_upstream" },
        "typed_per_filter_config": {
            "envoy.filters.http.buffer": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute",
                "disabled": true
            }
        }
    });

    let mut http_filters = vec![json!({
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "downtime_responder",
                "root_id": "downtime_responder",
                "vm_config": {
                    "vm_id": "downtime_responder",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": { "local": { "filename": wasm.to_string_lossy() } }
                },
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": plugin_configuration
                }
            }
        }
    })];
    if options.buffer_filter {
        http_filters.push(json!({
            "name": "envoy.filters.http.buffer",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                "max_request_bytes": 65536
            }
        }));
    }
    http_filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        }
    }));

    let mut clusters = vec![static_cluster("other_upstream", options.other_port)];
    if let WebhookRoute::Cluster { port } = options.webhook_route {
        clusters.push(static_cluster("webhook_upstream", port));
    }

    json!({
        "admin": { "address": loopback_address(0) },
        "static_resources": {
            "listeners": [{
                "name": "webhook_listener",
                "address": loopback_address(0),
                "filter_chains": [{
                    "filters": [{
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": "ingress",
                            "codec_type": "AUTO",
                            "route_config": {
                                "name": "local_routes",
                                "virtual_hosts": [{
                                    "name": "all_hosts",
                                    "domains": ["*"],
                                    "routes": [webhook_route, other_route]
                                }]
                            },
                            "http_filters": http_filters
                        }
                    }]
                }]
            }],
            "clusters": clusters
        }
    })
}

fn loopback_address(port: u16) -> Value {
    json!({ "socket_address": { "address": "127.0.0.1", "port_value": port } })
}

fn static_cluster(name: &str, port: u16) -> Value {
    json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": loopback_address(port) } }] }]
        }
    })
}

/// A running Envoy. Dropping it stops Envoy, and prints Envoy's log if the
/// test is failing.
pub struct Envoy {
    child: Child,
    watchdog_stdin: Option<ChildStdin>,
    listener_port: u16,
    admin_port: u16,
    work_dir: PathBuf,
}

/// How an Envoy that was expected to reject its configuration ended.
pub struct FailedStart {
    pub status: ExitStatus,
    pub log: String,
}

impl Envoy {
    /// Starts Envoy with `bootstrap` and waits until its listener is open.
    /// Panics with Envoy's log if it exits or is not ready in time.
    pub fn start(bootstrap: &Value) -> Envoy {
        let mut envoy = Envoy::spawn(bootstrap);
        let admin_port = envoy.wait_for_admin_port();
        envoy.admin_port = admin_port;
        envoy.wait_until_live();
        envoy.listener_port = envoy.discover_listener_port();
        envoy
    }

    /// Starts Envoy with a bootstrap it should reject, and returns its exit
    /// status and log. Panics if Envoy is still running after the startup
    /// timeout.
    pub fn start_expecting_failure(bootstrap: &Value) -> FailedStart {
        let mut envoy = Envoy::spawn(bootstrap);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                return FailedStart {
                    status,
                    log: envoy.log(),
                };
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "Envoy was expected to reject its configuration, but it is still running after {:?}\n{}",
            STARTUP_TIMEOUT,
            envoy.log_tail()
        );
    }

    fn spawn(bootstrap: &Value) -> Envoy {
        let envoy_binary = envoy_binary();
        let work_dir = unique_work_dir();
        let bootstrap_path = work_dir.join("bootstrap.json");
        let bootstrap_text = serde_json::to_string_pretty(bootstrap).expect("serialize bootstrap");
        fs::write(&bootstrap_path, bootstrap_text).expect("write bootstrap.json");

        let log = File::create(work_dir.join("envoy.log")).expect("create envoy.log");
        let log_for_stderr = log.try_clone().expect("clone the envoy.log handle");

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
            .arg("1")
            // Envoy's startup lines at info fill pages. Warnings, errors and the
            // filter's own log lines are what a failing test needs.
            .arg("--log-level")
            .arg("warning")
            .arg("--component-log-level")
            .arg("wasm:info")
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_for_stderr));
        let mut child = spawn_from_lasting_thread(command)
            .unwrap_or_else(|error| panic!("failed to start {}: {error}", envoy_binary.display()));
        let watchdog_stdin = child.stdin.take();

        Envoy {
            child,
            watchdog_stdin,
            listener_port: 0,
            admin_port: 0,
            work_dir,
        }
    }

    fn wait_for_admin_port(&mut self) -> u16 {
        let address_path = self.work_dir.join("admin-address.txt");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            self.fail_if_exited();
            let address = fs::read_to_string(&address_path).unwrap_or_default();
            let port = address
                .trim()
                .rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok());
            if let Some(port) = port {
                return port;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "Envoy did not write its admin address within {:?}\n{}",
            STARTUP_TIMEOUT,
            self.log_tail()
        );
    }

    fn wait_until_live(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            self.fail_if_exited();
            if let Ok(response) = self.admin_get("/ready") {
                if response.status == 200 {
                    return;
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "Envoy was not ready within {:?}\n{}",
            STARTUP_TIMEOUT,
            self.log_tail()
        );
    }

    fn discover_listener_port(&self) -> u16 {
        let response = self
            .admin_get("/listeners?format=json")
            .expect("GET /listeners from the Envoy admin API");
        let listeners: Value =
            serde_json::from_slice(&response.body).expect("/listeners returns JSON");
        let port = listeners["listener_statuses"]
            .as_array()
            .and_then(|statuses| {
                statuses
                    .iter()
                    .find(|status| status["name"] == "webhook_listener")
            })
            .and_then(|status| status["local_address"]["socket_address"]["port_value"].as_u64())
            .and_then(|port| u16::try_from(port).ok());
        port.unwrap_or_else(|| {
            panic!(
                "no port for webhook_listener in the admin /listeners output: {}",
                String::from_utf8_lossy(&response.body)
            )
        })
    }

    fn fail_if_exited(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "Envoy exited during startup with {status}\n{}",
                self.log_tail()
            );
        }
    }

    /// Sends a GET to the admin API.
    pub fn admin_get(&self, path: &str) -> std::io::Result<http::Response> {
        let request = format!("GET {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n");
        http::exchange(self.admin_port, request.as_bytes())
    }

    /// Returns the port of the HTTP listener.
    pub fn port(&self) -> u16 {
        self.listener_port
    }

    /// Returns Envoy's whole log so far.
    pub fn log(&self) -> String {
        fs::read(self.work_dir.join("envoy.log"))
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|error| format!("(envoy.log unreadable: {error})"))
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let start = log.len().saturating_sub(LOG_TAIL_BYTES);
        let start = (start..log.len())
            .find(|index| log.is_char_boundary(*index))
            .unwrap_or(log.len());
        format!(
            "--- Envoy log, last {} bytes, from {} ---\n{}\n--- end of Envoy log ---",
            log.len() - start,
            self.work_dir.join("envoy.log").display(),
            &log[start..]
        )
    }

    /// Returns a guard that prints Envoy's log if the test fails while the
    /// guard is alive. For an Envoy in a `static`, which is never dropped.
    pub fn log_on_failure(&self) -> LogOnFailure<'_> {
        LogOnFailure { envoy: self }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        // Closing the pipe makes the watchdog send SIGTERM.
        drop(self.watchdog_stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut exited = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }

        if thread::panicking() {
            eprintln!("{}", self.log_tail());
        } else {
            let _ = fs::remove_dir_all(&self.work_dir);
        }
    }
}

pub struct LogOnFailure<'a> {
    envoy: &'a Envoy,
}

impl Drop for LogOnFailure<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.envoy.log_tail());
        }
    }
}

type SpawnRequest = (Command, Sender<std::io::Result<Child>>);

/// Spawns `command` from a thread that lives as long as the test process.
///
/// Envoy sets `PR_SET_PDEATHSIG` to SIGTERM (seen with Envoy 1.40 under
/// strace), and Linux sends that signal when the thread that forked the
/// process exits, not the process. Spawned from a test's own thread, an Envoy
/// shared through a `static` would stop as soon as that first test finished.
fn spawn_from_lasting_thread(command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<SpawnRequest>();
        thread::spawn(move || {
            // The sender sits in a static and is never dropped, so this loop
            // and the thread last until the process exits.
            for (mut command, reply) in receiver {
                let _ = reply.send(command.spawn());
            }
        });
        Mutex::new(sender)
    });

    let (reply_sender, reply_receiver) = mpsc::channel();
    spawner
        .lock()
        .map_err(|_| std::io::Error::other("the spawner lock is poisoned"))?
        .send((command, reply_sender))
        .map_err(|_| std::io::Error::other("the spawner thread has stopped"))?;
    reply_receiver
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| std::io::Error::other("the spawner thread did not reply within 10 s"))?
}

/// Creates an empty directory for one Envoy under Cargo's temporary directory
/// for integration tests, inside target/. The directory name carries the test
/// process ID, so directories left by processes that have exited (those of
/// Envoys in a `static`, or kept after a failure) are removed on first use.
fn unique_work_dir() -> PathBuf {
    unique_work_dir_named("envoy")
}

/// Creates an empty directory `<prefix>-<pid>-<n>` as `unique_work_dir` does;
/// `prefix` must not contain `-`.
pub fn unique_work_dir_named(prefix: &str) -> PathBuf {
    static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
    static PRUNED: OnceLock<()> = OnceLock::new();
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR"));
    PRUNED.get_or_init(|| remove_work_dirs_of_exited_processes(parent));

    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    let directory = parent.join(format!("{prefix}-{}-{id}", std::process::id()));
    let _ = fs::remove_dir_all(&directory);
    fs::create_dir_all(&directory).expect("create the test work directory");
    directory
}

/// Removes every `<prefix>-<pid>-<n>` directory whose process has exited.
fn remove_work_dirs_of_exited_processes(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').nth(1) else {
            continue;
        };
        if pid.bytes().all(|byte| byte.is_ascii_digit()) && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// An Envoy running the filter, with the webhook route pointed at one
/// counting upstream and every other path at a second one.
pub struct WebhookEnvoy {
    pub envoy: Envoy,
    pub webhook_upstream: CountingUpstream,
    pub other_upstream: CountingUpstream,
}

impl WebhookEnvoy {
    /// Starts Envoy with the reference filter chain (plugin, buffer, router).
    pub fn start(plugin_config: &Value) -> WebhookEnvoy {
        WebhookEnvoy::start_with_buffer_filter(plugin_config, true)
    }

    pub fn start_with_buffer_filter(plugin_config: &Value, buffer_filter: bool) -> WebhookEnvoy {
        let webhook_upstream = CountingUpstream::start();
        let other_upstream = CountingUpstream::start();
        let envoy = Envoy::start(&bootstrap(&BootstrapOptions {
            plugin_config,
            webhook_route: WebhookRoute::Cluster {
                port: webhook_upstream.port(),
            },
            other_port: other_upstream.port(),
            buffer_filter,
        }));
        WebhookEnvoy {
            envoy,
            webhook_upstream,
            other_upstream,
        }
    }

    pub fn port(&self) -> u16 {
        self.envoy.port()
    }

    /// Asserts that no request has reached the webhook route's upstream.
    pub fn assert_webhook_never_forwarded(&self) {
        assert_eq!(
            self.webhook_upstream.connections(),
            0,
            "the upstream behind the webhook route accepted a connection: a webhook request leaked past the filter"
        );
    }
}
