//! Envoy with the rules source service beside the HTTP filter, as in
//! envoy/rules-source.yaml, and a maintenance API stand-in: an HTTP/1.1
//! server on 127.0.0.1 whose reply the test switches at any time, and which
//! records when each request arrived.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http;
use super::launch::LaunchOptions;
use super::{
    bootstrap, static_cluster, wasm_module, BootstrapOptions, CountingUpstream, Envoy, WebhookRoute,
};

/// The cluster of the maintenance API in the generated bootstrap.
pub const SOURCE_CLUSTER: &str = "maintenance_api";
/// The path the rules source fetches.
pub const SOURCE_PATH: &str = "/v1/maintenance-rules";

/// The maximum time a `Hang` reply keeps a connection open.
const MAX_HANG: Duration = Duration::from_secs(10);
/// How long the server waits for a request head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server does with the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesReply {
    /// 200 with this body as `application/json`.
    Document(String),
    /// This status with a short text body, as an overloaded API would send.
    Status(u16),
    /// Reads the request, then sends nothing for this long before closing.
    Hang(Duration),
    /// 200 with a body that is not JSON.
    Garbage,
    /// Stops listening, so new connections are refused.
    Refuse,
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub at: Instant,
    pub head: String,
}

pub struct RulesServer {
    port: u16,
    reply: Arc<Mutex<RulesReply>>,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
    stopping: Arc<AtomicBool>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

impl RulesServer {
    pub fn start(reply: RulesReply) -> RulesServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the rules server");
        let port = listener.local_addr().expect("rules server address").port();
        listener
            .set_nonblocking(true)
            .expect("make the rules server listener non-blocking");
        let reply = Arc::new(Mutex::new(reply));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));

        let thread_reply = Arc::clone(&reply);
        let thread_requests = Arc::clone(&requests);
        let thread_stopping = Arc::clone(&stopping);
        let accept_thread = thread::spawn(move || {
            accept_loop(
                listener,
                port,
                &thread_reply,
                &thread_requests,
                &thread_stopping,
            );
        });

        RulesServer {
            port,
            reply,
            requests,
            stopping,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sets the reply to every request from now on.
    pub fn set_reply(&self, reply: RulesReply) {
        *self.reply.lock().expect("rules server reply lock") = reply;
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.requests
            .lock()
            .expect("rules server request lock")
            .clone()
    }

    pub fn request_count(&self) -> usize {
        self.requests
            .lock()
            .expect("rules server request lock")
            .len()
    }

    /// Waits until the server has received at least `count` requests, for at
    /// most `timeout`, and returns the count seen last.
    pub fn wait_for_requests(&self, count: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.request_count();
            if seen >= count || Instant::now() >= deadline {
                return seen;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RulesServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
    }
}

/// Accepts connections until `stopping` is set. The listener is non-blocking
/// so the loop notices a switch to or from `Refuse` within a few milliseconds:
/// `Refuse` closes the listening socket, and the next other reply binds the
/// same port again.
fn accept_loop(
    listener: TcpListener,
    port: u16,
    reply: &Arc<Mutex<RulesReply>>,
    requests: &Arc<Mutex<Vec<ReceivedRequest>>>,
    stopping: &AtomicBool,
) {
    let mut listener = Some(listener);
    while !stopping.load(Ordering::SeqCst) {
        let refusing = reply.lock().is_ok_and(|reply| *reply == RulesReply::Refuse);
        if refusing {
            listener = None;
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        if listener.is_none() {
            listener = TcpListener::bind(("127.0.0.1", port))
                .ok()
                .filter(|bound| bound.set_nonblocking(true).is_ok());
        }
        let Some(active) = &listener else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };

        match active.accept() {
            Ok((stream, _)) => {
                let reply = Arc::clone(reply);
                let requests = Arc::clone(requests);
                thread::spawn(move || serve(stream, &reply, &requests));
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn serve(mut stream: TcpStream, reply: &Mutex<RulesReply>, requests: &Mutex<Vec<ReceivedRequest>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.set_write_timeout(Some(REQUEST_TIMEOUT));

    let Some(head) = read_head(&mut stream) else {
        return;
    };
    let reply = reply
        .lock()
        .map(|reply| reply.clone())
        .unwrap_or(RulesReply::Status(500));
    if let Ok(mut requests) = requests.lock() {
        requests.push(ReceivedRequest {
            at: Instant::now(),
            head,
        });
    }

    let (status, content_type, body) = match reply {
        RulesReply::Document(document) => (200, "application/json", document),
        RulesReply::Status(status) => (status, "text/plain", "overloaded".to_string()),
        RulesReply::Garbage => (200, "text/html", "<html><body>maintenance".to_string()),
        RulesReply::Hang(duration) => {
            thread::sleep(duration.min(MAX_HANG));
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        // The request raced the switch to `Refuse`; close it unanswered.
        RulesReply::Refuse => {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    };
    let response = format!(
        "HTTP/1.1 {status} Status\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_head(stream: &mut TcpStream) -> Option<String> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut received = Vec::new();
    let mut chunk = [0_u8; 2048];
    while Instant::now() < deadline && received.len() < 64 * 1024 {
        if let Some(end) = http::find_head_end(&received) {
            return Some(String::from_utf8_lossy(&received[..end]).into_owned());
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(count) => received.extend_from_slice(&chunk[..count]),
        }
    }
    None
}

/// Envoy running the HTTP filter and the rules source service, with the
/// service's cluster pointed at a `RulesServer`.
pub struct SourceEnvoy {
    pub envoy: Envoy,
    pub server: RulesServer,
    pub webhook_upstream: CountingUpstream,
    pub other_upstream: CountingUpstream,
    port: u16,
}

impl SourceEnvoy {
    /// Starts the server with `first_reply`, then Envoy with `concurrency`
    /// workers. `source_settings` are the fields of `rules_source` other than
    /// `cluster` and `path`, which point at the server.
    pub fn start(
        plugin_config: &Value,
        source_settings: &Value,
        first_reply: RulesReply,
        concurrency: u32,
    ) -> SourceEnvoy {
        let server = RulesServer::start(first_reply);
        let webhook_upstream = CountingUpstream::start();
        let other_upstream = CountingUpstream::start();
        let mut source = json!({ "cluster": SOURCE_CLUSTER, "path": SOURCE_PATH });
        if let (Some(fields), Some(settings)) =
            (source.as_object_mut(), source_settings.as_object())
        {
            fields.extend(settings.clone());
        }
        let bootstrap = source_bootstrap(
            plugin_config,
            &json!({ "rules_source": source }),
            server.port(),
            webhook_upstream.port(),
            other_upstream.port(),
        );

        let options = LaunchOptions {
            concurrency,
            ..LaunchOptions::default()
        };
        let envoy = Envoy::start_text(&bootstrap.to_string(), "json", &options);
        let port = envoy.listener_port("webhook_listener");
        SourceEnvoy {
            envoy,
            server,
            webhook_upstream,
            other_upstream,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the source statistic `name`, such as `fetch.failed.timeout`,
    /// or 0 when Envoy does not list it.
    pub fn source_stat(&self, name: &str) -> u64 {
        self.envoy
            .stat(&format!("wasmcustom.downtime_responder.source.{name}"))
            .unwrap_or(0)
    }

    /// Waits until the source statistic `name` is at least `minimum`, for at
    /// most `timeout`, and returns the last value seen.
    pub fn wait_for_source_stat(&self, name: &str, minimum: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.source_stat(name);
            if value >= minimum || Instant::now() >= deadline {
                return value;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Builds the generated test bootstrap plus the rules source: a singleton service VM
/// in `bootstrap_extensions` with the filter's vm_id and module, and a
/// cluster for the maintenance API on `server_port`.
pub fn source_bootstrap(
    plugin_config: &Value,
    source_config: &Value,
    server_port: u16,
    webhook_port: u16,
    other_port: u16,
) -> Value {
    let mut bootstrap = bootstrap(&BootstrapOptions {
        plugin_config,
        webhook_route: WebhookRoute::Cluster { port: webhook_port },
        other_port,
        buffer_filter: true,
    });

    let filter_vm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"][0]["typed_config"]["config"]["vm_config"]
        .clone();
    assert_eq!(
        filter_vm["code"]["local"]["filename"],
        wasm_module().to_string_lossy().as_ref(),
        "the generated bootstrap should load the plugin from the built module"
    );
    bootstrap["bootstrap_extensions"] = json!([{
        "name": "envoy.bootstrap.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
            "singleton": true,
            "config": {
                "name": "rules_source",
                "root_id": "rules_source",
                "vm_config": filter_vm,
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": source_config.to_string()
                }
            }
        }
    }]);
    if let Some(clusters) = bootstrap["static_resources"]["clusters"].as_array_mut() {
        clusters.push(static_cluster(SOURCE_CLUSTER, server_port));
    }
    bootstrap
}
