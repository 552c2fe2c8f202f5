//! Parses arbitrary text as a `sites` entry. A pattern that parses must have
//! a host, and must match the URL that it names itself: `example.com/blog`
//! matches `http://example.com/blog`.

#![no_main]

use downtime_responder::site::{port_and_path_match, HostPattern, SitePattern, Target};
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = std::str::from_utf8(data) else {
        return;
    };
    let pattern = match SitePattern::parse(entry) {
        Ok(pattern) => pattern,
        Err(message) => {
            assert!(!message.is_empty(), "empty error for {entry:?}");
            return;
        }
    };

    let host = match &pattern.host {
        HostPattern::Exact(host) | HostPattern::Wildcard(host) => host,
    };
    assert!(!host.is_empty(), "empty host accepted from {entry:?}");
    assert!(!host.ends_with('.'), "trailing dot kept from {entry:?}");
    assert!(
        !pattern.path.ends_with('/'),
        "trailing slash kept from {entry:?}"
    );

    // The URL an exact pattern stands for, on the pattern's port or on
    // port 80 when the pattern has none.
    let HostPattern::Exact(host) = &pattern.host else {
        return;
    };
    let port = pattern
        .port
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let Ok(url) = Url::parse(&format!("http://{host}{port}{}", pattern.path)) else {
        return;
    };
    let target = Target::from_url(&url);
    assert_eq!(&target.host, host, "host of {url} differs from {entry:?}");
    assert!(
        port_and_path_match(pattern.port, &pattern.path, &target),
        "{entry:?} does not match its own URL {url}"
    );
});
