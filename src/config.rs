//! The plugin configuration: parsed with unknown fields rejected, validated
//! with every error tied to its JSON path, then compiled once into an
//! immutable `Snapshot` that requests share.

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::RandomState;
use ipnet::IpNet;
use serde::Deserialize;

use crate::error::ConfigError;
use crate::index::{RuleIndex, RuleIndexEntry};
use crate::recurring::{TimeInterval, TimeIntervalSpec};
use crate::site::SitePattern;
use crate::timestamp::parse_rfc3339;
use crate::window::{UnixNanos, Window, NANOS_PER_SECOND};

pub const DEFAULT_MAX_BODY_BYTES: u64 = 16_384;
/// Envoy's default per-connection buffer limit; a larger body never reaches
/// the filter whole.
pub const MAX_BODY_BYTES_LIMIT: u64 = 1_048_576;
pub const DEFAULT_MAX_SUPPRESSION_SECONDS: u64 = 86_400;
/// Upper bound for `max_suppression_seconds` (31 days). Recurring schedules
/// are expanded up to the cap, so it also bounds the work per notification.
pub const MAX_SUPPRESSION_SECONDS_LIMIT: u64 = 31 * 86_400;
/// Upper bound for `chain_gap_seconds` (one day).
pub const CHAIN_GAP_SECONDS_LIMIT: u64 = 86_400;
const RULE_ID_MAX_LEN: usize = 128;

/// The configuration document as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    pub webhook: WebhookSpec,
    pub max_suppression_seconds: Option<u64>,
    pub chain_gap_seconds: Option<u64>,
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub path: String,
    pub token: Option<String>,
    pub allowed_sources: Option<Vec<String>>,
    pub max_body_bytes: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub sites: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub all: Option<bool>,
    pub exact_host: Option<bool>,
    pub dry_run: Option<bool>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub time_intervals: Option<Vec<TimeIntervalSpec>>,
}

/// The compiled, immutable configuration.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub webhook: Webhook,
    pub max_suppression: UnixNanos,
    pub chain_gap: UnixNanos,
    pub dry_run: bool,
    pub rules: Vec<Rule>,
    pub index: RuleIndex,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub path: String,
    pub token: Option<String>,
    pub allowed_sources: Vec<IpNet>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub dry_run: bool,
    pub schedule: Schedule,
}

#[derive(Debug, Clone)]
pub enum Schedule {
    OneOff(Window),
    Recurring(Vec<TimeInterval>),
}

impl Schedule {
    /// Appends the windows that touch the closed range `[from, to]`.
    pub fn windows_touching(&self, from: UnixNanos, to: UnixNanos, out: &mut Vec<Window>) {
        match self {
            Schedule::OneOff(window) => {
                if window.touches(from, to) {
                    out.push(*window);
                }
            }
            Schedule::Recurring(intervals) => {
                for interval in intervals {
                    interval.windows_touching(from, to, out);
                }
            }
        }
    }
}

impl Snapshot {
    /// Parses, validates and compiles a configuration document. Each rule is
    /// compiled as soon as it is read, so the document's rules never exist
    /// twice in memory: a proxy-wasm VM keeps its peak memory for life.
    pub fn from_json(bytes: &[u8]) -> Result<Snapshot, Vec<ConfigError>> {
        let document = parse_document::<StreamedConfig>(bytes)?;
        let mut errors = Vec::new();
        let settings = compile_settings(
            &document.webhook,
            document.max_suppression_seconds,
            document.chain_gap_seconds,
            &mut errors,
        );
        let CompiledRules {
            rules,
            index,
            errors: mut rule_errors,
        } = document.rules;
        errors.append(&mut rule_errors);

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(settings.into_snapshot(document.dry_run, rules, index))
    }
}

/// Deserialises a JSON document, turning the first structural error into a
/// `ConfigError` that carries the JSON path where it happened.
pub fn parse_document<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, Vec<ConfigError>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(vec![ConfigError::new(
            "",
            "configuration is empty; expected a JSON object with at least webhook.path",
        )]);
    }

    // serde_path_to_error records the path of every value it passes, which
    // costs a large document noticeably; so the document is parsed plainly
    // first and again with paths only to report an error.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![ConfigError::new(path, error.inner().to_string())]
    })?;
    deserializer.end().map_err(|error| {
        vec![ConfigError::new(
            "",
            format!("invalid JSON after the document: {error}"),
        )]
    })?;
    Ok(value)
}

