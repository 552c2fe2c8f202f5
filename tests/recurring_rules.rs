//! Recurring rules deciding the answer inside a real Envoy.
//!
//! The rules select "today" in Asia/Kolkata (UTC+05:30 all year, so the test
//! needs no DST arithmetic of its own), and the expected answer is the next
//! local midnight, computed here from the clock.

// Tests report failures by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::thread;
use std::time::Duration;

use serde_json::json;

use common::http;
use common::time::format_utc;
use common::{unix_now, WebhookEnvoy, WEBHOOK_PATH};

const KOLKATA_OFFSET: i64 = 5 * 3600 + 30 * 60;
const DAY: i64 = 86_400;
const WEEKDAYS: [&str; 7] = [
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
];

/// Waits until local midnight in Kolkata is at least a minute away, so that
/// "today" cannot change between building the rules and the last request.
fn local_day_with_margin() -> i64 {
    for _ in 0..130 {
        let local = unix_now() + KOLKATA_OFFSET;
        let to_midnight = DAY - local.rem_euclid(DAY);
        if to_midnight > 60 {
            return local.div_euclid(DAY);
        }
        thread::sleep(Duration::from_secs(1));
    }
    panic!("local midnight did not pass within 130 s");
}

fn post(webhook: &WebhookEnvoy, url: &str, host: &str) -> http::Response {
    let body = json!({ "ts": unix_now(), "url": url, "code": 503, "host": host, "type": "http" });
    let request = http::request_bytes(
        "POST",
        WEBHOOK_PATH,
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    http::exchange(webhook.port(), &request).unwrap()
}

#[test]
fn recurring_rules_decide_the_answer() {
    let local_day = local_day_with_margin();
    // 1970-01-01 was a Thursday.
    let today = WEEKDAYS[local_day.rem_euclid(7) as usize];
    let tomorrow = WEEKDAYS[(local_day + 1).rem_euclid(7) as usize];
    let next_midnight = (local_day + 1) * DAY - KOLKATA_OFFSET;

    let config = json!({
        "webhook": { "path": WEBHOOK_PATH },
        "rules": [
            { "id": "today-all-day", "hosts": ["todayhost"],
              "time_intervals": [{ "weekdays": [today], "location": "Asia/Kolkata" }] },
            { "id": "tomorrow-all-day", "hosts": ["tomorrowhost"],
              "time_intervals": [{ "weekdays": [tomorrow], "location": "Asia/Kolkata" }] },
            { "id": "today-by-date", "sites": ["shop.example.com/store"],
              "time_intervals": [{ "days_of_month": [format!("{}", common::time::day_of_month(local_day))],
                                   "times": [{ "start_time": "00:00", "end_time": "24:00" }],
                                   "location": "Asia/Kolkata" }] }
        ]
    });
    let webhook = WebhookEnvoy::start(&config);

    let active = post(&webhook, "https://any.example.net/", "todayhost");
    assert_eq!(active.status, 200);
    assert_eq!(active.text(), format_utc(next_midnight));

    let inactive = post(&webhook, "https://any.example.net/", "tomorrowhost");
    assert_eq!(inactive.status, 200);
    assert_eq!(inactive.text(), "ok");

    let by_date = post(&webhook, "https://shop.example.com/store/cart", "otherhost");
    assert_eq!(by_date.text(), format_utc(next_midnight));

    let other_path = post(&webhook, "https://shop.example.com/blog", "otherhost");
    assert_eq!(other_path.text(), "ok");

    webhook.assert_webhook_never_forwarded();
}
