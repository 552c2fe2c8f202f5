//! Parses, validates and compiles arbitrary bytes as a plugin configuration,
//! as the filter's `on_configure` and the CLI's `check` do. A rejection must
//! carry at least one error, each with a message. An accepted configuration
//! must have a webhook path, a suppression cap and unique rule ids.

#![no_main]

use downtime_responder::config::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Snapshot::from_json(data) {
        Ok(snapshot) => {
            assert!(
                !snapshot.webhook.path.is_empty(),
                "empty webhook path accepted"
            );
            assert!(
                snapshot.max_suppression > 0,
                "zero suppression cap accepted"
            );
            let mut ids: Vec<&str> = snapshot.rules.iter().map(|rule| rule.id.as_str()).collect();
            ids.sort_unstable();
            let count = ids.len();
            ids.dedup();
            assert_eq!(ids.len(), count, "duplicate rule ids accepted");
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "rejected without an error");
            for error in &errors {
                assert!(!error.to_string().is_empty(), "empty error message");
            }
        }
    }
});
