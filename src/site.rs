//! Site patterns (`[scheme://][*.]host[:port][/path]`) and the notification
//! target they are matched against.

use url::{Host, Url};

/// The host part of a site pattern, normalised to lowercase punycode without
/// a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `example.com`: the host itself and, unless the rule sets `exact_host`,
    /// `www.example.com`.
    Exact(String),
    /// `*.example.com`: every subdomain of `example.com`, not the apex.
    Wildcard(String),
}

/// A parsed entry of a rule's `sites`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePattern {
    pub host: HostPattern,
    /// `None` matches any port. Default ports of the pattern's scheme are dropped.
    pub port: Option<u16>,
    /// Path prefix without a trailing slash; empty for the whole site.
    pub path: String,
    /// Whether the host is a domain, so the `www.` alias can apply.
    pub is_domain: bool,
}

/// What a notification URL is matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    /// The explicit port, or the scheme's default.
    pub port: u16,
    /// Path without a trailing slash; empty for the root.
    pub path: String,
}

impl Target {
    pub fn from_url(url: &Url) -> Target {
        Target {
            host: normalise_host(url.host_str().unwrap_or_default()),
            port: url.port_or_known_default().unwrap_or(0),
            path: trim_trailing_slashes(url.path()).to_string(),
        }
    }
}

impl SitePattern {
    /// Parses a `sites` entry. The error names the entry and says what is wrong.
    pub fn parse(entry: &str) -> Result<SitePattern, String> {
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            return Err(
                "site pattern is empty; expected [scheme://]host[:port][/path]".to_string(),
            );
        }

        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("http".to_string(), trimmed),
        };
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "{entry:?} has scheme {scheme:?}; expected http, https or no scheme"
            ));
        }

        let (wildcard, rest) = match rest.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        if let Some(host) = plain_domain(rest) {
            return Ok(SitePattern {
                host: if wildcard {
                    HostPattern::Wildcard(host)
                } else {
                    HostPattern::Exact(host)
                },
                port: None,
                path: String::new(),
                is_domain: true,
            });
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if rest
            .get(..authority_end)
            .is_some_and(|authority| authority.contains('*'))
        {
            return Err(format!(
                "{entry:?} has a `*` that is not a leading `*.` label; \
                 write *.example.com to match every subdomain"
            ));
        }

        let url = Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|error| format!("{entry:?} is not a valid site ({error})"))?;
        let is_domain = matches!(url.host(), Some(Host::Domain(_)));
        let parsed_host = url.host_str().unwrap_or_default();
        let host = normalise_host(parsed_host);
        if host.is_empty() {
            return Err(format!("{entry:?} has no host"));
        }
        // Only one trailing dot is the DNS root. With more, or an empty label
        // inside, removing the dots would name another host: `193.0...` would
        // become `193.0`, which the URL parser reads as 193.0.0.0.
        let labels = parsed_host.strip_suffix('.').unwrap_or(parsed_host);
        if labels.split('.').any(str::is_empty) {
            return Err(format!(
                "{entry:?} has an empty label in its host; remove the extra dots"
            ));
        }
        if wildcard && !is_domain {
            return Err(format!("{entry:?} puts a wildcard on an IP address"));
        }

        Ok(SitePattern {
            host: if wildcard {
                HostPattern::Wildcard(host)
            } else {
                HostPattern::Exact(host)
            },
            port: url.port(),
            path: trim_trailing_slashes(url.path()).to_string(),
            is_domain,
        })
    }
}

/// Tells whether a pattern's port and path accept the target. The host is
/// matched by the index before this is called.
pub fn port_and_path_match(port: Option<u16>, path: &str, target: &Target) -> bool {
    if port.is_some_and(|port| port != target.port) {
        return false;
    }
    path_matches(path, &target.path)
}

