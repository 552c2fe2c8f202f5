//! Envoy stats for the filter. Envoy prefixes custom metrics with
//! `wasmcustom.`; the outcome is the last name segment so a `stats_tags`
//! regex can turn it into a label. Every worker VM defines the same names,
//! and Envoy keeps one stat per name, so counters sum across workers.

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::decision::Outcome;
use crate::source::FetchFailure;

pub struct Metrics {
    outcomes: Vec<(Outcome, Option<u32>)>,
    configuration_accepted: Option<u32>,
    configuration_rejected: Option<u32>,
    active_rules: Option<u32>,
    source_rejected: Option<u32>,
}

impl Metrics {
    pub fn define() -> Metrics {
        let outcomes = Outcome::ALL
            .iter()
            .map(|outcome| {
                let name = format!(
                    "downtime_responder.notifications.outcome.{}",
                    outcome.as_str()
                );
                (*outcome, define(MetricType::Counter, &name))
            })
            .collect();
        Metrics {
            outcomes,
            configuration_accepted: define(
                MetricType::Counter,
                "downtime_responder.config.accepted",
            ),
            configuration_rejected: define(
                MetricType::Counter,
                "downtime_responder.config.rejected",
            ),
            active_rules: define(MetricType::Gauge, "downtime_responder.rules.active"),
            source_rejected: define(
                MetricType::Counter,
                "downtime_responder.source.merge.rejected",
            ),
        }
    }

    pub fn count(&self, outcome: Outcome) {
        let id = self
            .outcomes
            .iter()
            .find(|(known, _)| *known == outcome)
            .and_then(|(_, id)| *id);
        increment(id);
    }

    pub fn configuration_accepted(&self, rule_count: usize) {
        increment(self.configuration_accepted);
        self.rules_in_force(rule_count);
    }

    pub fn configuration_rejected(&self) {
        increment(self.configuration_rejected);
    }

    /// Sets the active rule count, the filter's own rules plus those adopted
    /// from the rules source.
    pub fn rules_in_force(&self, rule_count: usize) {
        record(self.active_rules, count_value(rule_count));
    }

    /// Counts a source document that a filter VM rejected when merging it
    /// with its own rules. Each worker VM counts once per rejected version.
    pub fn source_rejected(&self) {
        increment(self.source_rejected);
    }
}

/// Stats of the rules source service. Only the singleton service VM defines
/// them, so each value comes from one place.
pub struct SourceMetrics {
    fetch_ok: Option<u32>,
    fetch_failed: Vec<(&'static str, Option<u32>)>,
    age_seconds: Option<u32>,
    stale: Option<u32>,
    version: Option<u32>,
    source_rules: Option<u32>,
}

impl SourceMetrics {
    pub fn define() -> SourceMetrics {
        let fetch_failed = FetchFailure::CAUSES
            .iter()
            .map(|cause| {
                let name = format!("downtime_responder.source.fetch.failed.{cause}");
                (*cause, define(MetricType::Counter, &name))
            })
            .collect();
        SourceMetrics {
            fetch_ok: define(MetricType::Counter, "downtime_responder.source.fetch.ok"),
            fetch_failed,
            age_seconds: define(MetricType::Gauge, "downtime_responder.source.age_seconds"),
            stale: define(MetricType::Gauge, "downtime_responder.source.stale"),
            version: define(MetricType::Gauge, "downtime_responder.source.version"),
            source_rules: define(MetricType::Gauge, "downtime_responder.source.rules"),
        }
    }

    pub fn fetch_ok(&self) {
        increment(self.fetch_ok);
    }

    pub fn fetch_failed(&self, failure: &FetchFailure) {
        let id = self
            .fetch_failed
            .iter()
            .find(|(cause, _)| *cause == failure.cause())
            .and_then(|(_, id)| *id);
        increment(id);
    }

    pub fn freshness(&self, age_seconds: u64, stale: bool) {
        record(self.age_seconds, age_seconds);
        record(self.stale, u64::from(stale));
    }

    pub fn published(&self, version: u64, rule_count: usize) {
        record(self.version, version);
        record(self.source_rules, count_value(rule_count));
    }
}

fn count_value(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

fn define(kind: MetricType, name: &str) -> Option<u32> {
    match hostcalls::define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(status) => {
            warn!("failed to define metric {name}: {status:?}");
            None
        }
    }
}

fn record(id: Option<u32>, value: u64) {
    if let Some(id) = id {
        if let Err(status) = hostcalls::record_metric(id, value) {
            warn!("failed to record metric {id}: {status:?}");
        }
    }
}

fn increment(id: Option<u32>) {
    if let Some(id) = id {
        if let Err(status) = hostcalls::increment_metric(id, 1) {
            warn!("failed to increment metric {id}: {status:?}");
        }
    }
}
