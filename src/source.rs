//! The rules source: a singleton service plugin polls a maintenance API for a
//! rules document and publishes it in proxy-wasm shared data, and every HTTP
//! filter VM merges the published rules with the rules of its own
//! configuration.
//!
//! This module holds everything that does not need the proxy: the service
//! configuration, the validation of a fetched document, the merge, the
//! shared-data encoding, publication with compare-and-swap, the follower that
//! notices a new version, and the staleness clock. Shared data is reached
//! through `SharedStore`, so the tests here use an in-memory store.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{compile_rules, parse_document, RuleSpec, Snapshot};
use crate::error::ConfigError;

/// The shared-data key of the published version, a decimal number. Filter
/// VMs read it often, so it stays small.
pub const VERSION_KEY: &str = "downtime_responder.rules_source.version";
/// The shared-data key of the published rules: the version, a newline, then
/// the document as fetched.
pub const RULES_KEY: &str = "downtime_responder.rules_source.rules";
/// How many compare-and-swap rounds a publication may take before it gives up
/// until the next fetch.
pub const MAX_PUBLISH_ATTEMPTS: u32 = 5;

pub const DEFAULT_INTERVAL_SECONDS: u64 = 30;
pub const INTERVAL_SECONDS_LIMIT: u64 = 86_400;
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_STALE_AFTER_SECONDS: u64 = 600;
/// Upper bound for `stale_after_seconds` (31 days).
pub const STALE_AFTER_SECONDS_LIMIT: u64 = 31 * 86_400;

/// The service plugin's configuration as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePluginSpec {
    pub rules_source: RulesSourceSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSourceSpec {
    pub cluster: String,
    pub path: String,
    pub authority: Option<String>,
    pub interval_seconds: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub stale_after_seconds: Option<u64>,
}

/// The validated service configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesSource {
    pub cluster: String,
    pub path: String,
    /// The `:authority` of each fetch; the cluster name when not configured.
    pub authority: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub stale_after: Duration,
}

impl RulesSource {
    /// Parses and validates the service plugin configuration.
    pub fn from_json(bytes: &[u8]) -> Result<RulesSource, Vec<ConfigError>> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(vec![ConfigError::new(
                "",
                "configuration is empty; expected {\"rules_source\": {\"cluster\": ..., \"path\": ...}}",
            )]);
        }
        let spec = parse_document::<SourcePluginSpec>(bytes)?;
        compile_source(&spec.rules_source)
    }
}

fn compile_source(spec: &RulesSourceSpec) -> Result<RulesSource, Vec<ConfigError>> {
    let mut errors = Vec::new();

    if spec.cluster.trim().is_empty() {
        errors.push(ConfigError::new(
            "rules_source.cluster",
            "cluster name is empty; name the Envoy cluster that serves the rules document",
        ));
    }
    if !spec.path.starts_with('/') || spec.path.contains(char::is_whitespace) {
        errors.push(ConfigError::new(
            "rules_source.path",
            format!(
                "{:?} is not a request path; expected an absolute path such as \"/v1/maintenance-rules\"",
                spec.path
            ),
        ));
    }
    if let Some(authority) = &spec.authority {
        if authority.is_empty() || authority.contains(|c: char| c.is_whitespace() || c == '/') {
            errors.push(ConfigError::new(
                "rules_source.authority",
                format!("{authority:?} is not a host name such as \"maintenance.internal\""),
            ));
        }
    }

    let interval_seconds = spec.interval_seconds.unwrap_or(DEFAULT_INTERVAL_SECONDS);
    if !(1..=INTERVAL_SECONDS_LIMIT).contains(&interval_seconds) {
        errors.push(ConfigError::new(
            "rules_source.interval_seconds",
            format!("{interval_seconds} is out of range; expected 1 to {INTERVAL_SECONDS_LIMIT} seconds"),
        ));
    }

    // One fetch at a time: a fetch must end before the next period starts.
    let timeout_limit = interval_seconds.saturating_mul(1000);
    let timeout_ms = spec
        .timeout_ms
        .unwrap_or(DEFAULT_TIMEOUT_MS.min(timeout_limit));
    if !(1..=timeout_limit).contains(&timeout_ms) {
        errors.push(ConfigError::new(
            "rules_source.timeout_ms",
            format!(
                "{timeout_ms} is out of range; expected 1 to {timeout_limit} milliseconds, the poll interval"
            ),
        ));
    }

    // The rules are one interval old just before each fetch, so a smaller
    // threshold would report them stale between healthy fetches.
    let stale_after_seconds = spec
        .stale_after_seconds
        .unwrap_or(DEFAULT_STALE_AFTER_SECONDS.max(interval_seconds));
    if !(interval_seconds..=STALE_AFTER_SECONDS_LIMIT).contains(&stale_after_seconds) {
        errors.push(ConfigError::new(
            "rules_source.stale_after_seconds",
            format!(
                "{stale_after_seconds} is out of range; expected interval_seconds ({interval_seconds}) to {STALE_AFTER_SECONDS_LIMIT} seconds"
            ),
        ));
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RulesSource {
        cluster: spec.cluster.clone(),
        path: spec.path.clone(),
        authority: spec
            .authority
            .clone()
            .unwrap_or_else(|| spec.cluster.clone()),
        interval: Duration::from_secs(interval_seconds),
        timeout: Duration::from_millis(timeout_ms),
        stale_after: Duration::from_secs(stale_after_seconds),
    })
}

