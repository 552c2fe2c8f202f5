//! A container registry on loopback: Debian's `docker-registry` (the CNCF
//! distribution registry), listening on 127.0.0.1 with a port chosen by the
//! kernel and storing blobs in its own temporary directory. Dropping it stops
//! the registry and removes the directory.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::http;
use super::istio::unique_work_dir;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts the program given as arguments, after forking a watcher that sends
/// SIGTERM to it when standard input reaches end of file, so the registry
/// stops with the test process however that process exits.
const WATCHDOG_SCRIPT: &str = r#"
exec 3<&0
program_pid=$$
( read -r _ignored <&3; kill "$program_pid" ) </dev/null >/dev/null 2>&1 &
exec "$@" </dev/null 3<&-
"#;

pub struct Registry {
    child: Child,
    watchdog_stdin: Option<ChildStdin>,
    port: u16,
    directory: PathBuf,
}

impl Registry {
    /// Starts the registry and waits until it answers `GET /v2/`. Panics with
    /// the registry's log if it does not start in time.
    pub fn start() -> Registry {
        let directory = unique_work_dir();
        let config_path = directory.join("config.yml");
        let log_path = directory.join("registry.log");
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:0\n  secret: test-registry-upload-state\n",
            directory.join("storage").display()
        );
        fs::write(&config_path, config).expect("write the registry configuration");

        let log = fs::File::create(&log_path).expect("create registry.log");
        let log_for_stderr = log.try_clone().expect("clone the registry.log handle");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("registry-watchdog")
            .arg("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_for_stderr))
            .spawn()
            .unwrap_or_else(|error| {
                panic!("failed to start docker-registry: {error}; run scripts/setup-istio-tools.sh")
            });
        let watchdog_stdin = child.stdin.take();

        let mut registry = Registry {
            child,
            watchdog_stdin,
            port: 0,
            directory,
        };
        registry.port = registry.wait_for_port();
        registry.wait_until_serving();
        registry
    }

    /// Reads the port from the registry's `listening on 127.0.0.1:PORT` line.
    fn wait_for_port(&mut self) -> u16 {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited with {status}\n{}", self.log());
            }
            let port = self.log().lines().find_map(|line| {
                let (_, after) = line.split_once("listening on 127.0.0.1:")?;
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u16>().ok()
            });
            if let Some(port) = port {
                return port;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not report its port within {STARTUP_TIMEOUT:?}\n{}",
            self.log()
        );
    }

    fn wait_until_serving(&self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(response) = self.get("/v2/", &[]) {
                if response.status == 200 {
                    return;
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not answer GET /v2/ within {STARTUP_TIMEOUT:?}\n{}",
            self.log()
        );
    }

    /// Returns `127.0.0.1:PORT`, the registry part of an image reference.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends a GET to the registry's HTTP API.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<http::Response> {
        let request = http::request_bytes("GET", path, headers, b"");
        http::exchange(self.port, &request)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.directory.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
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
            eprintln!(
                "--- docker-registry log ---\n{}\n--- end of docker-registry log ---",
                self.log()
            );
        } else {
            let _ = fs::remove_dir_all(&self.directory);
        }
    }
}
