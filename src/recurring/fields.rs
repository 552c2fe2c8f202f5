//! Validation of each `time_intervals` field into its compiled form.
//!
//! Every function reports each problem it finds to `errors` and still returns
//! a value, so one pass over a configuration lists all of its mistakes. The
//! returned value is meaningless once an error has been reported.

use jiff::tz::TimeZone;

use super::{RangeValue, TimeRangeSpec};
use crate::error::ConfigError;

/// Minutes in a local day, which is also the value of an `end_time` of `24:00`.
pub(super) const MINUTES_PER_DAY: u16 = 24 * 60;

/// Bit mask of the seven weekdays, bit 0 for Sunday.
pub(super) const ALL_WEEKDAYS: u8 = 0b0111_1111;

/// Bit mask of the twelve months, bit 1 for January.
pub(super) const ALL_MONTHS: u16 = 0b0001_1111_1111_1110;

/// Bit mask of days 1 to 31 of a month, bit 1 for the first day.
const ALL_DAYS: u32 = 0xFFFF_FFFE;

/// Shortest and longest month, in days. Day masks are kept per month length.
pub(super) const MIN_DAYS_IN_MONTH: u8 = 28;
const MAX_DAYS_IN_MONTH: u8 = 31;

/// Accepted years. Alertmanager documents years as positive, and jiff's
/// civil dates end at 9999.
const FIRST_YEAR: i16 = 1;
const LAST_YEAR: i16 = 9999;

/// Weekday names in Alertmanager's order, index 0 for Sunday.
const WEEKDAY_NAMES: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// Month names, index 0 for January.
const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

const EXAMPLE_TIMES: &str = "{\"start_time\": \"02:00\", \"end_time\": \"04:00\"}";

const TIME_EXPECTED_START: &str = "expected HH:MM from 00:00 to 23:59";
const TIME_EXPECTED_END: &str = "expected HH:MM from 00:00 to 24:00";
const WEEKDAY_EXPECTED: &str =
    "expected a name such as \"monday\" or a range such as \"monday:friday\"";
const DAY_EXPECTED: &str = "expected 1 to 31, -31 to -1 to count back from the last day of \
     the month, or a range such as \"1:5\" or \"-3:-1\"";
const MONTH_EXPECTED: &str = "expected a name such as \"march\", a number from 1 to 12, \
     or a range such as \"may:august\"";
const YEAR_EXPECTED: &str =
    "expected a number from 1 to 9999 such as \"2026\", or a range such as \"2026:2028\"";

/// One `times` entry as minutes since local midnight, `[start_minute, end_minute)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct MinuteRange {
    pub(super) start_minute: u16,
    pub(super) end_minute: u16,
}

/// An inclusive range of years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct YearRange {
    pub(super) first: i16,
    pub(super) last: i16,
}