/// Validates a parsed document and compiles it. Every problem is reported,
/// not just the first.
pub fn compile(spec: &ConfigSpec) -> Result<Snapshot, Vec<ConfigError>> {
    let mut errors = Vec::new();

    let settings = compile_settings(
        &spec.webhook,
        spec.max_suppression_seconds,
        spec.chain_gap_seconds,
        &mut errors,
    );
    let (rules, index) = compile_rules(&spec.rules, "rules", &mut errors);

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(settings.into_snapshot(spec.dry_run, rules, index))
}

/// The compiled top-level settings, before the rules join them.
struct Settings {
    webhook: Webhook,
    max_suppression: UnixNanos,
    chain_gap: UnixNanos,
}

impl Settings {
    fn into_snapshot(self, dry_run: Option<bool>, rules: Vec<Rule>, index: RuleIndex) -> Snapshot {
        Snapshot {
            webhook: self.webhook,
            max_suppression: self.max_suppression,
            chain_gap: self.chain_gap,
            dry_run: dry_run.unwrap_or(false),
            rules,
            index,
        }
    }
}

fn compile_settings(
    webhook: &WebhookSpec,
    max_suppression_seconds: Option<u64>,
    chain_gap_seconds: Option<u64>,
    errors: &mut Vec<ConfigError>,
) -> Settings {
    let webhook = compile_webhook(webhook, errors);
    let max_suppression = bounded_seconds(
        max_suppression_seconds.unwrap_or(DEFAULT_MAX_SUPPRESSION_SECONDS),
        1,
        MAX_SUPPRESSION_SECONDS_LIMIT,
        "max_suppression_seconds",
        errors,
    );
    let chain_gap = bounded_seconds(
        chain_gap_seconds.unwrap_or(0),
        0,
        CHAIN_GAP_SECONDS_LIMIT,
        "chain_gap_seconds",
        errors,
    );
    Settings {
        webhook,
        max_suppression,
        chain_gap,
    }
}

fn compile_webhook(spec: &WebhookSpec, errors: &mut Vec<ConfigError>) -> Webhook {
    if !spec.path.starts_with('/')
        || spec.path.contains(['?', '#'])
        || spec.path.contains(char::is_whitespace)
    {
        errors.push(ConfigError::new(
            "webhook.path",
            format!(
                "{:?} is not a request path; expected an absolute path such as \"/jetpack/monitor\" without query or fragment",
                spec.path
            ),
        ));
    }

    if spec.token.as_deref().is_some_and(str::is_empty) {
        errors.push(ConfigError::new(
            "webhook.token",
            "token is empty; remove the field to accept notifications without a token",
        ));
    }

    let mut allowed_sources = Vec::new();
    for (position, source) in spec.allowed_sources.iter().flatten().enumerate() {
        match parse_source(source) {
            Some(network) => allowed_sources.push(network),
            None => errors.push(ConfigError::new(
                format!("webhook.allowed_sources[{position}]"),
                format!("{source:?} is not an IP address or CIDR block such as \"192.0.2.0/24\" or \"2001:db8::/32\""),
            )),
        }
    }
    if spec.allowed_sources.as_ref().is_some_and(Vec::is_empty) {
        errors.push(ConfigError::new(
            "webhook.allowed_sources",
            "list is empty, which would reject every notification; remove the field to accept any source",
        ));
    }

    let max_body_bytes = spec.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if !(1..=MAX_BODY_BYTES_LIMIT).contains(&max_body_bytes) {
        errors.push(ConfigError::new(
            "webhook.max_body_bytes",
            format!("{max_body_bytes} is out of range; expected 1 to {MAX_BODY_BYTES_LIMIT}"),
        ));
    }

    Webhook {
        path: spec.path.clone(),
        token: spec.token.clone(),
        allowed_sources,
        max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
    }
}

fn parse_source(source: &str) -> Option<IpNet> {
    let source = source.trim();
    if let Ok(network) = source.parse::<IpNet>() {
        return Some(network.trunc());
    }
    source.parse::<IpAddr>().ok().map(IpNet::from)
}

