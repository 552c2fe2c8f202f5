//! Request handling that does not depend on the proxy: which requests are the
//! webhook, the checks on headers, and the reply to a complete body.

use std::net::{IpAddr, SocketAddr};

use subtle::ConstantTimeEq;

use crate::config::{Snapshot, Webhook};
use crate::decision::{decide, Decision, Outcome};
use crate::notification::{self, Notification, NotificationError};
use crate::window::UnixNanos;

/// A local reply. The body is sent as `text/plain; charset=utf-8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    pub body: String,
    pub outcome: Outcome,
}

impl Reply {
    fn new(status: u32, body: impl Into<String>, outcome: Outcome) -> Reply {
        Reply {
            status,
            body: body.into(),
            outcome,
        }
    }

    /// 405 replies carry `allow: POST`.
    pub fn allow_header(&self) -> Option<&'static str> {
        (self.outcome == Outcome::MethodNotAllowed).then_some("POST")
    }
}

/// What to do after the request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadersVerdict {
    /// Not the webhook: let the request through untouched.
    PassThrough,
    /// Answer now without reading a body.
    Reply(Reply),
    /// The webhook, accepted so far: read the body.
    ReadBody,
}

/// The request headers the checks look at.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub path: &'a str,
    pub method: &'a str,
    /// The downstream address as Envoy computed it (`source.address`).
    pub source: Option<&'a str>,
    pub content_length: Option<&'a str>,
    pub end_of_stream: bool,
}

/// The reply to a complete body, with what the log line needs.
#[derive(Debug, Clone)]
pub struct BodyAnswer {
    pub reply: Reply,
    pub notification: Option<Notification>,
    pub decision: Option<Decision>,
    pub error: Option<NotificationError>,
}

/// Tells whether `path` (which may carry a query) is the webhook path.
pub fn is_webhook(webhook: &Webhook, path: &str) -> bool {
    let without_query = path.split_once('?').map_or(path, |(path, _)| path);
    without_query == webhook.path
}

pub fn check_headers(webhook: &Webhook, head: &RequestHead<'_>) -> HeadersVerdict {
    if !is_webhook(webhook, head.path) {
        return HeadersVerdict::PassThrough;
    }

    if !source_allowed(webhook, head.source) {
        return HeadersVerdict::Reply(forbidden());
    }
    if head.method != "POST" {
        return HeadersVerdict::Reply(Reply::new(
            405,
            "method not allowed: use POST",
            Outcome::MethodNotAllowed,
        ));
    }
    if !token_accepted(webhook, head.path) {
        return HeadersVerdict::Reply(forbidden());
    }

    let declared_length = head
        .content_length
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > webhook.max_body_bytes as u64) {
        return HeadersVerdict::Reply(too_large(webhook));
    }
    if head.end_of_stream {
        return HeadersVerdict::Reply(invalid(&NotificationError::EmptyBody));
    }
    HeadersVerdict::ReadBody
}

/// Answers a complete body at `now`.
pub fn answer_body(snapshot: &Snapshot, body: &[u8], now: UnixNanos) -> BodyAnswer {
    if body.len() > snapshot.webhook.max_body_bytes {
        return BodyAnswer {
            reply: too_large(&snapshot.webhook),
            notification: None,
            decision: None,
            error: None,
        };
    }

    match notification::parse(body) {
        Err(error) => BodyAnswer {
            reply: invalid(&error),
            notification: None,
            decision: None,
            error: Some(error),
        },
        Ok(notification) => {
            let decision = decide(snapshot, &notification, now);
            BodyAnswer {
                reply: Reply::new(200, decision.body(), decision.outcome),
                notification: Some(notification),
                decision: Some(decision),
                error: None,
            }
        }
    }
}

pub fn too_large(webhook: &Webhook) -> Reply {
    Reply::new(
        413,
        format!(
            "notification too large: the limit is {} bytes",
            webhook.max_body_bytes
        ),
        Outcome::TooLarge,
    )
}

fn invalid(error: &NotificationError) -> Reply {
    Reply::new(
        400,
        format!("invalid notification: {error}"),
        Outcome::Invalid,
    )
}

fn forbidden() -> Reply {
    Reply::new(403, "forbidden", Outcome::Forbidden)
}

fn source_allowed(webhook: &Webhook, source: Option<&str>) -> bool {
    if webhook.allowed_sources.is_empty() {
        return true;
    }
    // Envoy reports `ip:port` (`[v6]:port` for IPv6); an address it could not
    // name is rejected, since the list exists to keep strangers out.
    let Some(address) = source.and_then(parse_address) else {
        return false;
    };
    let address = canonical(address);
    webhook
        .allowed_sources
        .iter()
        .any(|network| network.contains(&address))
}

fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<SocketAddr>()
        .map(|socket| socket.ip())
        .or_else(|_| text.parse::<IpAddr>())
        .ok()
}

