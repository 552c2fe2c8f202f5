//! The answer to a valid notification: `ok`, or the end of the maintenance
//! chain that contains now, capped and rounded up to the second.

use crate::config::Snapshot;
use crate::index::RuleIndexEntry;
use crate::notification::Notification;
use crate::site::Target;
use crate::timestamp::{ceil_to_second, format_utc};
use crate::window::{UnixNanos, Window};

/// Length of the first range the chain walk expands past the end of the
/// block that contains now. Each further range is twice as long, so a chain
/// of many short pieces costs a few expansions per rule, not one per piece.
const FIRST_CHAIN_STEP: UnixNanos = 3_600 * crate::window::NANOS_PER_SECOND;

/// Upper bound on the chain-walk steps. With ranges that double from one hour,
/// 24 steps cover far more than the longest allowed cap (31 days).
const MAX_CHAIN_STEPS: usize = 24;

/// What happened to a request, as counted in metrics and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Suppressed,
    DryRun,
    Invalid,
    Forbidden,
    MethodNotAllowed,
    TooLarge,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::Suppressed,
        Outcome::DryRun,
        Outcome::Invalid,
        Outcome::Forbidden,
        Outcome::MethodNotAllowed,
        Outcome::TooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Suppressed => "suppressed",
            Outcome::DryRun => "dry_run",
            Outcome::Invalid => "invalid",
            Outcome::Forbidden => "forbidden",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::TooLarge => "too_large",
        }
    }
}

/// A merged run of windows that contains now. `pieces` lists every window
/// that formed it, with the rule it came from, so the CLI can explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub end: UnixNanos,
    pub pieces: Vec<(RuleIndexEntry, Window)>,
}

impl Chain {
    /// Returns the rule positions that contributed, each once, in rule order.
    pub fn rules(&self) -> Vec<RuleIndexEntry> {
        let mut rules: Vec<RuleIndexEntry> = self.pieces.iter().map(|(rule, _)| *rule).collect();
        rules.sort_unstable();
        rules.dedup();
        rules
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `Ok`, `Suppressed` or `DryRun`.
    pub outcome: Outcome,
    /// The answer's timestamp in whole seconds, when suppressed.
    pub until: Option<i64>,
    /// What a dry-run rule (or global dry run) would have answered.
    pub would_suppress_until: Option<i64>,
    /// The rules that matched the notification.
    pub matched: Vec<RuleIndexEntry>,
    /// The chain that decided the answer (or the dry-run chain).
    pub chain: Option<Chain>,
}

impl Decision {
    /// Returns the response body: exactly `ok` or the UTC timestamp.
    pub fn body(&self) -> String {
        self.until
            .and_then(format_utc)
            .unwrap_or_else(|| "ok".to_string())
    }

    /// Returns the ids of the rules that decided the answer.
    pub fn rule_ids<'a>(&self, snapshot: &'a Snapshot) -> Vec<&'a str> {
        self.chain
            .iter()
            .flat_map(Chain::rules)
            .filter_map(|rule| snapshot.rules.get(rule as usize))
            .map(|rule| rule.id.as_str())
            .collect()
    }
}