fn bounded_seconds(
    value: u64,
    min: u64,
    max: u64,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> UnixNanos {
    if !(min..=max).contains(&value) {
        errors.push(ConfigError::new(
            path,
            format!("{value} is out of range; expected {min} to {max} seconds"),
        ));
    }
    UnixNanos::from(value) * NANOS_PER_SECOND
}

/// The JSON path of one rule, formatted only when an error needs it: building
/// it eagerly for each of 100,000 rules was a measurable share of compile time.
struct RulePath<'a> {
    prefix: &'a str,
    position: usize,
}

impl std::fmt::Display for RulePath<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}[{}]", self.prefix, self.position)
    }
}

/// Compiles rules whose paths start with `prefix` (`rules`).
pub fn compile_rules(
    specs: &[RuleSpec],
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> (Vec<Rule>, RuleIndex) {
    let mut compiler = RuleCompiler::new(prefix, specs.len());
    for spec in specs {
        compiler.add(spec);
    }
    let compiled = compiler.finish();
    errors.extend(compiled.errors);
    (compiled.rules, compiled.index)
}

/// Compiles rules one at a time, in document order.
struct RuleCompiler<'a> {
    prefix: &'a str,
    position: usize,
    /// The position of the first rule with each id.
    first_use: HashMap<Box<str>, usize, RandomState>,
    compiled: CompiledRules,
}

/// Rules compiled from a list, with the problems found in it.
#[derive(Debug, Default)]
pub struct CompiledRules {
    pub rules: Vec<Rule>,
    pub index: RuleIndex,
    pub errors: Vec<ConfigError>,
}

impl<'a> RuleCompiler<'a> {
    fn new(prefix: &'a str, capacity: usize) -> RuleCompiler<'a> {
        RuleCompiler {
            prefix,
            position: 0,
            first_use: HashMap::with_capacity_and_hasher(capacity, RandomState::default()),
            compiled: CompiledRules {
                rules: Vec::with_capacity(capacity),
                ..CompiledRules::default()
            },
        }
    }

    fn add(&mut self, spec: &RuleSpec) {
        let prefix = self.prefix;
        let position = self.position;
        self.position += 1;
        let path = RulePath { prefix, position };
        let errors = &mut self.compiled.errors;

        validate_id(&spec.id, &path, errors);
        if let Some(previous) = self.first_use.get(spec.id.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}.id"),
                format!(
                    "{:?} is already the id of {prefix}[{previous}]; ids must be unique",
                    spec.id
                ),
            ));
        } else {
            self.first_use.insert(spec.id.as_str().into(), position);
        }

        let Ok(rule_entry) = RuleIndexEntry::try_from(self.compiled.rules.len()) else {
            errors.push(ConfigError::new(prefix, "too many rules"));
            return;
        };
        index_matchers(spec, rule_entry, &path, &mut self.compiled.index, errors);
        let Some(schedule) = compile_schedule(spec, &path, errors) else {
            return;
        };
        self.compiled.rules.push(Rule {
            id: spec.id.clone(),
            dry_run: spec.dry_run.unwrap_or(false),
            schedule,
        });
    }

    fn finish(self) -> CompiledRules {
        self.compiled
    }
}

/// The configuration document as `Snapshot::from_json` reads it: like
/// `ConfigSpec`, but with the rules compiled while the list is read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamedConfig {
    webhook: WebhookSpec,
    max_suppression_seconds: Option<u64>,
    chain_gap_seconds: Option<u64>,
    dry_run: Option<bool>,
    #[serde(default)]
    rules: CompiledRules,
}

impl<'de> Deserialize<'de> for CompiledRules {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(RuleListVisitor)
    }
}

struct RuleListVisitor;

impl<'de> serde::de::Visitor<'de> for RuleListVisitor {
    type Value = CompiledRules;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a list of rules")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut sequence: A,
    ) -> Result<CompiledRules, A::Error> {
        let mut compiler = RuleCompiler::new("rules", sequence.size_hint().unwrap_or(0));
        while let Some(spec) = sequence.next_element::<RuleSpec>()? {
            compiler.add(&spec);
        }
        Ok(compiler.finish())
    }
}