/// The rules document that the maintenance API serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesDocument {
    pub rules: Vec<RuleSpec>,
}

/// Parses a rules document and validates its rules exactly as the rules of
/// the filter configuration are validated. Errors carry the JSON path inside
/// the document, such as `rules[3].end`.
pub fn validate_document(bytes: &[u8]) -> Result<Vec<RuleSpec>, Vec<ConfigError>> {
    let rules = parse_rules_document(bytes)?;

    let mut errors = Vec::new();
    compile_rules(&rules, "rules", &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(rules)
}

/// Parses a rules document without validating its rules, for a caller that
/// passes them to `merge`, which validates them.
pub fn parse_rules_document(bytes: &[u8]) -> Result<Vec<RuleSpec>, Vec<ConfigError>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(vec![ConfigError::new(
            "",
            "document is empty; expected a JSON object {\"rules\": [...]}",
        )]);
    }
    Ok(parse_document::<RulesDocument>(bytes)?.rules)
}

/// Builds the snapshot in force from the filter's own compiled configuration
/// and the rules of a source document. The webhook settings and limits come
/// from the filter configuration. A source rule whose `id` is also the id of a
/// filter rule is an error in the source document, which is then rejected as
/// a whole. The errors name paths in the source document.
///
/// Only the source rules are compiled; the filter's own rules and index are
/// reused, so a VM keeps no uncompiled copy of its configuration.
pub fn merge(own: &Snapshot, source_rules: &[RuleSpec]) -> Result<Snapshot, Vec<ConfigError>> {
    let mut errors = Vec::new();

    let (compiled, source_index) = compile_rules(source_rules, "rules", &mut errors);
    let own_positions: HashMap<&str, usize> = own
        .rules
        .iter()
        .enumerate()
        .map(|(position, rule)| (rule.id.as_str(), position))
        .collect();
    for (position, rule) in source_rules.iter().enumerate() {
        if let Some(own_position) = own_positions.get(rule.id.as_str()) {
            errors.push(ConfigError::new(
                format!("rules[{position}].id"),
                format!(
                    "{:?} is already the id of rules[{own_position}] in the filter configuration; \
                     ids must be unique across the filter configuration and the rules source",
                    rule.id
                ),
            ));
        }
    }
    let Ok(offset) = u32::try_from(own.rules.len()) else {
        errors.push(ConfigError::new("rules", "too many rules"));
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut index = own.index.clone();
    index.append_shifted(source_index, offset);
    let mut rules = Vec::with_capacity(own.rules.len() + compiled.len());
    rules.extend_from_slice(&own.rules);
    rules.extend(compiled);
    Ok(Snapshot {
        webhook: own.webhook.clone(),
        max_suppression: own.max_suppression,
        chain_gap: own.chain_gap,
        dry_run: own.dry_run,
        rules,
        index,
    })
}

/// Encodes the value of `RULES_KEY`.
pub fn encode_rules(version: u64, document: &[u8]) -> Vec<u8> {
    let mut value = format!("{version}\n").into_bytes();
    value.extend_from_slice(document);
    value
}

/// Splits a value of `RULES_KEY` into its version and document.
pub fn decode_rules(value: &[u8]) -> Option<(u64, &[u8])> {
    let newline = value.iter().position(|byte| *byte == b'\n')?;
    let (version, rest) = value.split_at(newline);
    let document = rest.get(1..)?;
    Some((parse_version(version)?, document))
}

/// Parses a value of `VERSION_KEY`.
pub fn parse_version(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The error of a shared-data write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Another writer changed the value since it was read.
    CasMismatch,
    Host(String),
}

/// Proxy-wasm shared data: values with a compare-and-swap token that changes
/// on every write.
pub trait SharedStore {
    /// Returns the value of `key` and its compare-and-swap token, or `None`
    /// and no token when the key is absent.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError>;

    /// Writes `value` under `key` if the key's token still equals `cas`, or
    /// unconditionally when `cas` is `None`.
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError>;
}

/// The result of a successful publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The document differs from the published one and got a new version.
    New { version: u64 },
    /// The document equals the published one, so the version stays.
    Unchanged { version: u64 },
}

