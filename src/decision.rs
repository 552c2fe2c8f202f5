//! The answer to a valid notification: `ok`, or the end of the maintenance
//! chain that contains now, capped and rounded up to the second.

use crate::config::Snapshot;
use crate::index::RuleIndexEntry;
use crate::notification::Notification;
use crate::site::Target;
use crate::timestamp::{ceil_to_second, format_utc};
use crate::window::{UnixNanos, Window};

/// Upper bound on the chain-extension steps for one notification. Each step
/// extends the chain by at least one window, so only a chain of more than this
/// many pieces inside the cap is cut short, and then the answer is earlier
/// than the true end, never later.
const MAX_CHAIN_STEPS: usize = 4096;

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

    for _ in 0..MAX_CHAIN_STEPS {
        if end >= horizon {
            break;
        }
        let extensions = collect_windows(snapshot, rules, end, end + gap, &mut scratch);
        let next_end = extensions
            .iter()
            .map(|(_, window)| window.end)
            .max()
            .unwrap_or(end);
        if next_end <= end {
            break;
        }
        chain_pieces.extend(
            extensions
                .into_iter()
                .filter(|(_, window)| window.end > end),
        );
        end = next_end;
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
