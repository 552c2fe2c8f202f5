//! RFC 3339 parsing for rule windows and the UTC answer format.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::window::{UnixNanos, NANOS_PER_SECOND};

/// Parses an RFC 3339 timestamp with any offset into nanoseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Result<UnixNanos, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp_nanos)
        .map_err(|error| format!("{text:?} is not an RFC 3339 timestamp ({error})"))
}

/// Rounds an instant up to the next whole second, so an answer never names a
/// time before the end it stands for.
pub fn ceil_to_second(instant: UnixNanos) -> i64 {
    let seconds = instant.div_euclid(NANOS_PER_SECOND);
    let rounded = if instant.rem_euclid(NANOS_PER_SECOND) == 0 {
        seconds
    } else {
        seconds + 1
    };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// Formats whole seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`, the form
/// Monitor expects. Returns `None` for years outside 0000..=9999.
pub fn format_utc(seconds: i64) -> Option<String> {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let instant = OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    if !(0..=9999).contains(&instant.year()) {
        return None;
    }
    instant.format(&format).ok()
}

/// Formats an instant for logs and CLI output, keeping sub-second precision.
pub fn format_instant(instant: UnixNanos) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(instant)
        .ok()
        .and_then(|value| value.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{instant}ns"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_any_offset() {
        let utc = parse_rfc3339("2026-12-05T03:00:00Z");
        let offset = parse_rfc3339("2026-12-05T04:00:00+01:00");
        let zero_offset = parse_rfc3339("2026-12-05T03:00:00+00:00");
        assert_eq!(utc, Ok(1_796_439_600 * NANOS_PER_SECOND));
        assert_eq!(offset, utc);
        assert_eq!(zero_offset, utc);
    }

    #[test]
    fn parse_keeps_fractional_seconds() {
        let parsed = parse_rfc3339("2026-12-05T03:00:00.25Z");
        assert_eq!(parsed, Ok(1_796_439_600 * NANOS_PER_SECOND + 250_000_000));
    }

    #[test]
    fn parse_rejects_other_forms() {
        for text in [
            "2026-12-05",
            "2026-12-05 03:00:00",
            "yesterday",
            "",
            "2026-12-05T03:00:00",
        ] {
            let error = parse_rfc3339(text).err();
            assert!(error.is_some(), "{text:?} was accepted");
            assert!(error
                .unwrap_or_default()
                .contains("is not an RFC 3339 timestamp"));
        }
    }

    #[test]
    fn ceil_rounds_up_partial_seconds() {
        assert_eq!(ceil_to_second(10 * NANOS_PER_SECOND), 10);
        assert_eq!(ceil_to_second(10 * NANOS_PER_SECOND + 1), 11);
        assert_eq!(ceil_to_second(11 * NANOS_PER_SECOND - 1), 11);
        assert_eq!(ceil_to_second(-NANOS_PER_SECOND - 1), -1);
    }

    #[test]
    fn format_utc_matches_monitor_form() {
        assert_eq!(
            format_utc(1_796_439_600).as_deref(),
            Some("2026-12-05T03:00:00Z")
        );
        assert_eq!(format_utc(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            format_utc(1_509_887_730).as_deref(),
            Some("2017-11-05T13:15:30Z")
        );
    }

    #[test]
    fn format_utc_rejects_five_digit_years() {
        assert_eq!(format_utc(253_402_300_800), None);
    }
}