/// A failed publication. The previous publication stays in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// Other writers won every compare-and-swap round.
    Contended {
        attempts: u32,
    },
    Store(String),
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::Contended { attempts } => write!(
                formatter,
                "shared data changed during each of {attempts} compare-and-swap attempts"
            ),
            PublishError::Store(message) => {
                write!(formatter, "shared data write failed: {message}")
            }
        }
    }
}

/// Publishes a validated document: first the rules under the next version,
/// then the version key. Both writes use compare-and-swap, so versions only
/// grow even when a restarted service VM or a second writer publishes at the
/// same time, and each write is retried at most `max_attempts` times.
///
/// A filter VM that reads version N from `VERSION_KEY` therefore finds
/// version N or later under `RULES_KEY`.
pub fn publish(
    store: &impl SharedStore,
    document: &[u8],
    max_attempts: u32,
) -> Result<Published, PublishError> {
    for _ in 0..max_attempts {
        let (current, cas) = store.get(RULES_KEY).map_err(store_error)?;
        let current = current.as_deref().and_then(decode_rules);

        let (published, version) = match current {
            Some((version, published)) if published == document => {
                (Published::Unchanged { version }, version)
            }
            _ => {
                let version = current.map_or(1, |(version, _)| version.saturating_add(1));
                match store.set(RULES_KEY, &encode_rules(version, document), cas) {
                    Ok(()) => {}
                    Err(StoreError::CasMismatch) => continue,
                    Err(error) => return Err(store_error(error)),
                }
                (Published::New { version }, version)
            }
        };

        raise_version(store, version, max_attempts)?;
        return Ok(published);
    }
    Err(PublishError::Contended {
        attempts: max_attempts,
    })
}

/// Sets `VERSION_KEY` to `version` unless it already contains that version or
/// a later one. An unchanged document still repairs a version key that a
/// previous, interrupted publication left behind.
fn raise_version(
    store: &impl SharedStore,
    version: u64,
    max_attempts: u32,
) -> Result<(), PublishError> {
    for _ in 0..max_attempts {
        let (current, cas) = store.get(VERSION_KEY).map_err(store_error)?;
        if current.as_deref().and_then(parse_version) >= Some(version) {
            return Ok(());
        }
        match store.set(VERSION_KEY, version.to_string().as_bytes(), cas) {
            Ok(()) => return Ok(()),
            Err(StoreError::CasMismatch) => continue,
            Err(error) => return Err(store_error(error)),
        }
    }
    Err(PublishError::Contended {
        attempts: max_attempts,
    })
}

fn store_error(error: StoreError) -> PublishError {
    match error {
        StoreError::CasMismatch => {
            PublishError::Store("unexpected compare-and-swap mismatch".into())
        }
        StoreError::Host(message) => PublishError::Store(message),
    }
}

/// A published document that a filter VM has not seen yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub version: u64,
    pub document: Vec<u8>,
}

/// Tracks which published version a filter VM has taken. `poll` reads only
/// the small version key while nothing changes, so checking often stays cheap
/// whatever the size of the rules.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    seen_version_key: Option<u64>,
    taken_version: Option<u64>,
}

impl Follower {
    /// Returns the published document when its version differs from the one
    /// last returned. A returned update counts as taken whether the caller
    /// adopts or rejects it, so a rejected document is not parsed again until
    /// a new version is published.
    pub fn poll(&mut self, store: &impl SharedStore) -> Result<Option<Update>, StoreError> {
        let (version, _) = store.get(VERSION_KEY)?;
        let version = version.as_deref().and_then(parse_version);
        if version.is_none() || version == self.seen_version_key {
            return Ok(None);
        }
        self.seen_version_key = version;

        let (rules, _) = store.get(RULES_KEY)?;
        let Some((rules_version, document)) = rules.as_deref().and_then(decode_rules) else {
            return Ok(None);
        };
        if Some(rules_version) == self.taken_version {
            return Ok(None);
        }
        self.taken_version = Some(rules_version);
        Ok(Some(Update {
            version: rules_version,
            document: document.to_vec(),
        }))
    }
}