/// Decides the answer at `now`, the proxy's clock; the payload's `ts` plays
/// no part, so a delayed notification is judged by the current rules.
pub fn decide(snapshot: &Snapshot, notification: &Notification, now: UnixNanos) -> Decision {
    let target = Target::from_url(&notification.url);
    let mut matched = Vec::new();
    snapshot
        .index
        .matching_rules(&target, notification.host.as_deref(), &mut matched);

    let mut decision = Decision {
        outcome: Outcome::Ok,
        until: None,
        would_suppress_until: None,
        matched,
        chain: None,
    };
    if notification.is_success() || decision.matched.is_empty() {
        return decision;
    }

    let live: Vec<RuleIndexEntry> = if snapshot.dry_run {
        Vec::new()
    } else {
        decision
            .matched
            .iter()
            .copied()
            .filter(|rule| {
                snapshot
                    .rules
                    .get(*rule as usize)
                    .is_some_and(|rule| !rule.dry_run)
            })
            .collect()
    };

    if let Some(chain) = find_chain(snapshot, &live, now) {
        decision.outcome = Outcome::Suppressed;
        decision.until = Some(answer_seconds(snapshot, chain.end, now));
        decision.chain = Some(chain);
        return decision;
    }

    // Dry-run rules answer as if every matching rule were live.
    if live.len() < decision.matched.len() {
        if let Some(chain) = find_chain(snapshot, &decision.matched, now) {
            decision.outcome = Outcome::DryRun;
            decision.would_suppress_until = Some(answer_seconds(snapshot, chain.end, now));
            decision.chain = Some(chain);
        }
    }
    decision
}

/// Caps a chain end at now + `max_suppression_seconds` and rounds it up to
/// the second. Validation keeps the cap at one second or more, so the result
/// is always after now.
fn answer_seconds(snapshot: &Snapshot, end: UnixNanos, now: UnixNanos) -> i64 {
    ceil_to_second(end.min(now + snapshot.max_suppression))
}

/// Finds the merged block of windows of `rules` that contains `now`, joining
/// overlaps and gaps of at most `chain_gap_seconds`, and follows it forward
/// until it ends or reaches the cap.
pub fn find_chain(snapshot: &Snapshot, rules: &[RuleIndexEntry], now: UnixNanos) -> Option<Chain> {
    let gap = snapshot.chain_gap;
    let horizon = now + snapshot.max_suppression;
    let mut scratch = Vec::new();

    // A block contains now only through a window that touches [now - gap, now + gap]:
    // one covering now, or two on either side of a gap that spans now.
    let mut pieces = collect_windows(snapshot, rules, now - gap, now + gap, &mut scratch);
    pieces.sort_unstable_by_key(|(rule, window)| (window.start, window.end, *rule));
    let (mut end, mut chain_pieces) = block_containing(&pieces, gap, now)?;

    let mut step = FIRST_CHAIN_STEP;
    for _ in 0..MAX_CHAIN_STEPS {
        if end >= horizon {
            break;
        }
        let to = end + gap + step;
        let mut candidates = collect_windows(snapshot, rules, end, to, &mut scratch);
        candidates.sort_unstable_by_key(|(rule, window)| (window.start, window.end, *rule));
        for (rule, window) in candidates {
            if window.start > end + gap {
                break;
            }
            if window.end > end {
                end = window.end;
                chain_pieces.push((rule, window));
            }
        }

        // Every window that starts before `to` was seen, so a chain that
        // stops short of it has ended.
        if end + gap < to {
            break;
        }
        step *= 2;
    }

    Some(Chain {
        end,
        pieces: chain_pieces,
    })
}

fn collect_windows(
    snapshot: &Snapshot,
    rules: &[RuleIndexEntry],
    from: UnixNanos,
    to: UnixNanos,
    scratch: &mut Vec<Window>,
) -> Vec<(RuleIndexEntry, Window)> {
    let mut collected = Vec::new();
    for &rule in rules {
        let Some(compiled) = snapshot.rules.get(rule as usize) else {
            continue;
        };
        scratch.clear();
        compiled.schedule.windows_touching(from, to, scratch);
        collected.extend(scratch.iter().map(|window| (rule, *window)));
    }
    collected
}

