//! The rules source service: the root context of the singleton service VM
//! (root_id `rules_source`). It fetches the rules document on a timer,
//! validates it, and publishes it in shared data for the HTTP filter VMs.
//! Envoy runs a singleton service on the main thread only, so the maintenance
//! API receives one request per period whatever the number of workers.

use std::time::{Duration, UNIX_EPOCH};

use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, RootContext};
use proxy_wasm::types::{BufferType, MapType};

use super::metrics::SourceMetrics;
use super::shared_data::HostStore;
use crate::source::{
    check_response, publish, FetchFailure, FetchResponse, Freshness, Published, RulesSource,
    MAX_PUBLISH_ATTEMPTS,
};

/// The root_id that selects this service instead of the HTTP filter.
pub const ROOT_ID: &str = "rules_source";

/// The delay before the first fetch. Envoy also runs `on_configure` in a
/// configuration canary VM that it discards at once, so the first fetch waits
/// for a tick, which only the VM that stays receives.
const FIRST_FETCH_DELAY: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct SourceRoot {
    source: Option<RulesSource>,
    metrics: Option<SourceMetrics>,
    freshness: Option<Freshness>,
    /// The token and start time of the fetch in flight, if any.
    in_flight: Option<(u32, Duration)>,
    /// Whether the timer runs at the poll interval yet.
    polling: bool,
}

impl Context for SourceRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if self.in_flight.map(|(token, _)| token) != Some(token_id) {
            warn!("rules source: ignoring the response to unknown call {token_id}");
            return;
        }
        self.in_flight = None;

        let status = response_header(":status");
        let upstream_service_time = response_header("x-envoy-upstream-service-time");
        let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let response = FetchResponse {
            status: status.as_deref(),
            upstream_service_time: upstream_service_time.as_deref(),
            body: &body,
        };

        let rules = match check_response(&response) {
            Ok(rules) => rules,
            Err(failure) => return self.record_failure(&failure),
        };
        match publish(&HostStore, &body, MAX_PUBLISH_ATTEMPTS) {
            Ok(published) => self.record_success(published, rules.len()),
            Err(error) => self.record_failure(&FetchFailure::Publish(error)),
        }
    }
}

impl RootContext for SourceRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let configuration = self.get_plugin_configuration().unwrap_or_default();
        let source = match RulesSource::from_json(&configuration) {
            Ok(source) => source,
            Err(errors) => {
                for problem in &errors {
                    error!("invalid rules source configuration: {problem}");
                }
                error!(
                    "rules source configuration rejected with {} error(s)",
                    errors.len()
                );
                return false;
            }
        };

        info!(
            "downtime-responder {} (commit {}) rules source: GET {}{} from cluster {} every {} s, timeout {} ms, stale after {} s",
            crate::VERSION,
            crate::COMMIT,
            source.authority,
            source.path,
            source.cluster,
            source.interval.as_secs(),
            source.timeout.as_millis(),
            source.stale_after.as_secs()
        );
        if self.metrics.is_none() {
            self.metrics = Some(SourceMetrics::define());
        }
        self.freshness = Some(Freshness::new(source.stale_after, self.unix_time()));
        if let Err(status) = hostcalls::set_tick_period(FIRST_FETCH_DELAY) {
            error!("rules source: failed to set the poll timer: {status:?}");
            return false;
        }
        self.source = Some(source);
        self.polling = false;
        true
    }

    fn on_tick(&mut self) {
        if !self.polling {
            self.start_polling();
        }
        self.report_freshness();

        if self.fetch_still_running() {
            return;
        }
        self.fetch();
    }
}