/// The age of the rules from the last good fetch, and whether that age has
/// passed the staleness threshold. Before the first good fetch the age counts
/// from the start of the service, so a source that never responds also turns
/// stale.
#[derive(Debug, Clone)]
pub struct Freshness {
    stale_after: Duration,
    since: Duration,
    stale: bool,
}

/// The result of a freshness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshnessCheck {
    pub age: Duration,
    pub stale: bool,
    /// The check crossed the threshold in either direction.
    pub changed: bool,
}

impl Freshness {
    /// Starts the clock at `now`, a time since the Unix epoch.
    pub fn new(stale_after: Duration, now: Duration) -> Freshness {
        Freshness {
            stale_after,
            since: now,
            stale: false,
        }
    }

    pub fn record_good_fetch(&mut self, now: Duration) {
        self.since = now;
    }

    pub fn check(&mut self, now: Duration) -> FreshnessCheck {
        let age = now.saturating_sub(self.since);
        let stale = age > self.stale_after;
        let changed = stale != self.stale;
        self.stale = stale;
        FreshnessCheck {
            age,
            stale,
            changed,
        }
    }
}

/// The cause of a failed fetch of the rules document. Each cause has its own
/// counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// The host refused to start the call, for example for an unknown cluster.
    Dispatch(String),
    /// No response: the connection was refused or reset.
    Connection(String),
    /// No response within `timeout_ms`.
    Timeout,
    /// A response with a status other than 200.
    Status(String),
    /// A 200 response whose body is not a valid rules document.
    Invalid(Vec<ConfigError>),
    /// A valid document that could not be written to shared data.
    Publish(PublishError),
}

impl FetchFailure {
    /// Every cause, in the order the counters are defined.
    pub const CAUSES: [&'static str; 6] = [
        "dispatch",
        "connection",
        "timeout",
        "status",
        "invalid",
        "publish",
    ];

    /// Returns the cause as it appears in the counter name.
    pub fn cause(&self) -> &'static str {
        match self {
            FetchFailure::Dispatch(_) => "dispatch",
            FetchFailure::Connection(_) => "connection",
            FetchFailure::Timeout => "timeout",
            FetchFailure::Status(_) => "status",
            FetchFailure::Invalid(_) => "invalid",
            FetchFailure::Publish(_) => "publish",
        }
    }
}

impl std::fmt::Display for FetchFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchFailure::Dispatch(reason) => {
                write!(formatter, "the call could not start: {reason}")
            }
            FetchFailure::Connection(reason) => write!(formatter, "no response: {reason}"),
            FetchFailure::Timeout => write!(formatter, "timed out"),
            FetchFailure::Status(status) => write!(formatter, "status {status}, expected 200"),
            FetchFailure::Invalid(errors) => {
                write!(formatter, "invalid document with {} error(s)", errors.len())?;
                for error in errors {
                    write!(formatter, "; {error}")?;
                }
                Ok(())
            }
            FetchFailure::Publish(error) => write!(formatter, "{error}"),
        }
    }
}

/// The parts of a call response that decide whether the fetch succeeded.
#[derive(Debug, Clone, Copy)]
pub struct FetchResponse<'a> {
    /// `:status`, absent when the host reports the call failed without one.
    pub status: Option<&'a str>,
    /// `x-envoy-upstream-service-time`, which Envoy's router adds to a
    /// response that came from the upstream and not to its own local replies.
    pub upstream_service_time: Option<&'a str>,
    pub body: &'a [u8],
}

/// Classifies a call response and validates its document.
///
/// Envoy completes a call that got no upstream response with a local reply
/// of its own (seen with Envoy 1.40): 504 when the route timeout fired, 503
/// when the connection failed. A local reply carries no upstream service
/// time, which distinguishes it from an upstream that itself sent 503 or 504.
///
/// NOTE: the router adds that header unless Envoy headers are suppressed.
/// Without it, an upstream 503 or 504 is counted as a connection failure or a
/// timeout. The last good rules stay either way.
pub fn check_response(response: &FetchResponse<'_>) -> Result<Vec<RuleSpec>, FetchFailure> {
    let Some(status) = response.status else {
        return Err(FetchFailure::Connection("the call was reset".into()));
    };

    let local_reply = response.upstream_service_time.is_none();
    match (status, local_reply) {
        ("200", _) => {}
        ("504", true) => return Err(FetchFailure::Timeout),
        (_, true) => {
            return Err(FetchFailure::Connection(format!(
                "Envoy answered {status}: {}",
                printable_prefix(response.body)
            )))
        }
        (_, false) => return Err(FetchFailure::Status(status.to_string())),
    }

    validate_document(response.body).map_err(FetchFailure::Invalid)
}

