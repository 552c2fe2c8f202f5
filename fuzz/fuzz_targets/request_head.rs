//! Checks arbitrary request heads against a fixed webhook configuration: the
//! path and query (with the token), the method, the source address and the
//! content-length. The input is those four values separated by newlines.
//! Only the exact token, given once, with POST from an allowed address may
//! go on to the body.

#![no_main]

use downtime_responder::config::Snapshot;
use downtime_responder::request::{check_headers, HeadersVerdict, RequestHead};
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = r#"{"webhook":{"path":"/jetpack/monitor","token":"s3cret",
    "allowed_sources":["192.0.2.0/24","2001:db8::/32"],"max_body_bytes":1024}}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.splitn(4, '\n');
    let path = fields.next().unwrap_or_default();
    let method = fields.next().unwrap_or_default();
    let source = fields.next();
    let content_length = fields.next();
    let Ok(snapshot) = Snapshot::from_json(CONFIG.as_bytes()) else {
        panic!("the fixed configuration is invalid");
    };

    let head = RequestHead {
        path,
        method,
        source,
        content_length,
        end_of_stream: false,
    };
    let verdict = check_headers(&snapshot.webhook, &head);

    if verdict == HeadersVerdict::ReadBody {
        let query = path.split_once('?').map_or("", |(_, query)| query);
        let tokens: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == "token")
            .map(|(_, value)| value.into_owned())
            .collect();
        assert_eq!(tokens, ["s3cret"], "accepted {path:?}");
        assert_eq!(method, "POST", "accepted method {method:?}");
        assert!(source.is_some(), "accepted without a source address");
    }
    if let HeadersVerdict::Reply(reply) = &verdict {
        assert!(
            matches!(reply.status, 400 | 403 | 405 | 413),
            "unexpected status {} for {text:?}",
            reply.status
        );
    }
});
