//! Parses arbitrary bytes as a Monitor notification. A body that parses must
//! hold what the rest of the filter relies on: an http(s) URL with a host and
//! a code in 0..=999. A body that does not must produce a printable reason.

#![no_main]

use downtime_responder::notification;
use downtime_responder::site::Target;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = match notification::parse(data) {
        Ok(parsed) => parsed,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "empty reason for {data:?}");
            return;
        }
    };

    assert!(parsed.code <= 999, "code {} accepted", parsed.code);
    assert!(
        matches!(parsed.url.scheme(), "http" | "https"),
        "scheme {} accepted",
        parsed.url.scheme()
    );
    assert!(
        parsed.url.host_str().is_some_and(|host| !host.is_empty()),
        "URL without host accepted: {}",
        parsed.url
    );

    let target = Target::from_url(&parsed.url);
    assert!(
        !target.host.is_empty(),
        "empty target host for {}",
        parsed.url
    );
    assert!(
        !target.host.ends_with('.'),
        "trailing dot kept for {}",
        parsed.url
    );
    assert!(
        !target.path.ends_with('/'),
        "trailing slash kept for {}",
        parsed.url
    );
});
