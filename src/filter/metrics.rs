//! Envoy stats for the filter. Envoy prefixes custom metrics with
//! `wasmcustom.`; the outcome is the last name segment so a `stats_tags`
//! regex can turn it into a label. Every worker VM defines the same names,
//! and Envoy keeps one stat per name, so counters sum across workers.

use log::warn;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::decision::Outcome;

pub struct Metrics {
    outcomes: Vec<(Outcome, Option<u32>)>,
    configuration_accepted: Option<u32>,
    configuration_rejected: Option<u32>,
    active_rules: Option<u32>,
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
        if let Some(id) = self.active_rules {
            let value = u64::try_from(rule_count).unwrap_or(u64::MAX);
            if let Err(status) = hostcalls::record_metric(id, value) {
                warn!("failed to record metric downtime_responder.rules.active: {status:?}");
            }
        }
    }

    pub fn configuration_rejected(&self) {
        increment(self.configuration_rejected);
    }
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

fn increment(id: Option<u32>) {
    if let Some(id) = id {
        if let Err(status) = hostcalls::increment_metric(id, 1) {
            warn!("failed to increment metric {id}: {status:?}");
        }
    }
}