/// Joins a JSON path and a field name, for example `rules[0]` and `times`.
pub(super) fn field_path(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Compiles `times`, sorted by start. An absent list means the whole day.
pub(super) fn compile_times(
    entries: Option<&[TimeRangeSpec]>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<MinuteRange> {
    let whole_day = MinuteRange {
        start_minute: 0,
        end_minute: MINUTES_PER_DAY,
    };
    let Some(entries) = non_empty(entries, path, "times", EXAMPLE_TIMES, errors) else {
        return vec![whole_day];
    };

    let mut ranges = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let entry_path = format!("{path}[{index}]");
        if let Some(range) = compile_time_range(entry, &entry_path, errors) {
            ranges.push(range);
        }
    }

    ranges.sort_unstable();
    ranges
}

fn compile_time_range(
    entry: &TimeRangeSpec,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<MinuteRange> {
    let start_path = field_path(path, "start_time");
    let end_path = field_path(path, "end_time");

    let start_minute = match entry.start_time.as_deref() {
        None => {
            errors.push(ConfigError::new(
                &start_path,
                format!("start_time is missing; {TIME_EXPECTED_START}"),
            ));
            None
        }
        Some("24:00") => {
            errors.push(ConfigError::new(
                &start_path,
                format!(
                    "\"24:00\" is not a start time; {TIME_EXPECTED_START} \
                     because 24:00 is only valid as end_time"
                ),
            ));
            None
        }
        Some(text) => {
            let minute = parse_time_of_day(text);
            if minute.is_none() {
                errors.push(ConfigError::new(
                    &start_path,
                    format!("{text:?} is not a time of day; {TIME_EXPECTED_START}"),
                ));
            }
            minute
        }
    };

    let end_minute = match entry.end_time.as_deref() {
        None => {
            errors.push(ConfigError::new(
                &end_path,
                format!("end_time is missing; {TIME_EXPECTED_END}"),
            ));
            None
        }
        Some(text) => {
            let minute = parse_time_of_day(text);
            if minute.is_none() {
                errors.push(ConfigError::new(
                    &end_path,
                    format!("{text:?} is not a time of day; {TIME_EXPECTED_END}"),
                ));
            }
            minute
        }
    };

    let (start_minute, end_minute) = (start_minute?, end_minute?);
    let start_text = entry.start_time.as_deref().unwrap_or_default();
    let end_text = entry.end_time.as_deref().unwrap_or_default();

    if end_minute == start_minute {
        errors.push(ConfigError::new(
            &end_path,
            format!(
                "{end_text:?} equals start_time {start_text:?}, so the range is empty; \
                 expected an end_time after the start_time"
            ),
        ));
        return None;
    }
    if end_minute < start_minute {
        errors.push(ConfigError::new(
            &end_path,
            format!(
                "{end_text:?} is before start_time {start_text:?}, but a range cannot cross \
                 midnight; end this range at \"24:00\" and add an interval for the next day \
                 that starts at \"00:00\""
            ),
        ));
        return None;
    }

    Some(MinuteRange {
        start_minute,
        end_minute,
    })
}

/// Parses `HH:MM` into minutes since midnight, allowing `24:00`.
fn parse_time_of_day(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    let is_two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !is_two_digits(hours) || !is_two_digits(minutes) {
        return None;
    }

    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    if hours == 24 && minutes == 0 {
        return Some(MINUTES_PER_DAY);
    }
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(hours * 60 + minutes)
}

/// Compiles `weekdays` into a mask with bit 0 for Sunday. A range whose
/// start comes after its end wraps around the week, so `"friday:monday"`
/// means Friday to Monday (Alertmanager rejects such a range).
pub(super) fn compile_weekdays(
    entries: Option<&[String]>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> u8 {
    let Some(entries) = non_empty(entries, path, "weekdays", "\"monday:friday\"", errors) else {
        return ALL_WEEKDAYS;
    };

    let mut mask = 0;
    for (index, entry) in entries.iter().enumerate() {
        match parse_range(entry, parse_weekday) {
            Some((first, last)) => mask |= cyclic_mask(first, last, 0, 6),
            None => errors.push(ConfigError::new(
                format!("{path}[{index}]"),
                format!("{entry:?} is not a weekday or a range of weekdays; {WEEKDAY_EXPECTED}"),
            )),
        }
    }

    u8::try_from(mask).unwrap_or(ALL_WEEKDAYS)
}

fn parse_weekday(name: &str) -> Option<u8> {
    let index = WEEKDAY_NAMES
        .iter()
        .position(|candidate| candidate.eq_ignore_ascii_case(name))?;
    u8::try_from(index).ok()
}

/// Compiles `days_of_month` into one mask per month length from 28 to 31
/// days (index 0 for 28), with bit 1 for the first day of the month.
pub(super) fn compile_days_of_month(
    entries: Option<&[RangeValue]>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> [u32; 4] {
    let all_days = [ALL_DAYS; 4];
    let Some(entries) = non_empty(entries, path, "days_of_month", "\"1:5\"", errors) else {
        return all_days;
    };

    let mut masks = [0u32; 4];
    for (index, entry) in entries.iter().enumerate() {
        let entry_path = format!("{path}[{index}]");
        let Some((first, last)) = parse_range_value(entry, parse_day_of_month) else {
            errors.push(ConfigError::new(
                entry_path,
                format!("{entry} is not a day of the month or a range of days; {DAY_EXPECTED}"),
            ));
            continue;
        };

        let entry_masks = day_masks(first, last);
        if entry_masks.iter().all(|mask| *mask == 0) {
            errors.push(ConfigError::new(
                entry_path,
                format!(
                    "{entry} matches no day in any month; expected a range from its first to \
                     its last day, such as \"1:5\" or \"-3:-1\""
                ),
            ));
            continue;
        }
        for (mask, entry_mask) in masks.iter_mut().zip(entry_masks) {
            *mask |= entry_mask;
        }
    }

    masks
}

fn parse_day_of_month(text: &str) -> Option<i8> {
    let day: i8 = text.parse().ok()?;
    day_of_month_in_range(i64::from(day))
}

fn day_of_month_in_range(day: i64) -> Option<i8> {
    let day = i8::try_from(day).ok()?;
    let magnitude = day.unsigned_abs();
    (1..=MAX_DAYS_IN_MONTH).contains(&magnitude).then_some(day)
}

/// Resolves an inclusive day range for each month length. A negative day
/// counts back from the month's last day. Like Alertmanager, a range is
/// clipped to the month, and a range whose start falls after its end in a
/// given month matches nothing in that month.
fn day_masks(first: i8, last: i8) -> [u32; 4] {
    let mut masks = [0u32; 4];
    for (mask, length) in masks.iter_mut().zip(MIN_DAYS_IN_MONTH..=MAX_DAYS_IN_MONTH) {
        let resolve = |day: i8| -> i16 {
            if day > 0 {
                i16::from(day)
            } else {
                i16::from(length) + i16::from(day) + 1
            }
        };
        let start = resolve(first).max(1);
        let end = resolve(last).min(i16::from(length));
        for day in start..=end {
            *mask |= 1u32 << day;
        }
    }
    masks
}

/// Compiles `months` into a mask with bit 1 for January. A range whose start
/// comes after its end wraps around the year, so `"november:february"` means
/// November to February (Alertmanager rejects such a range).
pub(super) fn compile_months(
    entries: Option<&[RangeValue]>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> u16 {
    let Some(entries) = non_empty(entries, path, "months", "\"may:august\"", errors) else {
        return ALL_MONTHS;
    };

    let mut mask = 0;
    for (index, entry) in entries.iter().enumerate() {
        match parse_range_value(entry, parse_month) {
            Some((first, last)) => mask |= cyclic_mask(first, last, 1, 12),
            None => errors.push(ConfigError::new(
                format!("{path}[{index}]"),
                format!("{entry} is not a month or a range of months; {MONTH_EXPECTED}"),
            )),
        }
    }

    u16::try_from(mask).unwrap_or(ALL_MONTHS)
}

fn parse_month(text: &str) -> Option<u8> {
    if let Some(index) = MONTH_NAMES
        .iter()
        .position(|candidate| candidate.eq_ignore_ascii_case(text))
    {
        return u8::try_from(index + 1).ok();
    }

    let number: u8 = text.parse().ok()?;
    (1..=12).contains(&number).then_some(number)
}

/// Compiles `years` into inclusive ranges, or `None` for every year.
pub(super) fn compile_years(
    entries: Option<&[RangeValue]>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<YearRange>> {
    let entries = non_empty(entries, path, "years", "\"2026:2028\"", errors)?;

    let mut ranges = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let entry_path = format!("{path}[{index}]");
        let Some((first, last)) = parse_range_value(entry, parse_year) else {
            errors.push(ConfigError::new(
                entry_path,
                format!("{entry} is not a year or a range of years; {YEAR_EXPECTED}"),
            ));
            continue;
        };

        if first > last {
            errors.push(ConfigError::new(
                entry_path,
                format!(
                    "{entry} ends before it starts; expected the earlier year first, \
                     as in \"{last}:{first}\""
                ),
            ));
            continue;
        }
        ranges.push(YearRange { first, last });
    }

    Some(ranges)
}

fn parse_year(text: &str) -> Option<i16> {
    let year: i16 = text.parse().ok()?;
    year_in_range(i64::from(year))
}

fn year_in_range(year: i64) -> Option<i16> {
    let year = i16::try_from(year).ok()?;
    (FIRST_YEAR..=LAST_YEAR).contains(&year).then_some(year)
}

/// Resolves `location` once, so expanding windows never looks up the zone.
/// The IANA database is the copy bundled into the binary, since a proxy-wasm
/// VM has no file system.
pub(super) fn compile_location(
    location: Option<&str>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> TimeZone {
    let Some(name) = location else {
        return TimeZone::UTC;
    };

    match TimeZone::get(name) {
        Ok(zone) => zone,
        Err(_) => {
            errors.push(ConfigError::new(
                path,
                format!(
                    "{name:?} is not a known time zone; expected an IANA name such as \
                     \"Europe/Berlin\" or \"UTC\""
                ),
            ));
            TimeZone::UTC
        }
    }
}

/// Returns the entries of a present list, and reports an empty one: dropping
/// it to mean "no restriction" would turn a forgotten entry into "always".
fn non_empty<'a, T>(
    entries: Option<&'a [T]>,
    path: &str,
    field: &str,
    example: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<&'a [T]> {
    let entries = entries?;
    if entries.is_empty() {
        errors.push(ConfigError::new(
            path,
            format!(
                "{field} is an empty list, which would silently match at all times; \
                 remove {field} or list at least one entry such as {example}"
            ),
        ));
        return None;
    }
    Some(entries)
}

/// Parses `value` or `first:last` with `parse_one` for each side.
fn parse_range<T: Copy>(text: &str, parse_one: fn(&str) -> Option<T>) -> Option<(T, T)> {
    match text.split_once(':') {
        Some((first, last)) => Some((parse_one(first)?, parse_one(last)?)),
        None => {
            let value = parse_one(text)?;
            Some((value, value))
        }
    }
}

/// Parses a string entry as [`parse_range`] does, or a JSON integer through
/// the same parser, so `5` and `"5"` are accepted alike.
fn parse_range_value<T: Copy>(
    entry: &RangeValue,
    parse_one: fn(&str) -> Option<T>,
) -> Option<(T, T)> {
    match entry {
        RangeValue::Text(text) => parse_range(text, parse_one),
        RangeValue::Integer(number) => {
            let value = parse_one(&number.to_string())?;
            Some((value, value))
        }
    }
}

/// Sets the bits from `first` to `last`, wrapping from `high` back to `low`.
/// Both ends must lie in `low..=high`, which the parsers guarantee.
fn cyclic_mask(first: u8, last: u8, low: u8, high: u8) -> u32 {
    let mut mask = 0u32;
    let mut value = first;
    for _ in low..=high {
        mask |= 1u32 << value;
        if value == last {
            break;
        }
        value = if value >= high { low } else { value + 1 };
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_accepts_hh_mm() {
        assert_eq!(parse_time_of_day("00:00"), Some(0));
        assert_eq!(parse_time_of_day("09:05"), Some(545));
        assert_eq!(parse_time_of_day("23:59"), Some(1439));
        assert_eq!(parse_time_of_day("24:00"), Some(1440));
    }

    #[test]
    fn time_of_day_rejects_other_forms() {
        for text in [
            "", "9:00", "09:0", "24:01", "25:00", "12:60", "12-00", "+1:00", "12:00:00", "ab:cd",
            " 9:00",
        ] {
            assert_eq!(parse_time_of_day(text), None, "{text:?}");
        }
    }

    #[test]
    fn cyclic_mask_wraps_weekdays() {
        assert_eq!(cyclic_mask(1, 5, 0, 6), 0b0011_1110);
        assert_eq!(cyclic_mask(5, 1, 0, 6), 0b0110_0011);
        assert_eq!(cyclic_mask(3, 3, 0, 6), 0b0000_1000);
    }

    #[test]
    fn cyclic_mask_wraps_months() {
        assert_eq!(cyclic_mask(11, 2, 1, 12), 0b0001_1000_0000_0110);
        assert_eq!(cyclic_mask(1, 12, 1, 12), u32::from(ALL_MONTHS));
    }

    #[test]
    fn day_masks_resolve_negative_days() {
        let last_day = day_masks(-1, -1);
        assert_eq!(last_day, [1 << 28, 1 << 29, 1 << 30, 1 << 31]);

        let first_to_last = day_masks(1, -1);
        assert_eq!(first_to_last[0], ALL_DAYS & !(0b111 << 29));
        assert_eq!(first_to_last[3], ALL_DAYS);
    }

    #[test]
    fn day_masks_clip_to_month() {
        let thirtieth = day_masks(30, 30);
        assert_eq!(thirtieth, [0, 0, 1 << 30, 1 << 30]);

        let last_31_days = day_masks(-31, -1);
        assert_eq!(last_31_days[0], ALL_DAYS & !(0b111 << 29));
    }
}
