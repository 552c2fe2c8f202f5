//! The rule index: a notification finds its candidate rules by hash lookups
//! on the normalised host (walking up the labels for wildcards) and the host
//! slug, never by scanning every rule.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::site::{port_and_path_match, HostPattern, SitePattern, Target};

/// Position of a rule in `Snapshot::rules`.
pub type RuleIndexEntry = u32;

#[derive(Debug, Clone)]
struct SiteEntry {
    rule: RuleIndexEntry,
    port: Option<u16>,
    path: Box<str>,
    /// Whether the entry also matches the host with `www.` in front. The
    /// alias is resolved at lookup rather than stored as a second key, which
    /// halves the index for large rule sets.
    www_alias: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    exact: HashMap<Box<str>, Vec<SiteEntry>, RandomState>,
    wildcard: HashMap<Box<str>, Vec<SiteEntry>, RandomState>,
    slugs: HashMap<Box<str>, Vec<RuleIndexEntry>, RandomState>,
    all: Vec<RuleIndexEntry>,
}

impl RuleIndex {
    pub fn add_site(&mut self, rule: RuleIndexEntry, pattern: &SitePattern, exact_host: bool) {
        let mut entry = SiteEntry {
            rule,
            port: pattern.port,
            path: pattern.path.as_str().into(),
            www_alias: false,
        };
        match &pattern.host {
            HostPattern::Wildcard(suffix) => {
                push(&mut self.wildcard, suffix, entry);
            }
            HostPattern::Exact(host) => {
                entry.www_alias = pattern.is_domain && !exact_host && !host.starts_with("www.");
                push(&mut self.exact, host, entry);
            }
        }
    }

    /// Indexes a `hosts` slug; slugs compare case-insensitively.
    pub fn add_slug(&mut self, rule: RuleIndexEntry, slug: &str) {
        self.slugs
            .entry(slug.to_lowercase().into_boxed_str())
            .or_default()
            .push(rule);
    }

    pub fn add_all(&mut self, rule: RuleIndexEntry) {
        self.all.push(rule);
    }

    /// Adds the entries of `other`, whose rule positions start at `offset`
    /// in the combined rule list.
    pub fn append_shifted(&mut self, other: RuleIndex, offset: RuleIndexEntry) {
        let shift_sites = |entries: Vec<SiteEntry>| {
            entries.into_iter().map(move |mut entry| {
                entry.rule = entry.rule.saturating_add(offset);
                entry
            })
        };
        for (host, entries) in other.exact {
            self.exact
                .entry(host)
                .or_default()
                .extend(shift_sites(entries));
        }
        for (suffix, entries) in other.wildcard {
            self.wildcard
                .entry(suffix)
                .or_default()
                .extend(shift_sites(entries));
        }
        for (slug, rules) in other.slugs {
            let shifted = rules.into_iter().map(|rule| rule.saturating_add(offset));
            self.slugs.entry(slug).or_default().extend(shifted);
        }
        self.all.extend(
            other
                .all
                .into_iter()
                .map(|rule| rule.saturating_add(offset)),
        );
    }

    /// Fills `out` with the rules that match, each once, in rule order.
    pub fn matching_rules(
        &self,
        target: &Target,
        slug: Option<&str>,
        out: &mut Vec<RuleIndexEntry>,
    ) {
        out.clear();
        out.extend_from_slice(&self.all);

        if let Some(entries) = self.exact.get(target.host.as_str()) {
            collect_sites(entries, target, out, false);
        }
        if let Some(apex) = target.host.strip_prefix("www.") {
            if let Some(entries) = self.exact.get(apex) {
                collect_sites(entries, target, out, true);
            }
        }
        // `*.example.com` is stored under `example.com`, so the lookups start at
        // the parent of the host: the apex itself is never a wildcard match.
        let mut rest = target.host.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(entries) = self.wildcard.get(parent) {
                collect_sites(entries, target, out, false);
            }
            rest = parent;
        }

        if let Some(slug) = slug {
            if let Some(rules) = self.slugs.get(slug.to_lowercase().as_str()) {
                out.extend_from_slice(rules);
            }
        }

        out.sort_unstable();
        out.dedup();
    }
}

fn push(map: &mut HashMap<Box<str>, Vec<SiteEntry>, RandomState>, key: &str, entry: SiteEntry) {
    match map.get_mut(key) {
        Some(entries) => entries.push(entry),
        None => {
            map.insert(key.into(), vec![entry]);
        }
    }
}

