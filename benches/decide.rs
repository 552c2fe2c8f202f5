//! Host benchmark of one notification against many rules: 100 recurring
//! rules in different zones that match it, and 10,000 site rules that do not.

// A benchmark fails loudly when its setup is wrong.
#![allow(clippy::panic, clippy::indexing_slicing, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

use downtime_responder::config::Snapshot;
use downtime_responder::decision::decide;
use downtime_responder::notification;
use downtime_responder::request::answer_body;
use downtime_responder::timestamp::parse_rfc3339;

const ZONES: [&str; 10] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Europe/London",
    "America/Sao_Paulo",
    "Pacific/Chatham",
];

const BODY: &[u8] = br#"{"ts":1385139152,"url":"https:\/\/www.example.com\/store","code":503,"host":"examplehost","type":"http"}"#;

fn configuration() -> Snapshot {
    let mut rules: Vec<Value> = Vec::with_capacity(10_100);
    for position in 0..100 {
        let zone = ZONES[position % ZONES.len()];
        let start_hour = position % 24;
        rules.push(json!({
            "id": format!("recurring-{position}"),
            "sites": ["example.com"],
            "time_intervals": [{
                "weekdays": ["monday:friday"],
                "times": [{"start_time": format!("{start_hour:02}:00"), "end_time": format!("{:02}:30", start_hour)}],
                "location": zone,
            }],
        }));
    }
    for position in 0..10_000 {
        rules.push(json!({
            "id": format!("site-{position}"),
            "sites": [format!("site-{position}.example.net")],
            "start": "2026-12-01T00:00:00Z",
            "end": "2026-12-31T00:00:00Z",
        }));
    }
    let document = json!({"webhook": {"path": "/jetpack/monitor"}, "rules": rules}).to_string();
    match Snapshot::from_json(document.as_bytes()) {
        Ok(snapshot) => snapshot,
        Err(errors) => panic!("benchmark configuration is invalid: {errors:?}"),
    }
}

fn benchmark(criterion: &mut Criterion) {
    let snapshot = configuration();
    let notification = notification::parse(BODY).unwrap_or_else(|error| panic!("{error}"));
    // A Wednesday at 10:15 UTC: some of the 100 rules are active in their zones.
    let now = parse_rfc3339("2026-12-02T10:15:00Z").unwrap_or_else(|error| panic!("{error}"));
    let answer = decide(&snapshot, &notification, now);
    assert_eq!(answer.matched.len(), 100, "all recurring rules must match");

    criterion.bench_function(
        "decide, 100 matching recurring rules + 10k others",
        |bench| {
            bench.iter(|| {
                decide(
                    black_box(&snapshot),
                    black_box(&notification),
                    black_box(now),
                )
            })
        },
    );
    criterion.bench_function("parse and decide, same rules", |bench| {
        bench.iter(|| answer_body(black_box(&snapshot), black_box(BODY), black_box(now)))
    });
    criterion.bench_function("parse and decide, no matching rule", |bench| {
        let other = br#"{"url":"https://unknown.example.org/","code":503}"#;
        bench.iter(|| answer_body(black_box(&snapshot), black_box(other), black_box(now)))
    });
}

criterion_group!(benches, benchmark);
criterion_main!(benches);