/// Matches a path prefix on segment boundaries: `/blog` accepts `/blog` and
/// `/blog/x` but not `/blogger`. Case is kept, as paths are case-sensitive.
fn path_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Returns the normalised host when `text` is a bare domain of ASCII
/// letters, digits and hyphens, for which WHATWG host parsing (UTS 46 without
/// hyphen or length checks) changes nothing but the case and a trailing dot is
/// removed. Large rule sets are mostly such entries, and the full URL parser
/// costs more than everything else in compiling them. Anything else, such as
/// punycode labels (`xn--`), which IDNA must validate, or a last label that
/// could make the host an IPv4 address, returns `None` and takes the full
/// parser.
fn plain_domain(text: &str) -> Option<String> {
    let domain = text.strip_suffix('.').unwrap_or(text);
    let mut last_label = "";
    for label in domain.split('.') {
        let plain = !label.is_empty()
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
            && !label
                .get(..4)
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"));
        if !plain {
            return None;
        }
        last_label = label;
    }
    if !last_label.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    Some(domain.to_ascii_lowercase())
}

fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn trim_trailing_slashes(path: &str) -> &str {
    path.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(entry: &str) -> SitePattern {
        SitePattern::parse(entry).unwrap_or_else(|error| panic!("{entry}: {error}"))
    }

    fn target(url: &str) -> Target {
        Target::from_url(&Url::parse(url).unwrap())
    }

    #[test]
    fn bare_host_is_exact_with_any_port() {
        let parsed = pattern("Example.COM");
        assert_eq!(parsed.host, HostPattern::Exact("example.com".to_string()));
        assert_eq!(parsed.port, None);
        assert_eq!(parsed.path, "");
        assert!(parsed.is_domain);
    }

    #[test]
    fn scheme_is_ignored_and_default_ports_dropped() {
        assert_eq!(pattern("https://example.com").port, None);
        assert_eq!(pattern("https://example.com:443").port, None);
        assert_eq!(pattern("http://example.com:80").port, None);
        assert_eq!(pattern("https://example.com:8443").port, Some(8443));
        assert_eq!(pattern("example.com:443").port, Some(443));
        assert_eq!(
            pattern("HTTPS://example.com").host,
            pattern("example.com").host
        );
    }

    #[test]
    fn wildcard_takes_leading_label_only() {
        assert_eq!(
            pattern("*.Example.org").host,
            HostPattern::Wildcard("example.org".to_string())
        );
        let error = SitePattern::parse("foo.*.example.org").unwrap_err();
        assert!(error.contains("not a leading `*.` label"), "{error}");
        let error = SitePattern::parse("*example.org").unwrap_err();
        assert!(error.contains("not a leading `*.` label"), "{error}");
        let error = SitePattern::parse("*.192.0.2.1").unwrap_err();
        assert!(error.contains("wildcard on an IP address"), "{error}");
    }

    #[test]
    fn trailing_dot_and_trailing_slash_are_removed() {
        let parsed = pattern("example.com./blog/");
        assert_eq!(parsed.host, HostPattern::Exact("example.com".to_string()));
        assert_eq!(parsed.path, "/blog");
        assert_eq!(target("http://example.com./blog/").host, "example.com");
        assert_eq!(target("http://example.com./blog/").path, "/blog");
    }

    #[test]
    fn unicode_and_punycode_hosts_are_the_same() {
        assert_eq!(
            pattern("bücher.example").host,
            pattern("xn--bcher-kva.example").host
        );
        assert_eq!(
            target("http://BÜCHER.example/").host,
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn query_fragment_and_user_info_are_ignored() {
        let parsed = pattern("https://user:pw@example.com/shop?x=1#top");
        assert_eq!(parsed.host, HostPattern::Exact("example.com".to_string()));
        assert_eq!(parsed.path, "/shop");
        let url_target = target("https://user@example.com/shop/?p=2#x");
        assert_eq!(url_target.path, "/shop");
    }

    #[test]
    fn plain_domains_parse_like_urls() {
        let entries = [
            "example.com",
            "Example.COM.",
            "a-b.c-d.example",
            "x.example.org",
            "-leading.example",
            "123.example.com",
            "shop.example.co2",
            "*.Example.org",
        ];
        for entry in entries {
            let fast = SitePattern::parse(entry).unwrap();
            let wildcard = entry.strip_prefix("*.");
            let host = wildcard.unwrap_or(entry);
            let url = Url::parse(&format!("http://{host}/")).unwrap();
            let expected = normalise_host(url.host_str().unwrap());
            let expected = if wildcard.is_some() {
                HostPattern::Wildcard(expected)
            } else {
                HostPattern::Exact(expected)
            };
            assert_eq!(fast.host, expected, "{entry}");
            assert_eq!(fast.port, None, "{entry}");
            assert_eq!(fast.path, "", "{entry}");
        }
    }

    #[test]
    fn fast_path_leaves_special_hosts_to_url_parser() {
        assert_eq!(plain_domain("xn--bcher-kva.example"), None);
        assert_eq!(plain_domain("192.0.2.1"), None);
        assert_eq!(plain_domain("0x7f.1"), None);
        assert_eq!(plain_domain("a..b"), None);
        assert_eq!(plain_domain("example.com:8080"), None);
        assert_eq!(plain_domain("example.com/blog"), None);
        assert_eq!(plain_domain("bücher.example"), None);
        assert!(!pattern("192.0.2.1").is_domain);
        assert_eq!(
            pattern("0x7f.1").host,
            HostPattern::Exact("127.0.0.1".to_string())
        );
    }

    #[test]
    fn ip_hosts_are_not_domains() {
        assert!(!pattern("192.0.2.10").is_domain);
        assert!(!pattern("[2001:db8::1]:8080").is_domain);
        assert_eq!(
            pattern("[2001:DB8::1]").host,
            HostPattern::Exact("[2001:db8::1]".to_string())
        );
    }

    #[test]
    fn invalid_patterns_are_rejected() {
        assert!(SitePattern::parse("").unwrap_err().contains("empty"));
        assert!(SitePattern::parse("ftp://example.com")
            .unwrap_err()
            .contains("scheme \"ftp\""));
        assert!(SitePattern::parse("exa mple.com")
            .unwrap_err()
            .contains("not a valid site"));
        assert!(SitePattern::parse("example.com:99999")
            .unwrap_err()
            .contains("not a valid site"));
    }

    #[test]
    fn empty_host_labels_are_rejected() {
        // Found by the site-pattern fuzz target: `193.0...` lost its dots and
        // became a host that the URL parser reads as an IPv4 address.
        for entry in [
            "193.0.../#",
            "example.com..",
            "a..b.example",
            "https://.example.com/",
        ] {
            let error = SitePattern::parse(entry).unwrap_err();
            assert!(error.contains("empty label"), "{entry}: {error}");
        }
        assert_eq!(
            pattern("example.com./blog").host,
            HostPattern::Exact("example.com".to_string())
        );
    }

    #[test]
    fn path_matches_on_segment_boundaries() {
        let blog = target("http://example.com/blog");
        assert!(port_and_path_match(None, "/blog", &blog));
        assert!(port_and_path_match(
            None,
            "/blog",
            &target("http://example.com/blog/")
        ));
        assert!(port_and_path_match(
            None,
            "/blog",
            &target("http://example.com/blog/x")
        ));
        assert!(!port_and_path_match(
            None,
            "/blog",
            &target("http://example.com/blogger")
        ));
        assert!(!port_and_path_match(
            None,
            "/blog",
            &target("http://example.com/Blog")
        ));
        assert!(!port_and_path_match(
            None,
            "/blog",
            &target("http://example.com/")
        ));
        assert!(port_and_path_match(None, "", &blog));
    }

    #[test]
    fn port_matches_explicit_or_default() {
        assert!(port_and_path_match(
            Some(443),
            "",
            &target("https://example.com/")
        ));
        assert!(!port_and_path_match(
            Some(443),
            "",
            &target("http://example.com/")
        ));
        assert!(port_and_path_match(
            Some(8080),
            "",
            &target("http://example.com:8080/")
        ));
        assert!(port_and_path_match(
            None,
            "",
            &target("http://example.com:8080/")
        ));
    }
}
