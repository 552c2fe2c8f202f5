//! The proxy-wasm glue: moves bytes between Envoy and the core. Everything it
//! decides is decided in `request` and `decision`.

mod metrics;

use std::rc::Rc;
use std::time::UNIX_EPOCH;

use log::{error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

use crate::config::Snapshot;
use crate::request::{
    answer_body, check_headers, too_large, BodyAnswer, HeadersVerdict, Reply, RequestHead,
};
use crate::timestamp::format_utc;
use crate::window::UnixNanos;
use metrics::Metrics;

/// Filter state names; Envoy stores them with the prefix `wasm.`.
const OUTCOME_STATE: &str = "downtime_responder.outcome";
const RULES_STATE: &str = "downtime_responder.rule_ids";

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(ResponderRoot::default()) });
}}

#[derive(Default)]
struct ResponderRoot {
    snapshot: Option<Rc<Snapshot>>,
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

        match Snapshot::from_json(&configuration) {
            Ok(snapshot) => {
                info!(
                    "downtime-responder {} (commit {}) configured: {} rules, webhook path {}",
                    crate::VERSION,
                    crate::COMMIT,
                    snapshot.rules.len(),
                    snapshot.webhook.path
                );
                metrics.configuration_accepted(snapshot.rules.len());
                self.snapshot = Some(Rc::new(snapshot));
                true
            }
            Err(errors) => {
                for problem in &errors {
                    error!("invalid configuration: {problem}");
                }
                error!(
                    "configuration rejected with {} error(s); {}",
                    errors.len(),
                    if self.snapshot.is_some() {
                        "the previous configuration stays in force"
                    } else {
                        "the filter has no configuration"
                    }
                );
                metrics.configuration_rejected();
                false
            }
        }
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
                    "notification rejected: outcome={} status={} method={}",
                    reply.outcome.as_str(),
                    reply.status,
                    method
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
            info!("notification rejected: outcome=too_large status=413 bytes>{body_size}");
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
            notification.host.as_deref().unwrap_or("-"),
            notification.ts.map_or_else(|| "-".to_string(), |ts| ts.to_string()),
            notification.kind.as_deref().unwrap_or("-"),
            decision.outcome.as_str(),
            if rules.is_empty() { "-" } else { &rules },
        );
    }
}
