//! The Monitor downtime notification: `{"ts":…,"url":…,"code":…,"host":…,"type":…}`.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

/// A validated notification. `url` is parsed with WHATWG rules, so its host
/// is already lowercase punycode.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub url: Url,
    pub code: u16,
    pub host: Option<String>,
    pub ts: Option<i64>,
    pub kind: Option<String>,
}

impl Notification {
    pub fn is_success(&self) -> bool {
        (200..=299).contains(&self.code)
    }
}

/// Why a request body is not a notification. `Display` gives the reason that
/// follows `invalid notification: ` in the 400 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationError {
    EmptyBody,
    InvalidJson(String),
    NotAnObject,
    MissingField(&'static str),
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    InvalidUrl(String),
    UnsupportedScheme(String),
    CodeOutOfRange(String),
}

impl fmt::Display for NotificationError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyBody => write!(formatter, "empty body"),
            Self::InvalidJson(cause) => write!(formatter, "invalid JSON: {cause}"),
            Self::NotAnObject => write!(formatter, "expected a JSON object"),
            Self::MissingField(field) => write!(formatter, "missing field `{field}`"),
            Self::WrongType { field, expected } => {
                write!(formatter, "field `{field}` must be {expected}")
            }
            Self::InvalidUrl(cause) => write!(formatter, "field `url` is not a URL: {cause}"),
            Self::UnsupportedScheme(scheme) => write!(
                formatter,
                "field `url` has scheme {scheme:?}; expected http or https"
            ),
            Self::CodeOutOfRange(code) => write!(
                formatter,
                "field `code` is {code}; expected an integer from 0 to 999"
            ),
        }
    }
}

impl std::error::Error for NotificationError {}

/// The fields the filter reads. Unknown fields are skipped; serde_json's
/// recursion limit (128) turns deeply nested values into an error rather than
/// a stack overflow.
#[derive(Deserialize)]
struct RawNotification {
    url: Option<Value>,
    code: Option<Value>,
    ts: Option<Value>,
    host: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
}

/// Parses and validates a request body.
pub fn parse(body: &[u8]) -> Result<Notification, NotificationError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(NotificationError::EmptyBody);
    }

    let value: Value = serde_json::from_slice(body)
        .map_err(|error| NotificationError::InvalidJson(error.to_string()))?;
    if !value.is_object() {
        return Err(NotificationError::NotAnObject);
    }
    let raw = RawNotification::deserialize(value)
        .map_err(|error| NotificationError::InvalidJson(error.to_string()))?;

    let url = parse_url(raw.url)?;
    let code = parse_code(raw.code)?;
    let ts = optional(raw.ts, "ts", "an integer", Value::as_i64)?;
    let host = optional(raw.host, "host", "a string", |value| {
        value.as_str().map(str::to_string)
    })?;
    let kind = optional(raw.kind, "type", "a string", |value| {
        value.as_str().map(str::to_string)
    })?;

    Ok(Notification {
        url,
        code,
        host,
        ts,
        kind,
    })
}

fn parse_url(value: Option<Value>) -> Result<Url, NotificationError> {
    let text = match value {
        None | Some(Value::Null) => return Err(NotificationError::MissingField("url")),
        Some(Value::String(text)) => text,
        Some(_) => {
            return Err(NotificationError::WrongType {
                field: "url",
                expected: "a string",
            })
        }
    };

    let url = Url::parse(text.trim())
        .map_err(|error| NotificationError::InvalidUrl(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NotificationError::UnsupportedScheme(
            url.scheme().to_string(),
        ));
    }
    // WHATWG parsing already rejects http(s) URLs without a host, but keeps a
    // host of dots only (`https://./`), which matching would see as empty
    // once the trailing dots are removed.
    if url
        .host_str()
        .is_none_or(|host| host.trim_end_matches('.').is_empty())
    {
        return Err(NotificationError::InvalidUrl("missing host".to_string()));
    }
    Ok(url)
}

fn parse_code(value: Option<Value>) -> Result<u16, NotificationError> {
    let value = match value {
        None | Some(Value::Null) => return Err(NotificationError::MissingField("code")),
        Some(value) => value,
    };
    let Value::Number(number) = &value else {
        return Err(NotificationError::WrongType {
            field: "code",
            expected: "an integer from 0 to 999",
        });
    };
    number
        .as_u64()
        .filter(|code| *code <= 999)
        .and_then(|code| u16::try_from(code).ok())
        .ok_or_else(|| NotificationError::CodeOutOfRange(number.to_string()))
}

