//! Decides an arbitrary notification from an arbitrary configuration at an
//! arbitrary time, and checks the invariants of every reply.
//!
//! Input layout: 8 bytes of seconds and 4 bytes of nanoseconds (both little
//! endian, reduced into range), then the configuration JSON, a NUL byte, and
//! the notification body. Time runs from 1970 to the last instant whose
//! reply timestamp, at most 31 days later, still has a four-digit year.
//!
//! Invariants: the status is 200, 400 or 413. A 200 body is exactly `ok` or a
//! UTC timestamp after now and not past now plus `max_suppression_seconds`
//! (rounded up to the second). A timestamp names at least one rule, and a
//! code in 200..=299 always gets `ok`.

#![no_main]

use downtime_responder::config::{Snapshot, MAX_SUPPRESSION_SECONDS_LIMIT};
use downtime_responder::decision::Outcome;
use downtime_responder::request::answer_body;
use downtime_responder::timestamp::{ceil_to_second, parse_rfc3339};
use downtime_responder::window::{UnixNanos, NANOS_PER_SECOND};
use libfuzzer_sys::fuzz_target;

/// 9999-12-31T23:59:59Z.
const LAST_FORMATTABLE_SECOND: u64 = 253_402_300_799;
const LAST_NOW_SECOND: u64 = LAST_FORMATTABLE_SECOND - MAX_SUPPRESSION_SECONDS_LIMIT - 1;

fn split_input(data: &[u8]) -> Option<(UnixNanos, &[u8], &[u8])> {
    let seconds = u64::from_le_bytes(data.get(..8)?.try_into().ok()?) % (LAST_NOW_SECOND + 1);
    let nanos = u32::from_le_bytes(data.get(8..12)?.try_into().ok()?) % 1_000_000_000;
    let now = UnixNanos::from(seconds) * NANOS_PER_SECOND + UnixNanos::from(nanos);

    let rest = data.get(12..)?;
    let separator = rest.iter().position(|byte| *byte == 0)?;
    let configuration = rest.get(..separator)?;
    let body = rest.get(separator + 1..)?;
    Some((now, configuration, body))
}

fuzz_target!(|data: &[u8]| {
    let Some((now, configuration, body)) = split_input(data) else {
        return;
    };
    let Ok(snapshot) = Snapshot::from_json(configuration) else {
        return;
    };

    let answer = answer_body(&snapshot, body, now);
    let reply = &answer.reply;

    match reply.status {
        400 | 413 => {
            assert!(
                answer.decision.is_none(),
                "a decision came with {}",
                reply.status
            );
            return;
        }
        200 => {}
        status => panic!("status {status} for a body"),
    }
    let (Some(notification), Some(decision)) = (&answer.notification, &answer.decision) else {
        panic!("200 without a notification and a decision");
    };

    if reply.body == "ok" {
        assert_ne!(
            reply.outcome,
            Outcome::Suppressed,
            "ok body with outcome suppressed"
        );
        assert_eq!(
            decision.until, None,
            "ok body with until {:?}",
            decision.until
        );
    } else {
        assert_eq!(
            reply.outcome,
            Outcome::Suppressed,
            "timestamp body {:?}",
            reply.body
        );
        assert!(
            !notification.is_success(),
            "code {} got {}",
            notification.code,
            reply.body
        );
        let until = parse_rfc3339(&reply.body)
            .unwrap_or_else(|error| panic!("body {:?} is not a timestamp: {error}", reply.body));
        assert_eq!(until % NANOS_PER_SECOND, 0, "{} has a fraction", reply.body);
        assert!(until > now, "{} is not after now {now}", reply.body);
        let cap = ceil_to_second(now + snapshot.max_suppression);
        assert!(
            until <= UnixNanos::from(cap) * NANOS_PER_SECOND,
            "{} is past the cap {cap}",
            reply.body
        );
        assert!(
            !decision.rule_ids(&snapshot).is_empty(),
            "{} names no rule",
            reply.body
        );
    }

    if let Some(would) = decision.would_suppress_until {
        assert_eq!(reply.body, "ok", "dry run got {}", reply.body);
        let would = UnixNanos::from(would) * NANOS_PER_SECOND;
        assert!(
            would > now,
            "would_suppress_until {would} is not after now {now}"
        );
        let cap = ceil_to_second(now + snapshot.max_suppression);
        assert!(
            would <= UnixNanos::from(cap) * NANOS_PER_SECOND,
            "would_suppress_until {would} is past the cap {cap}"
        );
    }
});