/// Maps IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, seen on dual-stack
/// listeners) to IPv4, so IPv4 blocks apply to them.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// Accepts the request when no token is configured, or when the query holds
/// exactly one `token` parameter equal to it. The comparison takes the same
/// time wherever the first difference is.
fn token_accepted(webhook: &Webhook, path: &str) -> bool {
    let Some(expected) = webhook.token.as_deref() else {
        return true;
    };
    let query = path.split_once('?').map_or("", |(_, query)| query);

    let mut tokens = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "token")
        .map(|(_, value)| value);
    let (Some(given), None) = (tokens.next(), tokens.next()) else {
        return false;
    };
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(webhook: &str) -> Snapshot {
        let document = format!(
            r#"{{"webhook":{webhook},"rules":[{{"id":"all","all":true,"start":"2026-12-05T01:00:00Z","end":"2026-12-05T03:00:00Z"}}]}}"#
        );
        Snapshot::from_json(document.as_bytes()).unwrap()
    }

    fn head<'a>(path: &'a str, method: &'a str) -> RequestHead<'a> {
        RequestHead {
            path,
            method,
            source: Some("127.0.0.1:40000"),
            content_length: None,
            end_of_stream: false,
        }
    }

    fn status(verdict: HeadersVerdict) -> Option<u32> {
        match verdict {
            HeadersVerdict::Reply(reply) => Some(reply.status),
            _ => None,
        }
    }

    #[test]
    fn other_paths_pass_through() {
        let rules = snapshot(r#"{"path":"/hook"}"#);
        for path in ["/", "/hook/", "/hooks", "/other?x=/hook", "/HOOK"] {
            assert_eq!(
                check_headers(&rules.webhook, &head(path, "POST")),
                HeadersVerdict::PassThrough,
                "{path}"
            );
        }
        assert_eq!(
            check_headers(&rules.webhook, &head("/hook?x=1", "POST")),
            HeadersVerdict::ReadBody
        );
    }

    #[test]
    fn only_post_is_accepted() {
        let rules = snapshot(r#"{"path":"/hook"}"#);
        for method in ["GET", "HEAD", "PUT", "post"] {
            let verdict = check_headers(&rules.webhook, &head("/hook", method));
            let HeadersVerdict::Reply(reply) = verdict else {
                panic!("{method} was accepted")
            };
            assert_eq!(reply.status, 405);
            assert_eq!(reply.allow_header(), Some("POST"));
        }
    }

    #[test]
    fn token_must_match_exactly_once() {
        let rules = snapshot(r#"{"path":"/hook","token":"change-me"}"#);
        assert_eq!(
            check_headers(&rules.webhook, &head("/hook?token=change-me", "POST")),
            HeadersVerdict::ReadBody
        );
        assert_eq!(
            check_headers(&rules.webhook, &head("/hook?a=1&token=change%2Dme", "POST")),
            HeadersVerdict::ReadBody
        );
        for path in [
            "/hook",
            "/hook?token=",
            "/hook?token=Change-Me",
            "/hook?token=change-me%20",
            "/hook?token=+change-me",
            "/hook?token=change-me&token=change-me",
            "/hook?token=wrong&token=change-me",
            "/hook?tok=change-me",
        ] {
            assert_eq!(
                status(check_headers(&rules.webhook, &head(path, "POST"))),
                Some(403),
                "{path}"
            );
        }
    }

    #[test]
    fn sources_are_checked_for_both_families() {
        let rules =
            snapshot(r#"{"path":"/hook","allowed_sources":["192.0.2.0/24","2001:db8::/32"]}"#);
        let cases = [
            (Some("192.0.2.9:5000"), None),
            (Some("[2001:db8::1]:5000"), None),
            (Some("[::ffff:192.0.2.9]:5000"), None),
            (Some("192.0.3.1:5000"), Some(403)),
            (Some("[2001:db9::1]:5000"), Some(403)),
            (Some("not an address"), Some(403)),
            (None, Some(403)),
        ];
        for (source, expected) in cases {
            let mut request = head("/hook", "POST");
            request.source = source;
            assert_eq!(
                status(check_headers(&rules.webhook, &request)),
                expected,
                "{source:?}"
            );
        }
    }

    #[test]
    fn declared_length_over_limit_is_rejected_early() {
        let rules = snapshot(r#"{"path":"/hook","max_body_bytes":10}"#);
        let mut request = head("/hook", "POST");
        request.content_length = Some("11");
        assert_eq!(status(check_headers(&rules.webhook, &request)), Some(413));
        request.content_length = Some("10");
        assert_eq!(
            check_headers(&rules.webhook, &request),
            HeadersVerdict::ReadBody
        );
    }

    #[test]
    fn headers_only_post_is_an_empty_body() {
        let rules = snapshot(r#"{"path":"/hook"}"#);
        let mut request = head("/hook", "POST");
        request.end_of_stream = true;
        let HeadersVerdict::Reply(reply) = check_headers(&rules.webhook, &request) else {
            panic!("accepted")
        };
        assert_eq!(reply.status, 400);
        assert_eq!(reply.body, "invalid notification: empty body");
    }

    #[test]
    fn body_answers() {
        let rules = snapshot(r#"{"path":"/hook","max_body_bytes":200}"#);
        let now = crate::timestamp::parse_rfc3339("2026-12-05T02:00:00Z").unwrap();

        let answered = answer_body(&rules, br#"{"url":"http:\/\/example.com","code":403}"#, now);
        assert_eq!(answered.reply.status, 200);
        assert_eq!(answered.reply.body, "2026-12-05T03:00:00Z");

        let invalid = answer_body(&rules, b"{", now);
        assert_eq!(invalid.reply.status, 400);
        assert!(invalid
            .reply
            .body
            .starts_with("invalid notification: invalid JSON: "));

        let large = answer_body(&rules, &[b' '; 201], now);
        assert_eq!(large.reply.status, 413);
        assert_eq!(
            large.reply.body,
            "notification too large: the limit is 200 bytes"
        );
    }
}