/// Reads an optional field: absent and `null` are both "not given".
fn optional<T>(
    value: Option<Value>,
    field: &'static str,
    expected: &'static str,
    convert: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, NotificationError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => convert(&value)
            .map(Some)
            .ok_or(NotificationError::WrongType { field, expected }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"ts":1385139152,"url":"http:\/\/example.com","code":403,"host":"example","type":"http"}"#;

    fn reason(body: &str) -> String {
        match parse(body.as_bytes()) {
            Ok(notification) => panic!("{body:?} parsed as {notification:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn seed_payload_parses_verbatim() {
        let parsed = parse(SEED.as_bytes());
        let notification = parsed.as_ref().ok();
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(
            notification.map(|n| n.url.as_str()),
            Some("http://example.com/")
        );
        assert_eq!(notification.map(|n| n.code), Some(403));
        assert_eq!(
            notification.and_then(|n| n.host.as_deref()),
            Some("example")
        );
        assert_eq!(notification.and_then(|n| n.ts), Some(1_385_139_152));
        assert_eq!(notification.and_then(|n| n.kind.as_deref()), Some("http"));
    }

    #[test]
    fn optional_fields_may_be_absent_or_null() {
        let parsed = parse(br#"{"url":"https://example.com/x","code":0,"host":null}"#);
        let notification = parsed.ok();
        assert_eq!(notification.as_ref().map(|n| n.code), Some(0));
        assert_eq!(notification.as_ref().and_then(|n| n.host.clone()), None);
        assert_eq!(notification.as_ref().and_then(|n| n.ts), None);
    }

    #[test]
    fn host_of_dots_only_is_missing() {
        // Found by the notification fuzz target.
        assert_eq!(
            reason(r#"{"url":"https:/./a//","code":503}"#),
            "field `url` is not a URL: missing host"
        );
        assert_eq!(
            reason(r#"{"url":"http://.../","code":503}"#),
            "field `url` is not a URL: missing host"
        );
    }

    #[test]
    fn extra_fields_are_ignored() {
        let body = br#"{"url":"http://example.com","code":500,"extra":{"deep":[1,2,3]},"n":1.5}"#;
        assert!(parse(body).is_ok());
    }

    #[test]
    fn missing_required_fields_are_named() {
        assert_eq!(reason(r#"{"code":500}"#), "missing field `url`");
        assert_eq!(
            reason(r#"{"url":"http://example.com"}"#),
            "missing field `code`"
        );
        assert_eq!(reason(r#"{"url":null,"code":500}"#), "missing field `url`");
    }

    #[test]
    fn wrong_types_are_named() {
        assert_eq!(
            reason(r#"{"url":5,"code":500}"#),
            "field `url` must be a string"
        );
        assert_eq!(
            reason(r#"{"url":"http://example.com","code":"500"}"#),
            "field `code` must be an integer from 0 to 999"
        );
        assert_eq!(
            reason(r#"{"url":"http://example.com","code":500,"ts":"now"}"#),
            "field `ts` must be an integer"
        );
        assert_eq!(
            reason(r#"{"url":"http://example.com","code":500,"host":7}"#),
            "field `host` must be a string"
        );
        assert_eq!(
            reason(r#"{"url":"http://example.com","code":500,"type":["http"]}"#),
            "field `type` must be a string"
        );
    }

    #[test]
    fn code_range_is_enforced() {
        assert_eq!(
            reason(r#"{"url":"http://example.com","code":1000}"#),
            "field `code` is 1000; expected an integer from 0 to 999"
        );
        assert_eq!(
            reason(r#"{"url":"http://example.com","code":-1}"#),
            "field `code` is -1; expected an integer from 0 to 999"
        );
        assert_eq!(
            reason(r#"{"url":"http://example.com","code":500.5}"#),
            "field `code` is 500.5; expected an integer from 0 to 999"
        );
    }

    #[test]
    fn urls_must_be_http_with_host() {
        assert_eq!(
            reason(r#"{"url":"ftp://example.com","code":500}"#),
            "field `url` has scheme \"ftp\"; expected http or https"
        );
        assert!(
            reason(r#"{"url":"example.com","code":500}"#).starts_with("field `url` is not a URL")
        );
        assert!(reason(r#"{"url":"http://","code":500}"#).starts_with("field `url` is not a URL"));
        assert!(reason(r#"{"url":"","code":500}"#).starts_with("field `url` is not a URL"));
    }

    #[test]
    fn bodies_that_are_not_objects_are_rejected() {
        assert_eq!(reason(""), "empty body");
        assert_eq!(reason("  \n"), "empty body");
        assert_eq!(reason("[1,2]"), "expected a JSON object");
        assert_eq!(reason("\"ok\""), "expected a JSON object");
        assert!(reason("{\"url\":").starts_with("invalid JSON: "));
        assert!(reason("url=http://example.com&code=500").starts_with("invalid JSON: "));
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let body = b"{\"url\":\"http://example.com/\xff\",\"code\":500}";
        let error = parse(body).err().map(|error| error.to_string());
        assert!(error.is_some_and(|reason| reason.starts_with("invalid JSON: ")));
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        let mut body = String::from("{\"url\":\"http://example.com\",\"code\":500,\"x\":");
        body.push_str(&"[".repeat(10_000));
        body.push_str(&"]".repeat(10_000));
        body.push('}');
        assert!(reason(&body).contains("recursion limit exceeded"));

        let bare = "[".repeat(10_000);
        assert!(reason(&bare).starts_with("invalid JSON: "));
    }
}