fn validate_id(id: &str, path: &RulePath<'_>, errors: &mut Vec<ConfigError>) {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/' | '@');
    if id.is_empty() || id.len() > RULE_ID_MAX_LEN || !id.chars().all(allowed) {
        errors.push(ConfigError::new(
            format!("{path}.id"),
            format!(
                "{id:?} is not a valid rule id; expected 1 to {RULE_ID_MAX_LEN} characters from A-Z a-z 0-9 - _ . : / @"
            ),
        ));
    }
}

fn index_matchers(
    spec: &RuleSpec,
    rule: RuleIndexEntry,
    path: &RulePath<'_>,
    index: &mut RuleIndex,
    errors: &mut Vec<ConfigError>,
) {
    let exact_host = spec.exact_host.unwrap_or(false);
    let mut matches_something = false;

    if let Some(sites) = &spec.sites {
        if sites.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.sites"),
                "list is empty; remove it or name at least one site",
            ));
        }
        for (position, site) in sites.iter().enumerate() {
            match SitePattern::parse(site) {
                Ok(pattern) => {
                    index.add_site(rule, &pattern, exact_host);
                    matches_something = true;
                }
                Err(message) => errors.push(ConfigError::new(
                    format!("{path}.sites[{position}]"),
                    message,
                )),
            }
        }
    }

    if let Some(hosts) = &spec.hosts {
        if hosts.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.hosts"),
                "list is empty; remove it or name at least one host slug",
            ));
        }
        for (position, slug) in hosts.iter().enumerate() {
            if slug.trim().is_empty() {
                errors.push(ConfigError::new(
                    format!("{path}.hosts[{position}]"),
                    "host slug is empty",
                ));
                continue;
            }
            index.add_slug(rule, slug.trim());
            matches_something = true;
        }
    }

    if spec.all == Some(true) {
        index.add_all(rule);
        matches_something = true;
    }

    if !matches_something && spec.sites.is_none() && spec.hosts.is_none() {
        errors.push(ConfigError::new(
            path.to_string(),
            "rule matches nothing; set at least one of sites, hosts or \"all\": true",
        ));
    }
}

