//! The proxy-wasm glue: moves bytes between Envoy and the core. Everything it
//! decides is decided in `request`, `decision` and `source`.
//!
//! One module contains two plugins, chosen by root_id: the HTTP filter (any
//! root_id other than `rules_source`) and the rules source service.

mod metrics;
mod shared_data;
mod source;

use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

use crate::config::Snapshot;
use crate::request::{
    answer_body, check_headers, too_large, BodyAnswer, HeadersVerdict, Reply, RequestHead,
};
use crate::source::{merge, parse_rules_document, Follower, Update};
use crate::timestamp::format_utc;
use crate::window::UnixNanos;
use metrics::Metrics;
use shared_data::HostStore;
use source::SourceRoot;

/// Filter state names; Envoy stores them with the prefix `wasm.`.
const OUTCOME_STATE: &str = "downtime_responder.outcome";
const RULES_STATE: &str = "downtime_responder.rule_ids";

/// How often a filter VM checks the rules source's version key. The check
/// reads one small shared-data value, and the rules are parsed only when
/// the version changed.
const SOURCE_CHECK_PERIOD: Duration = Duration::from_secs(1);

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(new_root_context);
}}

/// Creates the HTTP filter's root context, or the rules source service's
/// when the plugin's root_id is `rules_source`. Envoy returns the
/// `plugin_root_id` property while it creates a root context.
fn new_root_context(_context_id: u32) -> Box<dyn RootContext> {
    let root_id = hostcalls::get_property(vec!["plugin_root_id"])
        .ok()
        .flatten()
        .unwrap_or_default();
    if root_id == source::ROOT_ID.as_bytes() {
        Box::new(SourceRoot::default())
    } else {
        Box::new(ResponderRoot::default())
    }
}

/// The filter's own compiled configuration, kept to merge with each source version.
struct OwnConfiguration {
    snapshot: Rc<Snapshot>,
}

#[derive(Default)]
struct ResponderRoot {
    own: Option<OwnConfiguration>,
    /// The rules in force: the own configuration merged with the last
    /// adopted source version, or the own configuration alone.
    snapshot: Option<Rc<Snapshot>>,
    follower: Follower,
    metrics: Option<Rc<Metrics>>,
}

impl Context for ResponderRoot {}

