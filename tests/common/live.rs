//! Helpers shared by the tests of live rule updates, through ECDS and through
//! the rules source: notifications, rules with known answers, bounded waits
//! and exact text rewrites of the reference configurations.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{self, Response};
use super::time::format_utc;
use super::{unix_now, WEBHOOK_PATH};

/// Sends a downtime notification (`code` 503) for `url` on a new connection.
pub fn notify(port: u16, url: &str) -> io::Result<Response> {
    let body = json!({ "url": url, "code": 503, "type": "http" }).to_string();
    let request = http::request_bytes(
        "POST",
        WEBHOOK_PATH,
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    http::exchange(port, &request)
}

/// Returns the body of the answer to a notification for `url`, or a
/// description of the failure, so a wait loop can compare it with the
/// expected answer and a failing assert can print it.
pub fn answer(port: u16, url: &str) -> String {
    match notify(port, url) {
        Ok(response) if response.status == 200 => response.text(),
        Ok(response) => format!("status {}: {}", response.status, response.text()),
        Err(error) => format!("request failed: {error}"),
    }
}

/// A one-off rule for `site` that started an hour ago and ends at `end`
/// (Unix seconds). While `end` is less than a day away, the default
/// suppression cap does not apply, so the answer is `expected_answer(end)`.
pub fn active_rule(id: &str, site: &str, end: i64) -> Value {
    json!({
        "id": id,
        "sites": [site],
        "start": format_utc(unix_now() - 3600),
        "end": format_utc(end)
    })
}

/// Returns the answer to a notification matched by a rule that ends at `end`.
pub fn expected_answer(end: i64) -> String {
    format_utc(end)
}

/// Calls `probe` every 50 ms until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the answer for `url` equals `expected`, for at most `timeout`,
/// and returns the last answer seen.
pub fn wait_for_answer(port: u16, url: &str, expected: &str, timeout: Duration) -> String {
    let mut last = String::new();
    wait_for(timeout, || {
        last = answer(port, url);
        (last == expected).then_some(())
    });
    last
}

/// Replaces `old` with `new` in `text` (the contents of `file`), and panics
/// unless `old` occurs exactly once, so a change to a reference configuration
/// fails the test instead of leaving part of it untested.
pub fn replace_once(text: &str, old: &str, new: &str, file: &str) -> String {
    let count = text.matches(old).count();
    assert_eq!(
        count, 1,
        "{file} should contain {old:?} exactly once, found {count}"
    );
    text.replacen(old, new, 1)
}