/// Merges windows sorted by start and returns the end and the pieces of the
/// block that contains `now`, if any.
fn block_containing(
    sorted: &[(RuleIndexEntry, Window)],
    gap: UnixNanos,
    now: UnixNanos,
) -> Option<(UnixNanos, Vec<(RuleIndexEntry, Window)>)> {
    let mut position = 0;
    while position < sorted.len() {
        let (_, first) = sorted.get(position)?;
        let mut end = first.end;
        let mut next = position + 1;
        while let Some((_, window)) = sorted.get(next) {
            if window.start > end + gap {
                break;
            }
            end = end.max(window.end);
            next += 1;
        }
        if first.start <= now && now < end {
            return Some((end, sorted.get(position..next)?.to_vec()));
        }
        position = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification;
    use crate::timestamp::parse_rfc3339;

    fn at(text: &str) -> UnixNanos {
        parse_rfc3339(text).unwrap()
    }

    fn snapshot(settings: &str, rules: &str) -> Snapshot {
        let document = format!(r#"{{"webhook":{{"path":"/hook"}}{settings},"rules":[{rules}]}}"#);
        Snapshot::from_json(document.as_bytes()).unwrap_or_else(|errors| panic!("{errors:?}"))
    }

    fn notify(url: &str, code: u16) -> Notification {
        let body = format!(r#"{{"url":"{url}","code":{code},"host":"examplehost"}}"#);
        notification::parse(body.as_bytes()).unwrap()
    }

    fn answer(snapshot: &Snapshot, url: &str, code: u16, now: &str) -> String {
        decide(snapshot, &notify(url, code), at(now)).body()
    }

    const KERNEL: &str = r#"{"id":"kernel","sites":["example.com"],"start":"2026-12-05T01:00:00Z","end":"2026-12-05T03:00:00Z"}"#;

    #[test]
    fn inside_window_answers_its_end() {
        let rules = snapshot("", KERNEL);
        assert_eq!(
            answer(&rules, "http://example.com", 503, "2026-12-05T02:00:00Z"),
            "2026-12-05T03:00:00Z"
        );
        let decision = decide(
            &rules,
            &notify("http://example.com", 503),
            at("2026-12-05T02:00:00Z"),
        );
        assert_eq!(decision.outcome, Outcome::Suppressed);
        assert_eq!(decision.rule_ids(&rules), ["kernel"]);
    }

    #[test]
    fn windows_are_half_open() {
        let rules = snapshot("", KERNEL);
        assert_eq!(
            answer(&rules, "http://example.com", 503, "2026-12-05T01:00:00Z"),
            "2026-12-05T03:00:00Z"
        );
        assert_eq!(
            answer(
                &rules,
                "http://example.com",
                503,
                "2026-12-05T00:59:59.999Z"
            ),
            "ok"
        );
        assert_eq!(
            answer(&rules, "http://example.com", 503, "2026-12-05T03:00:00Z"),
            "ok"
        );
    }

    #[test]
    fn success_codes_answer_ok() {
        let rules = snapshot("", KERNEL);
        for code in [200, 204, 299] {
            assert_eq!(
                answer(&rules, "http://example.com", code, "2026-12-05T02:00:00Z"),
                "ok"
            );
        }
        for code in [0, 199, 300, 503] {
            assert_ne!(
                answer(&rules, "http://example.com", code, "2026-12-05T02:00:00Z"),
                "ok"
            );
        }
    }

    #[test]
    fn other_sites_answer_ok() {
        let rules = snapshot("", KERNEL);
        assert_eq!(
            answer(&rules, "http://example.net", 503, "2026-12-05T02:00:00Z"),
            "ok"
        );
    }

    #[test]
    fn back_to_back_windows_chain() {
        let rules = snapshot(
            "",
            r#"{"id":"first","all":true,"start":"2026-12-05T10:00:00Z","end":"2026-12-05T12:00:00Z"},
               {"id":"second","all":true,"start":"2026-12-05T12:00:00Z","end":"2026-12-05T14:00:00Z"}"#,
        );
        assert_eq!(
            answer(&rules, "http://a.test", 500, "2026-12-05T11:00:00Z"),
            "2026-12-05T14:00:00Z"
        );
        let decision = decide(
            &rules,
            &notify("http://a.test", 500),
            at("2026-12-05T11:00:00Z"),
        );
        assert_eq!(decision.rule_ids(&rules), ["first", "second"]);
    }

    #[test]
    fn overlapping_windows_of_different_rules_chain() {
        let rules = snapshot(
            "",
            r#"{"id":"site","sites":["example.com"],"start":"2026-12-05T10:00:00Z","end":"2026-12-05T12:00:00Z"},
               {"id":"host","hosts":["ExampleHost"],"start":"2026-12-05T11:30:00Z","end":"2026-12-05T13:00:00Z"},
               {"id":"later","all":true,"start":"2026-12-05T12:59:59Z","end":"2026-12-05T15:00:00Z"}"#,
        );
        assert_eq!(
            answer(&rules, "http://example.com", 500, "2026-12-05T10:30:00Z"),
            "2026-12-05T15:00:00Z"
        );
    }

    #[test]
    fn gaps_break_chains_unless_within_chain_gap() {
        let windows = r#"{"id":"first","all":true,"start":"2026-12-05T10:00:00Z","end":"2026-12-05T12:00:00Z"},
               {"id":"second","all":true,"start":"2026-12-05T12:05:00Z","end":"2026-12-05T14:00:00Z"}"#;
        let strict = snapshot("", windows);
        assert_eq!(
            answer(&strict, "http://a.test", 500, "2026-12-05T11:00:00Z"),
            "2026-12-05T12:00:00Z"
        );
        assert_eq!(
            answer(&strict, "http://a.test", 500, "2026-12-05T12:02:00Z"),
            "ok"
        );

        let joined = snapshot(r#","chain_gap_seconds":300"#, windows);
        assert_eq!(
            answer(&joined, "http://a.test", 500, "2026-12-05T11:00:00Z"),
            "2026-12-05T14:00:00Z"
        );
        assert_eq!(
            answer(&joined, "http://a.test", 500, "2026-12-05T12:02:00Z"),
            "2026-12-05T14:00:00Z"
        );

        let short = snapshot(r#","chain_gap_seconds":299"#, windows);
        assert_eq!(
            answer(&short, "http://a.test", 500, "2026-12-05T11:00:00Z"),
            "2026-12-05T12:00:00Z"
        );
    }

    #[test]
    fn answer_is_capped() {
        let rules = snapshot(
            r#","max_suppression_seconds":3600"#,
            r#"{"id":"long","all":true,"start":"2026-12-01T00:00:00Z","end":"9999-12-31T00:00:00Z"}"#,
        );
        assert_eq!(
            answer(&rules, "http://a.test", 500, "2026-12-05T11:00:00Z"),
            "2026-12-05T12:00:00Z"
        );

        let default_cap = snapshot(
            "",
            r#"{"id":"long","all":true,"start":"2026-12-01T00:00:00Z","end":"2027-01-01T00:00:00Z"}"#,
        );
        assert_eq!(
            answer(&default_cap, "http://a.test", 500, "2026-12-05T11:00:00Z"),
            "2026-12-06T11:00:00Z"
        );
    }

    #[test]
    fn answer_rounds_up_to_the_second() {
        let rules = snapshot(
            "",
            r#"{"id":"a","all":true,"start":"2026-12-05T10:00:00Z","end":"2026-12-05T12:00:00.001Z"}"#,
        );
        assert_eq!(
            answer(&rules, "http://a.test", 500, "2026-12-05T11:00:00Z"),
            "2026-12-05T12:00:01Z"
        );

        let capped = snapshot(
            r#","max_suppression_seconds":1"#,
            r#"{"id":"a","all":true,"start":"2026-12-05T10:00:00Z","end":"2026-12-05T12:00:00Z"}"#,
        );
        assert_eq!(
            answer(&capped, "http://a.test", 500, "2026-12-05T11:00:00.5Z"),
            "2026-12-05T11:00:02Z"
        );
    }

    #[test]
    fn answer_is_never_at_or_before_now() {
        let rules = snapshot(
            r#","max_suppression_seconds":1"#,
            r#"{"id":"a","all":true,"start":"2026-12-05T10:00:00Z","end":"2026-12-05T10:00:00.000000001Z"}"#,
        );
        let now = at("2026-12-05T10:00:00Z");
        let decision = decide(&rules, &notify("http://a.test", 500), now);
        let until = decision.until.unwrap();
        assert!(UnixNanos::from(until) * crate::window::NANOS_PER_SECOND > now);
        assert_eq!(decision.body(), "2026-12-05T10:00:01Z");
    }

    #[test]
    fn dry_run_rule_answers_ok_and_records_would_suppress() {
        let rules = snapshot(
            "",
            r#"{"id":"trial","all":true,"dry_run":true,"start":"2026-12-05T10:00:00Z","end":"2026-12-05T12:00:00Z"}"#,
        );
        let decision = decide(
            &rules,
            &notify("http://a.test", 500),
            at("2026-12-05T11:00:00Z"),
        );
        assert_eq!(decision.body(), "ok");
        assert_eq!(decision.outcome, Outcome::DryRun);
        assert_eq!(
            decision
                .would_suppress_until
                .and_then(format_utc)
                .as_deref(),
            Some("2026-12-05T12:00:00Z")
        );
        assert_eq!(decision.rule_ids(&rules), ["trial"]);
    }

    #[test]
    fn global_dry_run_answers_ok() {
        let rules = snapshot(r#","dry_run":true"#, KERNEL);
        let decision = decide(
            &rules,
            &notify("http://example.com", 500),
            at("2026-12-05T02:00:00Z"),
        );
        assert_eq!(decision.body(), "ok");
        assert_eq!(decision.outcome, Outcome::DryRun);
        assert_eq!(
            decision
                .would_suppress_until
                .and_then(format_utc)
                .as_deref(),
            Some("2026-12-05T03:00:00Z")
        );
    }

    #[test]
    fn live_rule_answers_while_dry_rule_does_not_extend() {
        let rules = snapshot(
            "",
            r#"{"id":"live","all":true,"start":"2026-12-05T10:00:00Z","end":"2026-12-05T12:00:00Z"},
               {"id":"trial","all":true,"dry_run":true,"start":"2026-12-05T11:00:00Z","end":"2026-12-05T16:00:00Z"}"#,
        );
        let decision = decide(
            &rules,
            &notify("http://a.test", 500),
            at("2026-12-05T11:00:00Z"),
        );
        assert_eq!(decision.body(), "2026-12-05T12:00:00Z");
        assert_eq!(decision.outcome, Outcome::Suppressed);
        assert_eq!(decision.rule_ids(&rules), ["live"]);
    }

    #[test]
    fn payload_ts_is_ignored() {
        let rules = snapshot("", KERNEL);
        let body = r#"{"url":"http://example.com","code":500,"ts":1385139152}"#;
        let notification = notification::parse(body.as_bytes()).unwrap();
        let decision = decide(&rules, &notification, at("2026-12-05T02:00:00Z"));
        assert_eq!(decision.body(), "2026-12-05T03:00:00Z");
    }
}

/// Answer-level checks for recurring rules and properties that compare
/// `decide` with a brute-force merge of every window around now.
#[cfg(test)]
mod recurring_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::notification;
    use crate::timestamp::parse_rfc3339;
    use crate::window::NANOS_PER_SECOND;

    fn snapshot(document: &str) -> Snapshot {
        Snapshot::from_json(document.as_bytes())
            .unwrap_or_else(|errors| panic!("{errors:?}\n{document}"))
    }

    fn answer_at(snapshot: &Snapshot, now: &str) -> String {
        let notification =
            notification::parse(br#"{"url":"http://example.com","code":503}"#).unwrap();
        decide(snapshot, &notification, parse_rfc3339(now).unwrap()).body()
    }

    #[test]
    fn berlin_weekly_window_across_dst_sundays() {
        let rules = snapshot(
            r#"{"webhook":{"path":"/h"},"rules":[{"id":"weekly-db","all":true,"time_intervals":[
                {"weekdays":["sunday"],"times":[{"start_time":"02:00","end_time":"04:00"}],"location":"Europe/Berlin"}]}]}"#,
        );
        // Spring forward, 2026-03-29: local 02:00 does not exist, so the window is 03:00-04:00 CEST.
        assert_eq!(answer_at(&rules, "2026-03-29T00:59:59Z"), "ok");
        assert_eq!(
            answer_at(&rules, "2026-03-29T01:00:00Z"),
            "2026-03-29T02:00:00Z"
        );
        assert_eq!(answer_at(&rules, "2026-03-29T02:00:00Z"), "ok");
        // Fall back, 2026-10-25: from the first 02:00 (CEST) to 04:00 CET.
        assert_eq!(answer_at(&rules, "2026-10-24T23:59:59Z"), "ok");
        assert_eq!(
            answer_at(&rules, "2026-10-25T00:00:00Z"),
            "2026-10-25T03:00:00Z"
        );
        assert_eq!(
            answer_at(&rules, "2026-10-25T02:30:00Z"),
            "2026-10-25T03:00:00Z"
        );
        assert_eq!(answer_at(&rules, "2026-10-25T03:00:00Z"), "ok");
    }

    #[test]
    fn window_across_midnight_chains_to_its_end() {
        let rules = snapshot(
            r#"{"webhook":{"path":"/h"},"rules":[{"id":"night","all":true,"time_intervals":[
                {"weekdays":["friday"],"times":[{"start_time":"22:00","end_time":"24:00"}]},
                {"weekdays":["saturday"],"times":[{"start_time":"00:00","end_time":"02:00"}]}]}]}"#,
        );
        // 2026-12-04 is a Friday.
        assert_eq!(
            answer_at(&rules, "2026-12-04T22:30:00Z"),
            "2026-12-05T02:00:00Z"
        );
        assert_eq!(
            answer_at(&rules, "2026-12-05T01:00:00Z"),
            "2026-12-05T02:00:00Z"
        );
        assert_eq!(answer_at(&rules, "2026-12-05T02:00:00Z"), "ok");
    }

    #[test]
    fn friday_evening_to_sunday_evening() {
        let rules = snapshot(
            r#"{"webhook":{"path":"/h"},"max_suppression_seconds":259200,"rules":[{"id":"weekend","all":true,"time_intervals":[
                {"weekdays":["friday"],"times":[{"start_time":"18:00","end_time":"24:00"}],"location":"Europe/Berlin"},
                {"weekdays":["saturday"],"location":"Europe/Berlin"},
                {"weekdays":["sunday"],"times":[{"start_time":"00:00","end_time":"18:00"}],"location":"Europe/Berlin"}]}]}"#,
        );
        // Friday 2026-12-04 18:00 CET is 17:00Z; Sunday 18:00 CET is 17:00Z.
        assert_eq!(answer_at(&rules, "2026-12-04T16:59:59Z"), "ok");
        assert_eq!(
            answer_at(&rules, "2026-12-04T17:00:00Z"),
            "2026-12-06T17:00:00Z"
        );
        assert_eq!(
            answer_at(&rules, "2026-12-05T12:00:00Z"),
            "2026-12-06T17:00:00Z"
        );
        assert_eq!(answer_at(&rules, "2026-12-06T17:00:00Z"), "ok");

        // With the default one-day cap the answer stops a day after now.
        let capped = snapshot(
            r#"{"webhook":{"path":"/h"},"rules":[{"id":"weekend","all":true,"time_intervals":[
                {"weekdays":["friday"],"times":[{"start_time":"18:00","end_time":"24:00"}],"location":"Europe/Berlin"},
                {"weekdays":["saturday"],"location":"Europe/Berlin"},
                {"weekdays":["sunday"],"times":[{"start_time":"00:00","end_time":"18:00"}],"location":"Europe/Berlin"}]}]}"#,
        );
        assert_eq!(
            answer_at(&capped, "2026-12-04T17:00:00Z"),
            "2026-12-05T17:00:00Z"
        );
        assert_eq!(
            answer_at(&capped, "2026-12-06T10:00:00Z"),
            "2026-12-06T17:00:00Z"
        );
    }

    #[test]
    fn recurring_and_one_off_rules_chain() {
        let rules = snapshot(
            r#"{"webhook":{"path":"/h"},"rules":[
                {"id":"patch-night","all":true,"time_intervals":[{"days_of_month":["-1"],"times":[{"start_time":"20:00","end_time":"23:00"}]}]},
                {"id":"overrun","sites":["example.com"],"start":"2026-12-31T23:00:00Z","end":"2027-01-01T01:30:00Z"}]}"#,
        );
        assert_eq!(
            answer_at(&rules, "2026-12-31T21:00:00Z"),
            "2027-01-01T01:30:00Z"
        );
        assert_eq!(
            answer_at(&rules, "2026-11-30T21:00:00Z"),
            "2026-11-30T23:00:00Z"
        );
        assert_eq!(answer_at(&rules, "2026-12-30T21:00:00Z"), "ok");
    }

    #[test]
    fn sparse_schedule_answers_ok() {
        let rules = snapshot(
            r#"{"webhook":{"path":"/h"},"rules":[
                {"id":"far","all":true,"time_intervals":[{"years":["2031"]}]},
                {"id":"never","all":true,"time_intervals":[{"months":["february"],"days_of_month":["30"]}]}]}"#,
        );
        assert_eq!(answer_at(&rules, "2026-12-05T02:00:00Z"), "ok");
        assert_eq!(
            answer_at(&rules, "2031-06-01T00:00:00Z"),
            "2031-06-02T00:00:00Z"
        );
    }

    const ZONES: [&str; 5] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
    ];
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    /// Instants near DST changes in the zones above, so the properties cross them.
    const BASES: [&str; 4] = [
        "2026-03-29T01:00:00Z",
        "2026-10-25T01:00:00Z",
        "2026-04-05T15:00:00Z",
        "2026-12-05T12:00:00Z",
    ];

    /// A generated rule: a one-off window in minutes from the base instant,
    /// or a weekly interval in one of `ZONES`.
    #[derive(Debug, Clone)]
    enum RuleShape {
        OneOff {
            start_minutes: i64,
            length_minutes: i64,
            millis: i64,
        },
        Weekly {
            days: Vec<usize>,
            start_minute: u32,
            end_minute: u32,
            zone: usize,
        },
    }

    fn rule_shape() -> impl Strategy<Value = RuleShape> {
        let one_off = (-4_000i64..4_000, 1i64..1_200, 0i64..1_000).prop_map(
            |(start_minutes, length_minutes, millis)| RuleShape::OneOff {
                start_minutes,
                length_minutes,
                millis,
            },
        );
        let weekly = (
            proptest::collection::vec(0usize..7, 1..4),
            0u32..96,
            1u32..97,
            0usize..ZONES.len(),
        )
            .prop_map(|(days, start_quarter, length_quarters, zone)| {
                let start_minute = start_quarter * 15;
                let end_minute = (start_minute + length_quarters * 15).min(24 * 60);
                RuleShape::Weekly {
                    days,
                    start_minute,
                    end_minute,
                    zone,
                }
            });
        prop_oneof![one_off, weekly]
    }

    fn render_rule(position: usize, shape: &RuleShape, base: UnixNanos) -> serde_json::Value {
        let id = format!("r{position}");
        match shape {
            RuleShape::OneOff {
                start_minutes,
                length_minutes,
                millis,
            } => {
                let start = base
                    + UnixNanos::from(*start_minutes) * 60 * NANOS_PER_SECOND
                    + UnixNanos::from(*millis) * 1_000_000;
                let end = start + UnixNanos::from(*length_minutes) * 60 * NANOS_PER_SECOND;
                serde_json::json!({
                    "id": id, "all": true,
                    "start": crate::timestamp::format_instant(start),
                    "end": crate::timestamp::format_instant(end),
                })
            }
            RuleShape::Weekly {
                days,
                start_minute,
                end_minute,
                zone,
            } => {
                let weekdays: Vec<&str> = days.iter().map(|day| DAYS[*day]).collect();
                let clock = |minute: u32| format!("{:02}:{:02}", minute / 60, minute % 60);
                serde_json::json!({
                    "id": id, "all": true,
                    "time_intervals": [{
                        "weekdays": weekdays,
                        "times": [{"start_time": clock(*start_minute), "end_time": clock(*end_minute)}],
                        "location": ZONES[*zone],
                    }],
                })
            }
        }
    }

    fn document(shapes: &[RuleShape], base: UnixNanos, gap: u64, cap: u64) -> String {
        let rules: Vec<serde_json::Value> = shapes
            .iter()
            .enumerate()
            .map(|(position, shape)| render_rule(position, shape, base))
            .collect();
        serde_json::json!({
            "webhook": {"path": "/h"},
            "chain_gap_seconds": gap,
            "max_suppression_seconds": cap,
            "rules": rules,
        })
        .to_string()
    }

    /// Merges every window of every rule around now, without the chain walk
    /// `decide` uses, and returns the end of the block that contains now.
    fn brute_force_end(snapshot: &Snapshot, now: UnixNanos) -> Option<UnixNanos> {
        let margin = 3 * 86_400 * NANOS_PER_SECOND;
        let mut windows = Vec::new();
        for rule in &snapshot.rules {
            rule.schedule.windows_touching(
                now - margin,
                now + snapshot.max_suppression + margin,
                &mut windows,
            );
        }
        windows.sort_unstable();

        let mut blocks: Vec<Window> = Vec::new();
        for window in windows {
            match blocks.last_mut() {
                Some(block) if window.start <= block.end + snapshot.chain_gap => {
                    block.end = block.end.max(window.end)
                }
                _ => blocks.push(window),
            }
        }
        blocks
            .iter()
            .find(|block| block.start <= now && now < block.end)
            .map(|block| block.end)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn answer_matches_brute_force_chain(
            rules in proptest::collection::vec(rule_shape(), 1..6),
            base in 0usize..BASES.len(),
            offset_seconds in -2i64 * 86_400..2 * 86_400,
            offset_nanos in 0i64..1_000_000_000,
            gap in prop_oneof![Just(0u64), 0u64..7_200],
            cap in prop_oneof![Just(86_400u64), 1u64..400_000],
        ) {
            let base_instant = parse_rfc3339(BASES[base]).unwrap();
            let snapshot = snapshot(&document(&rules, base_instant, gap, cap));
            let now = base_instant + UnixNanos::from(offset_seconds) * NANOS_PER_SECOND + UnixNanos::from(offset_nanos);
            let notification = notification::parse(br#"{"url":"http://example.com","code":500}"#).unwrap();

            let decision = decide(&snapshot, &notification, now);
            let expected_end = brute_force_end(&snapshot, now);

            let cap_instant = now + snapshot.max_suppression;
            match (decision.until, expected_end) {
                (None, None) => prop_assert_eq!(decision.body(), "ok"),
                (Some(until), Some(end)) => {
                    let until_nanos = UnixNanos::from(until) * NANOS_PER_SECOND;
                    prop_assert!(until_nanos > now, "answer {} is not after now {}", until, now);
                    prop_assert!(until_nanos < cap_instant + NANOS_PER_SECOND, "answer {} is past the cap", until);
                    prop_assert_eq!(until, ceil_to_second(end.min(cap_instant)));
                    prop_assert_eq!(decision.chain.as_ref().map(|chain| chain.end.min(cap_instant)), Some(end.min(cap_instant)));
                }
                (until, end) => prop_assert!(false, "decide gave {:?}, brute force {:?}", until, end),
            }
        }
    }
}