impl RootContext for ResponderRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let metrics = self
            .metrics
            .get_or_insert_with(|| Rc::new(Metrics::define()))
            .clone();
        let configuration = self.get_plugin_configuration().unwrap_or_default();

        let compiled = Snapshot::from_json(&configuration);
        match compiled {
            Ok(snapshot) => {
                info!(
                    "downtime-responder {} (commit {}) configured: {} rules, webhook path {}",
                    crate::VERSION,
                    crate::COMMIT,
                    snapshot.rules.len(),
                    snapshot.webhook.path
                );
                metrics.configuration_accepted(snapshot.rules.len());
                let snapshot = Rc::new(snapshot);
                self.snapshot = Some(Rc::clone(&snapshot));
                self.own = Some(OwnConfiguration { snapshot });

                // A new configuration merges with the source version already
                // published, without waiting for the next check.
                self.follower = Follower::default();
                self.follow_source();
                if let Err(status) = hostcalls::set_tick_period(SOURCE_CHECK_PERIOD) {
                    warn!("failed to set the rules source check timer: {status:?}");
                }
                true
            }
            Err(errors) => {
                for problem in &errors {
                    error!("invalid configuration: {problem}");
                }
                // Envoy gives each new configuration a new root context, so
                // only Envoy can tell whether an earlier configuration exists.
                error!(
                    "configuration rejected with {} error(s); Envoy keeps the previous configuration if there is one",
                    errors.len()
                );
                metrics.configuration_rejected();
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.follow_source();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        let snapshot = self.snapshot.clone()?;
        let metrics = self.metrics.clone()?;
        Some(Box::new(WebhookRequest {
            snapshot,
            metrics,
            reading_body: false,
            buffered: 0,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

impl ResponderRoot {
    /// Adopts a new version of the rules source, if one was published.
    fn follow_source(&mut self) {
        let update = match self.follower.poll(&HostStore) {
            Ok(Some(update)) => update,
            Ok(None) => return,
            Err(error) => {
                warn!("failed to read the rules source from shared data: {error:?}");
                return;
            }
        };
        let Some(own) = &self.own else {
            return;
        };

        let merged = parse_rules_document(&update.document)
            .and_then(|source_rules| merge(&own.snapshot, &source_rules));
        match merged {
            Ok(snapshot) => {
                info!(
                    "rules source version {} adopted: {} rules in force, {} of them from the filter configuration",
                    update.version,
                    snapshot.rules.len(),
                    own.snapshot.rules.len()
                );
                if let Some(metrics) = &self.metrics {
                    metrics.rules_in_force(snapshot.rules.len());
                }
                self.snapshot = Some(Rc::new(snapshot));
            }
            Err(errors) => self.reject_source(&update, &errors),
        }
    }

    fn reject_source(&self, update: &Update, errors: &[crate::error::ConfigError]) {
        for problem in errors {
            error!(
                "invalid rules source document version {}: {problem}",
                update.version
            );
        }
        error!(
            "rules source version {} rejected with {} error(s); the rules in force stay",
            update.version,
            errors.len()
        );
        if let Some(metrics) = &self.metrics {
            metrics.source_rejected();
        }
    }
}

struct WebhookRequest {
    snapshot: Rc<Snapshot>,
    metrics: Rc<Metrics>,
    reading_body: bool,
    /// Bytes buffered so far; Envoy reports the total, not the last chunk.
    buffered: usize,
}

impl Context for WebhookRequest {}

impl HttpContext for WebhookRequest {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let path = self.get_http_request_header(":path").unwrap_or_default();
        if !crate::request::is_webhook(&self.snapshot.webhook, &path) {
            return Action::Continue;
        }

        let method = self.get_http_request_header(":method").unwrap_or_default();
        let content_length = self.get_http_request_header("content-length");
        let source = self
            .get_property(vec!["source", "address"])
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let head = RequestHead {
            path: &path,
            method: &method,
            source: source.as_deref(),
            content_length: content_length.as_deref(),
            end_of_stream,
        };

        match check_headers(&self.snapshot.webhook, &head) {
            HeadersVerdict::PassThrough => Action::Continue,
            HeadersVerdict::Reply(reply) => {
                info!(
                    "notification rejected: outcome={} status={} method={} reason={}",
                    reply.outcome.as_str(),
                    reply.status,
                    loggable(&method),
                    reply.body
                );
                self.send(&reply);
                Action::Pause
            }
            HeadersVerdict::ReadBody => {
                // The headers go on to the buffer filter, which holds them back
                // from the router until this filter has answered.
                self.reading_body = true;
                Action::Continue
            }
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.reading_body {
            return Action::Continue;
        }
        self.buffered = body_size;

        if body_size > self.snapshot.webhook.max_body_bytes {
            let reply = too_large(&self.snapshot.webhook);
            info!(
                "notification rejected: outcome=too_large status=413 reason={} (received {body_size} bytes so far)",
                reply.body
            );
            self.send(&reply);
            return Action::Pause;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.answer();
        Action::Pause
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        if !self.reading_body {
            return Action::Continue;
        }
        // Over HTTP/2 a body followed by trailers ends here, not in a body callback.
        self.answer();
        Action::Pause
    }
}

impl WebhookRequest {
    fn answer(&mut self) {
        self.reading_body = false;
        let body = self
            .get_http_request_body(0, self.buffered)
            .unwrap_or_default();
        let now = self.now();
        let answer = answer_body(&self.snapshot, &body, now);
        self.log_answer(&answer);
        if let Some(decision) = &answer.decision {
            let rule_ids = decision.rule_ids(&self.snapshot).join(",");
            self.set_filter_state(RULES_STATE, &rule_ids);
        }
        self.send(&answer.reply);
    }

    fn now(&self) -> UnixNanos {
        self.get_current_time()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| UnixNanos::try_from(elapsed.as_nanos()).unwrap_or(UnixNanos::MAX))
            .unwrap_or_else(|_| {
                warn!("proxy clock is before the Unix epoch; using the epoch");
                0
            })
    }

    fn send(&mut self, reply: &Reply) {
        self.reading_body = false;
        self.metrics.count(reply.outcome);
        self.set_filter_state(OUTCOME_STATE, reply.outcome.as_str());

        let mut headers = vec![
            ("content-type", "text/plain; charset=utf-8"),
            ("cache-control", "no-store"),
        ];
        if let Some(allow) = reply.allow_header() {
            headers.push(("allow", allow));
        }
        self.send_http_response(reply.status, headers, Some(reply.body.as_bytes()));
    }

    /// Stores a value in filter state, where Envoy's access log reads it as
    /// `%FILTER_STATE(wasm.<name>:PLAIN)%`.
    fn set_filter_state(&self, name: &str, value: &str) {
        if let Err(status) = hostcalls::set_property(vec![name], Some(value.as_bytes())) {
            warn!("failed to set filter state {name}: {status:?}");
        }
    }

    fn log_answer(&self, answer: &BodyAnswer) {
        let (Some(notification), Some(decision)) = (&answer.notification, &answer.decision) else {
            let reason = answer
                .error
                .as_ref()
                .map_or_else(|| answer.reply.body.clone(), ToString::to_string);
            info!(
                "notification rejected: outcome={} status={} reason={reason}",
                answer.reply.outcome.as_str(),
                answer.reply.status
            );
            return;
        };

        let until = decision
            .until
            .and_then(format_utc)
            .unwrap_or_else(|| "-".to_string());
        let would = decision
            .would_suppress_until
            .and_then(format_utc)
            .map(|value| format!(" would_suppress_until={value}"))
            .unwrap_or_default();
        let rules = decision.rule_ids(&self.snapshot).join(",");
        info!(
            "notification url={} code={} host={} ts={} type={} outcome={} until={until}{would} rules={}",
            notification.url,
            notification.code,
            notification.host.as_deref().map_or_else(|| "-".to_string(), loggable),
            notification.ts.map_or_else(|| "-".to_string(), |ts| ts.to_string()),
            notification.kind.as_deref().map_or_else(|| "-".to_string(), loggable),
            decision.outcome.as_str(),
            if rules.is_empty() { "-" } else { &rules },
        );
    }
}

/// Escapes control characters, quotes and backslashes in a value taken from
/// the request body, so a `host` or `type` cannot forge a log line or send
/// terminal escapes. The URL needs no escaping: WHATWG serialisation
/// percent-encodes such characters.
fn loggable(value: &str) -> String {
    value.escape_debug().to_string()
}