/// Returns at most 120 characters of `bytes`, with control characters
/// replaced, so a log line quotes a body without spilling it.
fn printable_prefix(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(120)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    const WINDOW: &str = r#""start":"2026-12-05T01:00:00Z","end":"2026-12-05T03:00:00Z""#;

    fn source_errors(document: &str) -> Vec<String> {
        match RulesSource::from_json(document.as_bytes()) {
            Ok(source) => panic!("accepted {document}: {source:?}"),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn one_source_error(document: &str) -> String {
        let errors = source_errors(document);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    fn rules_document(rules: &[&str]) -> String {
        format!(r#"{{"rules":[{}]}}"#, rules.join(","))
    }

    fn rule(id: &str) -> String {
        format!(r#"{{"id":"{id}","sites":["{id}.example"],{WINDOW}}}"#)
    }

    fn own_configuration(rules: &[&str]) -> (Snapshot, Vec<RuleSpec>) {
        let document = format!(
            r#"{{"webhook":{{"path":"/hook","token":"t"}},"max_suppression_seconds":600,"rules":[{}]}}"#,
            rules.join(",")
        );
        let spec = parse_document::<crate::config::ConfigSpec>(document.as_bytes()).unwrap();
        let snapshot = crate::config::compile(&spec).unwrap();
        (snapshot, spec.rules)
    }

    #[test]
    fn source_configuration_defaults() {
        let source =
            RulesSource::from_json(br#"{"rules_source":{"cluster":"api","path":"/rules"}}"#)
                .unwrap();
        assert_eq!(source.cluster, "api");
        assert_eq!(source.path, "/rules");
        assert_eq!(source.authority, "api");
        assert_eq!(source.interval, Duration::from_secs(30));
        assert_eq!(source.timeout, Duration::from_millis(5000));
        assert_eq!(source.stale_after, Duration::from_secs(600));
    }

    #[test]
    fn source_configuration_design_example() {
        let source = RulesSource::from_json(
            br#"{ "rules_source": { "cluster": "maintenance_api", "path": "/v1/maintenance-rules",
                  "authority": "maintenance.internal", "interval_seconds": 30,
                  "timeout_ms": 5000, "stale_after_seconds": 600 } }"#,
        )
        .unwrap();
        assert_eq!(source.authority, "maintenance.internal");
        assert_eq!(source.interval, Duration::from_secs(30));
        assert_eq!(source.stale_after, Duration::from_secs(600));
    }

    #[test]
    fn timeout_default_fits_short_interval() {
        let source = RulesSource::from_json(
            br#"{"rules_source":{"cluster":"api","path":"/rules","interval_seconds":2}}"#,
        )
        .unwrap();
        assert_eq!(source.timeout, Duration::from_millis(2000));
    }

    #[test]
    fn stale_default_follows_long_interval() {
        let source = RulesSource::from_json(
            br#"{"rules_source":{"cluster":"api","path":"/rules","interval_seconds":3600}}"#,
        )
        .unwrap();
        assert_eq!(source.stale_after, Duration::from_secs(3600));
    }

    #[test]
    fn source_unknown_fields_name_their_path() {
        let error =
            one_source_error(r#"{"rules_source":{"cluster":"api","path":"/r","intervall":5}}"#);
        assert!(
            error.starts_with("rules_source.intervall: unknown field `intervall`"),
            "{error}"
        );
        let error = one_source_error(
            r#"{"rules_source":{"cluster":"api","path":"/r"},"webhook":{"path":"/a"}}"#,
        );
        assert!(
            error.starts_with("webhook: unknown field `webhook`"),
            "{error}"
        );
    }

    #[test]
    fn source_missing_and_empty() {
        assert!(one_source_error("  ").starts_with("configuration is empty"));
        let error = one_source_error(r#"{"rules_source":{"path":"/r"}}"#);
        assert!(error.contains("missing field `cluster`"), "{error}");
        let error = one_source_error(r#"{"rules_source":{"cluster":"api","path":5}}"#);
        assert!(
            error.starts_with("rules_source.path: invalid type"),
            "{error}"
        );
    }

    #[test]
    fn source_values_are_checked() {
        let errors = source_errors(
            r#"{"rules_source":{"cluster":" ","path":"rules","authority":"a/b",
                "interval_seconds":0,"timeout_ms":0,"stale_after_seconds":0}}"#,
        );
        let paths: Vec<&str> = errors
            .iter()
            .map(|error| error.split(':').next().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "rules_source.cluster",
                "rules_source.path",
                "rules_source.authority",
                "rules_source.interval_seconds",
                "rules_source.timeout_ms",
            ]
        );
    }

    #[test]
    fn timeout_must_fit_the_interval() {
        assert_eq!(
            one_source_error(
                r#"{"rules_source":{"cluster":"api","path":"/r","interval_seconds":2,"timeout_ms":2001}}"#
            ),
            "rules_source.timeout_ms: 2001 is out of range; expected 1 to 2000 milliseconds, the poll interval"
        );
    }

    #[test]
    fn stale_threshold_must_cover_the_interval() {
        assert_eq!(
            one_source_error(
                r#"{"rules_source":{"cluster":"api","path":"/r","interval_seconds":60,"stale_after_seconds":59}}"#
            ),
            "rules_source.stale_after_seconds: 59 is out of range; expected interval_seconds (60) to 2678400 seconds"
        );
    }

    #[test]
    fn document_accepts_rules() {
        let rules =
            validate_document(rules_document(&[&rule("a"), &rule("b")]).as_bytes()).unwrap();
        let ids: Vec<&str> = rules.iter().map(|rule| rule.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(validate_document(br#"{"rules":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn document_errors_name_their_path() {
        let errors = validate_document(
            br#"{"rules":[{"id":"a","all":true,"start":"2026-12-05T03:00:00Z","end":"2026-12-05T01:00:00Z"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "rules[0].end: 2026-12-05T01:00:00Z is not after start 2026-12-05T03:00:00Z"
        );
        let errors = validate_document(br#"{"rules":[],"generated":"now"}"#).unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("generated: unknown field"),
            "{errors:?}"
        );
    }

    #[test]
    fn document_garbage_and_empty() {
        let empty = validate_document(b"\n").unwrap_err();
        assert_eq!(
            empty[0].to_string(),
            "document is empty; expected a JSON object {\"rules\": [...]}"
        );
        let garbage = validate_document(b"<html>busy</html>").unwrap_err();
        assert!(
            garbage[0].to_string().contains("expected value"),
            "{garbage:?}"
        );
        let missing = validate_document(b"{}").unwrap_err();
        assert!(
            missing[0].to_string().contains("missing field `rules`"),
            "{missing:?}"
        );
    }

    #[test]
    fn merge_keeps_own_settings_and_joins_rules() {
        let (own, _) = own_configuration(&[&rule("own")]);
        let source_rules =
            validate_document(rules_document(&[&rule("remote")]).as_bytes()).unwrap();

        let merged = merge(&own, &source_rules).unwrap();

        let ids: Vec<&str> = merged.rules.iter().map(|rule| rule.id.as_str()).collect();
        assert_eq!(ids, ["own", "remote"]);
        assert_eq!(merged.webhook.path, "/hook");
        assert_eq!(merged.webhook.token.as_deref(), Some("t"));
        assert_eq!(merged.max_suppression, own.max_suppression);
    }

    #[test]
    fn merged_index_finds_source_rules() {
        let (own, _) = own_configuration(&[&rule("own")]);
        let source_rules =
            validate_document(rules_document(&[&rule("remote")]).as_bytes()).unwrap();
        let merged = merge(&own, &source_rules).unwrap();
        let notification =
            crate::notification::parse(br#"{"url":"https://remote.example","code":503}"#).unwrap();
        let now = crate::timestamp::parse_rfc3339("2026-12-05T02:00:00Z").unwrap();

        let decision = crate::decision::decide(&merged, &notification, now);

        assert_eq!(decision.rule_ids(&merged), ["remote"]);
    }

    #[test]
    fn merge_rejects_shared_id() {
        let (own, _) = own_configuration(&[&rule("x"), &rule("shared")]);
        let source_rules =
            validate_document(rules_document(&[&rule("fine"), &rule("shared")]).as_bytes())
                .unwrap();

        let errors = merge(&own, &source_rules).unwrap_err();

        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "rules[1].id");
        assert!(
            errors[0].message.starts_with(
                "\"shared\" is already the id of rules[1] in the filter configuration"
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn merge_revalidates_source_rules() {
        let (own, _) = own_configuration(&[]);
        let bad: RuleSpec = serde_json::from_str(r#"{"id":"a","all":true}"#).unwrap();

        let errors = merge(&own, &[bad]).unwrap_err();

        assert_eq!(
            errors[0].to_string(),
            "rules[0]: rule has no schedule; set start and end, or time_intervals"
        );
    }

    #[test]
    fn rules_encoding_round_trips() {
        let value = encode_rules(42, b"{\"rules\":[]}\n");
        assert_eq!(value, b"42\n{\"rules\":[]}\n");
        assert_eq!(decode_rules(&value), Some((42, &b"{\"rules\":[]}\n"[..])));
        assert_eq!(decode_rules(b"42"), None);
        assert_eq!(decode_rules(b"x\n{}"), None);
        assert_eq!(decode_rules(b"7\n"), Some((7, &b""[..])));
        assert_eq!(parse_version(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_version(b"-1"), None);
    }

    type Interference = Box<dyn FnMut(&MemoryStore)>;

    /// An in-memory shared data store. `interfere` runs before each write, so
    /// a test can play a second writer.
    #[derive(Default)]
    struct MemoryStore {
        values: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        next_cas: RefCell<u32>,
        interfere: RefCell<Option<Interference>>,
        writes: RefCell<u32>,
    }

    impl MemoryStore {
        fn put(&self, key: &str, value: &[u8]) {
            let mut next = self.next_cas.borrow_mut();
            *next += 1;
            self.values
                .borrow_mut()
                .insert(key.to_string(), (value.to_vec(), *next));
        }

        fn value(&self, key: &str) -> Option<Vec<u8>> {
            self.values
                .borrow()
                .get(key)
                .map(|(value, _)| value.clone())
        }
    }

    impl SharedStore for MemoryStore {
        fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
            Ok(match self.values.borrow().get(key) {
                Some((value, cas)) => (Some(value.clone()), Some(*cas)),
                None => (None, None),
            })
        }

        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
            let interfere = self.interfere.borrow_mut().take();
            if let Some(mut interfere) = interfere {
                interfere(self);
                *self.interfere.borrow_mut() = Some(interfere);
            }
            *self.writes.borrow_mut() += 1;
            let current = self.values.borrow().get(key).map(|(_, cas)| *cas);
            if cas.is_some() && cas != current {
                return Err(StoreError::CasMismatch);
            }
            self.put(key, value);
            Ok(())
        }
    }

    #[test]
    fn publish_numbers_versions() {
        let store = MemoryStore::default();

        assert_eq!(
            publish(&store, b"one", 3),
            Ok(Published::New { version: 1 })
        );
        assert_eq!(
            publish(&store, b"two", 3),
            Ok(Published::New { version: 2 })
        );

        assert_eq!(store.value(VERSION_KEY).unwrap(), b"2");
        assert_eq!(store.value(RULES_KEY).unwrap(), b"2\ntwo");
    }

    #[test]
    fn publish_same_document_keeps_version() {
        let store = MemoryStore::default();
        publish(&store, b"one", 3).unwrap();
        let writes = *store.writes.borrow();

        assert_eq!(
            publish(&store, b"one", 3),
            Ok(Published::Unchanged { version: 1 })
        );
        assert_eq!(*store.writes.borrow(), writes);
    }

    #[test]
    fn publish_repairs_missing_version_key() {
        let store = MemoryStore::default();
        store.put(RULES_KEY, b"5\none");

        assert_eq!(
            publish(&store, b"one", 3),
            Ok(Published::Unchanged { version: 5 })
        );
        assert_eq!(store.value(VERSION_KEY).unwrap(), b"5");
    }

    #[test]
    fn publish_retries_after_concurrent_write() {
        let store = MemoryStore::default();
        publish(&store, b"one", 3).unwrap();
        let mut interfered = false;
        *store.interfere.borrow_mut() = Some(Box::new(move |store: &MemoryStore| {
            if !interfered {
                interfered = true;
                store.put(RULES_KEY, b"7\nother");
            }
        }));

        assert_eq!(
            publish(&store, b"two", 3),
            Ok(Published::New { version: 8 })
        );
        assert_eq!(store.value(RULES_KEY).unwrap(), b"8\ntwo");
        assert_eq!(store.value(VERSION_KEY).unwrap(), b"8");
    }

    #[test]
    fn publish_gives_up_when_always_contended() {
        let store = MemoryStore::default();
        publish(&store, b"one", 3).unwrap();
        *store.interfere.borrow_mut() = Some(Box::new(|store: &MemoryStore| {
            store.put(RULES_KEY, b"1\none");
        }));

        assert_eq!(
            publish(&store, b"two", 3),
            Err(PublishError::Contended { attempts: 3 })
        );
        assert_eq!(store.value(RULES_KEY).unwrap(), b"1\none");
    }

    #[test]
    fn version_key_never_goes_back() {
        let store = MemoryStore::default();
        store.put(VERSION_KEY, b"9");
        store.put(RULES_KEY, b"3\nold");

        assert_eq!(
            publish(&store, b"new", 3),
            Ok(Published::New { version: 4 })
        );
        assert_eq!(store.value(VERSION_KEY).unwrap(), b"9");
    }

    #[test]
    fn follower_returns_each_version_once() {
        let store = MemoryStore::default();
        let mut follower = Follower::default();
        assert_eq!(follower.poll(&store), Ok(None));

        publish(&store, b"one", 3).unwrap();
        assert_eq!(
            follower.poll(&store),
            Ok(Some(Update {
                version: 1,
                document: b"one".to_vec()
            }))
        );
        assert_eq!(follower.poll(&store), Ok(None));

        publish(&store, b"one", 3).unwrap();
        assert_eq!(follower.poll(&store), Ok(None));

        publish(&store, b"two", 3).unwrap();
        let update = follower.poll(&store).unwrap().unwrap();
        assert_eq!(update.version, 2);
        assert_eq!(update.document, b"two");
    }

    #[test]
    fn follower_skips_rules_already_taken() {
        let store = MemoryStore::default();
        let mut follower = Follower::default();
        store.put(RULES_KEY, b"2\ntwo");
        store.put(VERSION_KEY, b"1");

        assert_eq!(follower.poll(&store).unwrap().unwrap().version, 2);

        store.put(VERSION_KEY, b"2");
        assert_eq!(follower.poll(&store), Ok(None));
    }

    #[test]
    fn freshness_turns_stale_and_back() {
        let mut freshness = Freshness::new(Duration::from_secs(10), Duration::from_secs(100));

        let early = freshness.check(Duration::from_secs(105));
        assert_eq!(early.age, Duration::from_secs(5));
        assert!(!early.stale);
        assert!(!early.changed);

        let late = freshness.check(Duration::from_secs(111));
        assert!(late.stale);
        assert!(late.changed);
        assert!(!freshness.check(Duration::from_secs(112)).changed);

        freshness.record_good_fetch(Duration::from_secs(112));
        let recovered = freshness.check(Duration::from_secs(113));
        assert_eq!(recovered.age, Duration::from_secs(1));
        assert!(!recovered.stale);
        assert!(recovered.changed);
    }

    #[test]
    fn freshness_age_never_negative() {
        let mut freshness = Freshness::new(Duration::from_secs(10), Duration::from_secs(100));
        assert_eq!(freshness.check(Duration::from_secs(90)).age, Duration::ZERO);
    }

    fn response<'a>(status: Option<&'a str>, upstream: bool, body: &'a [u8]) -> FetchResponse<'a> {
        FetchResponse {
            status,
            upstream_service_time: upstream.then_some("3"),
            body,
        }
    }

    #[test]
    fn response_classification() {
        let good = rules_document(&[&rule("a")]);
        assert_eq!(
            check_response(&response(Some("200"), true, good.as_bytes()))
                .unwrap()
                .len(),
            1
        );

        let cases: [(Option<&str>, bool, &[u8], &str); 6] = [
            (None, false, b"", "connection"),
            (Some("504"), false, b"upstream request timeout", "timeout"),
            (Some("503"), false, b"upstream connect error", "connection"),
            (Some("503"), true, b"busy", "status"),
            (Some("504"), true, b"gateway", "status"),
            (Some("200"), true, b"garbage", "invalid"),
        ];
        for (status, upstream, body, cause) in cases {
            let failure = check_response(&response(status, upstream, body)).unwrap_err();
            assert_eq!(failure.cause(), cause, "{status:?} {upstream} {failure}");
        }
    }

    #[test]
    fn failure_messages() {
        let invalid = check_response(&response(
            Some("200"),
            true,
            br#"{"rules":[{"id":"a","all":true}]}"#,
        ))
        .unwrap_err();
        assert_eq!(
            invalid.to_string(),
            "invalid document with 1 error(s); rules[0]: rule has no schedule; set start and end, or time_intervals"
        );
        assert_eq!(
            check_response(&response(Some("503"), true, b""))
                .unwrap_err()
                .to_string(),
            "status 503, expected 200"
        );
        assert_eq!(
            check_response(&response(Some("503"), false, b"upstream connect\nerror"))
                .unwrap_err()
                .to_string(),
            "no response: Envoy answered 503: upstream connect error"
        );
    }

    #[test]
    fn every_cause_is_listed() {
        let failures = [
            FetchFailure::Dispatch(String::new()),
            FetchFailure::Connection(String::new()),
            FetchFailure::Timeout,
            FetchFailure::Status(String::new()),
            FetchFailure::Invalid(Vec::new()),
            FetchFailure::Publish(PublishError::Contended { attempts: 1 }),
        ];
        let causes: Vec<&str> = failures.iter().map(FetchFailure::cause).collect();
        assert_eq!(causes, FetchFailure::CAUSES);
    }
}