/// Collects the entries whose port and path accept the target; through the
/// `www.` alias only the entries that allow it.
fn collect_sites(
    entries: &[SiteEntry],
    target: &Target,
    out: &mut Vec<RuleIndexEntry>,
    via_alias: bool,
) {
    for entry in entries {
        if via_alias && !entry.www_alias {
            continue;
        }
        if port_and_path_match(entry.port, &entry.path, target) {
            out.push(entry.rule);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn index(sites: &[(&str, bool)]) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (rule, (entry, exact_host)) in sites.iter().enumerate() {
            index.add_site(
                rule as u32,
                &SitePattern::parse(entry).unwrap(),
                *exact_host,
            );
        }
        index
    }

    fn matches(index: &RuleIndex, url: &str, slug: Option<&str>) -> Vec<u32> {
        let target = Target::from_url(&Url::parse(url).unwrap());
        let mut out = Vec::new();
        index.matching_rules(&target, slug, &mut out);
        out
    }

    #[test]
    fn exact_host_and_www_alias() {
        let index = index(&[("example.com", false), ("example.net", true)]);
        assert_eq!(matches(&index, "http://example.com/", None), vec![0]);
        assert_eq!(matches(&index, "https://www.example.com/x", None), vec![0]);
        assert_eq!(
            matches(&index, "http://shop.example.com/", None),
            Vec::<u32>::new()
        );
        assert_eq!(matches(&index, "http://example.net/", None), vec![1]);
        assert_eq!(
            matches(&index, "http://www.example.net/", None),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn www_rule_does_not_match_apex() {
        let index = index(&[("www.example.com", false)]);
        assert_eq!(matches(&index, "http://www.example.com/", None), vec![0]);
        assert_eq!(
            matches(&index, "http://example.com/", None),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn wildcard_matches_subdomains_not_apex() {
        let index = index(&[("*.example.org", false)]);
        assert_eq!(matches(&index, "http://a.example.org/", None), vec![0]);
        assert_eq!(matches(&index, "http://a.b.example.org/", None), vec![0]);
        assert_eq!(
            matches(&index, "http://example.org/", None),
            Vec::<u32>::new()
        );
        assert_eq!(
            matches(&index, "http://badexample.org/", None),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn ports_and_paths_filter_candidates() {
        let index = index(&[
            ("example.com:8443", false),
            ("https://shop.example.net/store", false),
        ]);
        assert_eq!(matches(&index, "https://example.com:8443/", None), vec![0]);
        assert_eq!(
            matches(&index, "https://example.com/", None),
            Vec::<u32>::new()
        );
        assert_eq!(
            matches(&index, "http://shop.example.net/store/cart", None),
            vec![1]
        );
        assert_eq!(
            matches(&index, "http://shop.example.net/storefront", None),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn idn_rule_matches_punycode_url() {
        let index = index(&[("bücher.example", false)]);
        assert_eq!(
            matches(&index, "http://xn--bcher-kva.example/", None),
            vec![0]
        );
        assert_eq!(
            matches(&index, "http://www.xn--bcher-kva.example/", None),
            vec![0]
        );
    }

    #[test]
    fn slugs_and_all() {
        let mut index = index(&[("example.com", false)]);
        index.add_slug(1, "ExampleHost");
        index.add_all(2);
        assert_eq!(
            matches(&index, "http://other.test/", Some("examplehost")),
            vec![1, 2]
        );
        assert_eq!(
            matches(&index, "http://other.test/", Some("EXAMPLEHOST")),
            vec![1, 2]
        );
        assert_eq!(
            matches(&index, "http://example.com/", Some("nobody")),
            vec![0, 2]
        );
        assert_eq!(matches(&index, "http://other.test/", None), vec![2]);
    }

    #[test]
    fn appended_index_shifts_rule_positions() {
        let mut own = index(&[("example.com", false)]);
        let mut other = index(&[("example.com", true), ("*.example.org", false)]);
        other.add_slug(0, "host");
        other.add_all(1);
        own.append_shifted(other, 5);
        assert_eq!(matches(&own, "http://example.com/", None), vec![0, 5, 6]);
        assert_eq!(matches(&own, "http://www.example.com/", None), vec![0, 6]);
        assert_eq!(
            matches(&own, "http://a.example.org/", Some("HOST")),
            vec![5, 6]
        );
    }

    #[test]
    fn a_rule_matching_twice_is_listed_once() {
        let mut index = index(&[("example.com", false)]);
        index.add_site(0, &SitePattern::parse("*.com").unwrap(), false);
        index.add_slug(0, "example");
        assert_eq!(
            matches(&index, "http://www.example.com/", Some("example")),
            vec![0]
        );
    }
}