impl SourceRoot {
    /// Tells whether the previous fetch still waits for its response. A fetch
    /// ends within timeout_ms, which is at most one period, so this only
    /// happens when the host delivers the response late. A fetch without a
    /// response after a period plus its timeout is given up, so one lost
    /// response cannot stop the polling.
    fn fetch_still_running(&mut self) -> bool {
        let (Some((token, started)), Some(source)) = (self.in_flight, &self.source) else {
            return false;
        };

        let waited = self.unix_time().saturating_sub(started);
        if waited < source.interval + source.timeout {
            warn!("rules source: fetch {token} is still running; skipping this period");
            return true;
        }
        warn!(
            "rules source: fetch {token} got no response in {} ms; starting a new one",
            waited.as_millis()
        );
        self.in_flight = None;
        false
    }

    fn start_polling(&mut self) {
        let Some(source) = &self.source else {
            return;
        };
        match hostcalls::set_tick_period(source.interval) {
            Ok(()) => self.polling = true,
            Err(status) => error!("rules source: failed to set the poll timer: {status:?}"),
        }
    }

    fn fetch(&mut self) {
        let Some(source) = &self.source else {
            return;
        };

        let user_agent = format!("downtime-responder/{}", crate::VERSION);
        let headers = vec![
            (":method", "GET"),
            (":path", source.path.as_str()),
            (":authority", source.authority.as_str()),
            ("accept", "application/json"),
            ("user-agent", user_agent.as_str()),
        ];
        match hostcalls::dispatch_http_call(&source.cluster, headers, None, vec![], source.timeout)
        {
            Ok(token) => {
                debug!("rules source: fetch {token} started");
                self.in_flight = Some((token, self.unix_time()));
            }
            Err(status) => {
                let failure = FetchFailure::Dispatch(format!(
                    "dispatch_http_call to cluster {} returned {status:?}",
                    source.cluster
                ));
                self.record_failure(&failure);
            }
        }
    }

    fn record_success(&mut self, published: Published, rule_count: usize) {
        let now = self.unix_time();
        if let Some(freshness) = &mut self.freshness {
            freshness.record_good_fetch(now);
        }

        match published {
            Published::New { version } => {
                info!("rules source: published version {version} with {rule_count} rules")
            }
            Published::Unchanged { version } => {
                debug!("rules source: document unchanged, version {version} stays");
            }
        }
        if let Some(metrics) = &self.metrics {
            metrics.fetch_ok();
            let (Published::New { version } | Published::Unchanged { version }) = published;
            metrics.published(version, rule_count);
        }
        self.report_freshness();
    }

    /// Logs and counts a failed fetch. Nothing is published, so the filter
    /// VMs keep the last good rules.
    fn record_failure(&mut self, failure: &FetchFailure) {
        if let FetchFailure::Invalid(errors) = failure {
            for problem in errors {
                error!("invalid rules source document: {problem}");
            }
            warn!(
                "rules source fetch failed (invalid): document rejected with {} error(s); the last good rules stay in force",
                errors.len()
            );
        } else {
            warn!(
                "rules source fetch failed ({}): {failure}; the last good rules stay in force",
                failure.cause()
            );
        }
        if let Some(metrics) = &self.metrics {
            metrics.fetch_failed(failure);
        }
        self.report_freshness();
    }

    fn report_freshness(&mut self) {
        let now = self.unix_time();
        let (Some(freshness), Some(source)) = (&mut self.freshness, &self.source) else {
            return;
        };

        let check = freshness.check(now);
        if let Some(metrics) = &self.metrics {
            metrics.freshness(check.age.as_secs(), check.stale);
        }
        if check.changed && check.stale {
            warn!(
                "rules source is stale: no good fetch for {:.1} s, more than stale_after_seconds ({}); the last good rules stay in force",
                check.age.as_secs_f64(),
                source.stale_after.as_secs()
            );
        } else if check.changed {
            info!("rules source is fresh again");
        }
    }

    fn unix_time(&self) -> Duration {
        self.get_current_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

fn response_header(name: &str) -> Option<String> {
    hostcalls::get_map_value(MapType::HttpCallResponseHeaders, name)
        .ok()
        .flatten()
}