fn compile_schedule(
    spec: &RuleSpec,
    path: &RulePath<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Schedule> {
    match (&spec.start, &spec.end, &spec.time_intervals) {
        (None, None, Some(specs)) => compile_intervals(specs, path, errors),
        (Some(start), Some(end), None) => compile_one_off(start, end, path, errors),
        (None, None, None) => {
            errors.push(ConfigError::new(
                path.to_string(),
                "rule has no schedule; set start and end, or time_intervals",
            ));
            None
        }
        (_, _, Some(_)) => {
            errors.push(ConfigError::new(
                format!("{path}.time_intervals"),
                "a rule takes either start and end or time_intervals, not both",
            ));
            None
        }
        (Some(_), None, None) => {
            errors.push(ConfigError::new(
                format!("{path}.end"),
                "missing; start needs an end",
            ));
            None
        }
        (None, Some(_), None) => {
            errors.push(ConfigError::new(
                format!("{path}.start"),
                "missing; end needs a start",
            ));
            None
        }
    }
}

fn compile_one_off(
    start: &str,
    end: &str,
    path: &RulePath<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Schedule> {
    let start_instant = parse_rfc3339(start)
        .map_err(|message| errors.push(ConfigError::new(format!("{path}.start"), message)));
    let end_instant = parse_rfc3339(end)
        .map_err(|message| errors.push(ConfigError::new(format!("{path}.end"), message)));
    let (Ok(start_instant), Ok(end_instant)) = (start_instant, end_instant) else {
        return None;
    };

    if end_instant <= start_instant {
        errors.push(ConfigError::new(
            format!("{path}.end"),
            format!("{end} is not after start {start}"),
        ));
        return None;
    }
    Some(Schedule::OneOff(Window {
        start: start_instant,
        end: end_instant,
    }))
}

fn compile_intervals(
    specs: &[TimeIntervalSpec],
    path: &RulePath<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Schedule> {
    if specs.is_empty() {
        errors.push(ConfigError::new(
            format!("{path}.time_intervals"),
            "list is empty; name at least one interval",
        ));
        return None;
    }

    let mut intervals = Vec::with_capacity(specs.len());
    for (position, spec) in specs.iter().enumerate() {
        match TimeInterval::compile(spec, &format!("{path}.time_intervals[{position}]")) {
            Ok(interval) => intervals.push(interval),
            Err(mut interval_errors) => errors.append(&mut interval_errors),
        }
    }
    (intervals.len() == specs.len()).then_some(Schedule::Recurring(intervals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(document: &str) -> Vec<String> {
        match Snapshot::from_json(document.as_bytes()) {
            Ok(_) => panic!("accepted: {document}"),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn one_error(document: &str) -> String {
        let errors = errors(document);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap_or_default()
    }

    fn with_rule(rule: &str) -> String {
        format!(r#"{{"webhook":{{"path":"/hook"}},"rules":[{rule}]}}"#)
    }

    const WINDOW: &str = r#""start":"2026-12-05T01:00:00Z","end":"2026-12-05T03:00:00Z""#;

    #[test]
    fn minimal_configuration_uses_defaults() {
        let snapshot = Snapshot::from_json(br#"{"webhook":{"path":"/jetpack/monitor"}}"#).unwrap();
        assert_eq!(snapshot.webhook.path, "/jetpack/monitor");
        assert_eq!(snapshot.webhook.max_body_bytes, 16_384);
        assert_eq!(snapshot.webhook.token, None);
        assert!(snapshot.webhook.allowed_sources.is_empty());
        assert_eq!(snapshot.max_suppression, 86_400 * NANOS_PER_SECOND);
        assert_eq!(snapshot.chain_gap, 0);
        assert!(!snapshot.dry_run);
        assert!(snapshot.rules.is_empty());
    }

    #[test]
    fn design_example_compiles_without_recurring_rule() {
        let document = r#"{
          "webhook": {"path": "/jetpack/monitor", "token": "change-me",
                      "allowed_sources": ["192.0.2.0/24"], "max_body_bytes": 16384},
          "max_suppression_seconds": 86400, "chain_gap_seconds": 0, "dry_run": false,
          "rules": [{
            "id": "web-42-kernel-upgrade",
            "comment": "kernel upgrade on web-42, ticket OPS-1234",
            "created_by": "ops@example.net",
            "sites": ["example.com", "*.example.org", "https://shop.example.net/store"],
            "start": "2026-12-05T01:00:00Z", "end": "2026-12-05T03:00:00+00:00"
          }]
        }"#;
        let snapshot = Snapshot::from_json(document.as_bytes()).unwrap();
        assert_eq!(snapshot.rules.len(), 1);
        assert_eq!(snapshot.rules[0].id, "web-42-kernel-upgrade");
        assert_eq!(snapshot.webhook.allowed_sources.len(), 1);
    }

    #[test]
    fn empty_and_malformed_documents() {
        assert_eq!(
            one_error(""),
            "configuration is empty; expected a JSON object with at least webhook.path"
        );
        assert!(one_error("{").contains("EOF while parsing"));
        assert!(one_error(r#"{"webhook":{"path":"/a"}} x"#)
            .starts_with("invalid JSON after the document"));
        assert!(one_error("{}").contains("missing field `webhook`"));
    }

    #[test]
    fn unknown_fields_name_their_path() {
        assert_eq!(
            one_error(r#"{"webhook":{"path":"/a","tokne":"x"}}"#),
            "webhook.tokne: unknown field `tokne`, expected one of `path`, `token`, `allowed_sources`, `max_body_bytes` at line 1 column 31"
        );
        let error = one_error(&with_rule(&format!(
            r#"{{"id":"a","all":true,{WINDOW},"stat":"x"}}"#
        )));
        assert!(
            error.starts_with("rules[0].stat: unknown field `stat`"),
            "{error}"
        );
    }

    #[test]
    fn wrong_types_name_their_path() {
        let error = one_error(r#"{"webhook":{"path":"/a"},"max_suppression_seconds":"1h"}"#);
        assert!(
            error.starts_with("max_suppression_seconds: invalid type: string \"1h\""),
            "{error}"
        );
        let error = one_error(&with_rule(r#"{"id":"a","sites":"example.com"}"#));
        assert!(
            error.starts_with("rules[0].sites: invalid type: string \"example.com\""),
            "{error}"
        );
    }

    #[test]
    fn webhook_values_are_checked() {
        assert!(one_error(r#"{"webhook":{"path":"jetpack"}}"#)
            .starts_with("webhook.path: \"jetpack\" is not a request path"));
        assert!(one_error(r#"{"webhook":{"path":"/a?b=1"}}"#)
            .starts_with("webhook.path: \"/a?b=1\" is not a request path"));
        assert_eq!(
            one_error(r#"{"webhook":{"path":"/a","token":""}}"#),
            "webhook.token: token is empty; remove the field to accept notifications without a token"
        );
        assert!(one_error(
            r#"{"webhook":{"path":"/a","allowed_sources":["192.0.2.0/24","10.0.0.0/33"]}}"#
        )
        .starts_with(
            "webhook.allowed_sources[1]: \"10.0.0.0/33\" is not an IP address or CIDR block"
        ));
        assert!(
            one_error(r#"{"webhook":{"path":"/a","allowed_sources":[]}}"#)
                .starts_with("webhook.allowed_sources: list is empty")
        );
        assert_eq!(
            one_error(r#"{"webhook":{"path":"/a","max_body_bytes":0}}"#),
            "webhook.max_body_bytes: 0 is out of range; expected 1 to 1048576"
        );
    }

    #[test]
    fn sources_accept_addresses_and_blocks() {
        let snapshot = Snapshot::from_json(
            br#"{"webhook":{"path":"/a","allowed_sources":["192.0.2.7","2001:db8::/32","10.1.2.3/8"]}}"#,
        )
        .unwrap();
        let sources: Vec<String> = snapshot
            .webhook
            .allowed_sources
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(sources, ["192.0.2.7/32", "2001:db8::/32", "10.0.0.0/8"]);
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(
            one_error(r#"{"webhook":{"path":"/a"},"max_suppression_seconds":0}"#),
            "max_suppression_seconds: 0 is out of range; expected 1 to 2678400 seconds"
        );
        assert_eq!(
            one_error(r#"{"webhook":{"path":"/a"},"chain_gap_seconds":86401}"#),
            "chain_gap_seconds: 86401 is out of range; expected 0 to 86400 seconds"
        );
    }

    #[test]
    fn rule_ids_are_checked_and_unique() {
        let document = format!(
            r#"{{"webhook":{{"path":"/a"}},"rules":[{{"id":"a","all":true,{WINDOW}}},{{"id":"a","all":true,{WINDOW}}}]}}"#
        );
        assert_eq!(
            one_error(&document),
            "rules[1].id: \"a\" is already the id of rules[0]; ids must be unique"
        );
        assert!(one_error(&with_rule(&format!(
            r#"{{"id":"has space","all":true,{WINDOW}}}"#
        )))
        .starts_with("rules[0].id: \"has space\" is not a valid rule id"));
        assert!(
            one_error(&with_rule(&format!(r#"{{"id":"","all":true,{WINDOW}}}"#)))
                .starts_with("rules[0].id: \"\" is not a valid rule id")
        );
    }

    #[test]
    fn rules_must_match_something() {
        assert_eq!(
            one_error(&with_rule(&format!(r#"{{"id":"a",{WINDOW}}}"#))),
            "rules[0]: rule matches nothing; set at least one of sites, hosts or \"all\": true"
        );
        assert_eq!(
            one_error(&with_rule(&format!(r#"{{"id":"a","all":false,{WINDOW}}}"#))),
            "rules[0]: rule matches nothing; set at least one of sites, hosts or \"all\": true"
        );
        assert_eq!(
            one_error(&with_rule(&format!(r#"{{"id":"a","sites":[],{WINDOW}}}"#))),
            "rules[0].sites: list is empty; remove it or name at least one site"
        );
        assert_eq!(
            one_error(&with_rule(&format!(
                r#"{{"id":"a","hosts":[" "],{WINDOW}}}"#
            ))),
            "rules[0].hosts[0]: host slug is empty"
        );
    }

    #[test]
    fn site_errors_name_the_entry() {
        let error = one_error(&with_rule(&format!(
            r#"{{"id":"a","sites":["example.com","ftp://x.test"],{WINDOW}}}"#
        )));
        assert_eq!(
            error,
            "rules[0].sites[1]: \"ftp://x.test\" has scheme \"ftp\"; expected http, https or no scheme"
        );
    }

    #[test]
    fn schedules_are_checked() {
        assert_eq!(
            one_error(&with_rule(r#"{"id":"a","all":true}"#)),
            "rules[0]: rule has no schedule; set start and end, or time_intervals"
        );
        assert_eq!(
            one_error(&with_rule(
                r#"{"id":"a","all":true,"start":"2026-12-05T01:00:00Z"}"#
            )),
            "rules[0].end: missing; start needs an end"
        );
        assert_eq!(
            one_error(&with_rule(
                r#"{"id":"a","all":true,"end":"2026-12-05T01:00:00Z"}"#
            )),
            "rules[0].start: missing; end needs a start"
        );
        assert_eq!(
            one_error(&with_rule(
                r#"{"id":"a","all":true,"start":"2026-12-05T03:00:00Z","end":"2026-12-05T01:00:00Z"}"#
            )),
            "rules[0].end: 2026-12-05T01:00:00Z is not after start 2026-12-05T03:00:00Z"
        );
        assert_eq!(
            one_error(&with_rule(
                r#"{"id":"a","all":true,"start":"2026-12-05T03:00:00Z","end":"2026-12-05T04:00:00+01:00"}"#
            )),
            "rules[0].end: 2026-12-05T04:00:00+01:00 is not after start 2026-12-05T03:00:00Z"
        );
        assert!(one_error(&with_rule(
            r#"{"id":"a","all":true,"start":"tomorrow","end":"2026-12-05T01:00:00Z"}"#
        ))
        .starts_with("rules[0].start: \"tomorrow\" is not an RFC 3339 timestamp"));
        assert_eq!(
            one_error(&with_rule(&format!(r#"{{"id":"a","all":true,{WINDOW},"time_intervals":[{{}}]}}"#))),
            "rules[0].time_intervals: a rule takes either start and end or time_intervals, not both"
        );
        assert_eq!(
            one_error(&with_rule(r#"{"id":"a","all":true,"time_intervals":[]}"#)),
            "rules[0].time_intervals: list is empty; name at least one interval"
        );
    }

    #[test]
    fn streamed_and_parsed_documents_agree() {
        let valid = format!(
            r#"{{"webhook":{{"path":"/a"}},"rules":[{{"id":"a","all":true,{WINDOW}}},{{"id":"b","hosts":["x"],{WINDOW}}}]}}"#
        );
        let streamed = Snapshot::from_json(valid.as_bytes()).unwrap();
        let parsed = compile(&parse_document::<ConfigSpec>(valid.as_bytes()).unwrap()).unwrap();
        let ids = |snapshot: &Snapshot| {
            snapshot
                .rules
                .iter()
                .map(|rule| rule.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&streamed), ids(&parsed));

        let invalid = r#"{"webhook":{"path":"x"},"rules":[{"id":"a","all":true},{"id":"a","sites":["*.*"],"start":"x","end":"y"},{"id":"a","all":true}]}"#;
        let streamed_errors = errors(invalid);
        let parsed_errors: Vec<String> =
            compile(&parse_document::<ConfigSpec>(invalid.as_bytes()).unwrap())
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect();
        assert_eq!(streamed_errors, parsed_errors);
        assert!(
            streamed_errors.contains(
                &"rules[2].id: \"a\" is already the id of rules[0]; ids must be unique".to_string()
            ),
            "{streamed_errors:?}"
        );
    }

    #[test]
    fn every_error_is_reported() {
        let document = r#"{"webhook":{"path":"x","max_body_bytes":0},"chain_gap_seconds":999999,
            "rules":[{"id":"a","all":true},{"id":"b","sites":["*.*"],"start":"x","end":"y"}]}"#;
        let errors = errors(document);
        let paths: Vec<&str> = errors
            .iter()
            .map(|error| error.split(':').next().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "webhook.path",
                "webhook.max_body_bytes",
                "chain_gap_seconds",
                "rules[0]",
                "rules[1].sites[0]",
                "rules[1].start",
                "rules[1].end"
            ]
        );
    }
}
