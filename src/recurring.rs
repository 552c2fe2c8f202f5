//! Recurring maintenance windows (`time_intervals`), with Alertmanager's
//! `time_interval` semantics and IANA time zones.
//!
//! An interval selects local days (by weekday, day of month, month and year,
//! all ANDed) and, on each selected day, local time ranges. A local time that
//! falls in a DST gap moves forward by the length of the gap, and a repeated
//! local time uses its first occurrence, which is jiff's
//! `Disambiguation::Compatible`.

mod fields;
mod offsets;

use std::fmt;
use std::sync::Arc;

use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;

use self::fields::{field_path, MinuteRange, YearRange, MINUTES_PER_DAY, MIN_DAYS_IN_MONTH};
use self::offsets::OffsetTable;
use crate::error::ConfigError;
use crate::window::{UnixNanos, Window, NANOS_PER_SECOND};

const NANOS_PER_MINUTE: UnixNanos = 60 * NANOS_PER_SECOND;
const NANOS_PER_DAY: UnixNanos = 86_400 * NANOS_PER_SECOND;

/// One entry of a rule's `time_intervals`, as written in the configuration.
///
/// An absent field matches everything. An empty list is rejected by
/// [`TimeInterval::compile`] instead, because it would silently match at all
/// times.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    /// Local time ranges within each selected day. Absent means the whole day.
    #[serde(default)]
    pub times: Option<Vec<TimeRangeSpec>>,
    /// Day names or ranges such as `"monday:friday"`, case-insensitive.
    #[serde(default)]
    pub weekdays: Option<Vec<String>>,
    /// Days such as `1` or `"-1"` (the last day) and ranges such as `"1:5"`.
    #[serde(default)]
    pub days_of_month: Option<Vec<RangeValue>>,
    /// Names, numbers from 1 to 12, or ranges such as `"may:august"`.
    #[serde(default)]
    pub months: Option<Vec<RangeValue>>,
    /// Years such as `2026` or ranges such as `"2026:2028"`.
    #[serde(default)]
    pub years: Option<Vec<RangeValue>>,
    /// IANA time zone name in which the fields above are read. Default `UTC`.
    #[serde(default)]
    pub location: Option<String>,
}

/// One `times` entry: `{"start_time": "HH:MM", "end_time": "HH:MM"}`, the end
/// excluded. Both are optional here so that [`TimeInterval::compile`] can
/// report a missing one together with every other problem.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSpec {
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
}

/// A `days_of_month`, `months` or `years` entry, which may be a JSON string
/// (`"1:5"`, `"may"`) or a JSON integer (`5`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeValue {
    Text(String),
    Integer(i64),
}

impl fmt::Display for RangeValue {
    /// Formats the value as it appears in JSON, so messages quote strings only.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeValue::Text(text) => write!(formatter, "{text:?}"),
            RangeValue::Integer(number) => write!(formatter, "{number}"),
        }
    }
}

impl<'de> Deserialize<'de> for RangeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RangeValueVisitor)
    }
}

struct RangeValueVisitor;

impl Visitor<'_> for RangeValueVisitor {
    type Value = RangeValue;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string such as \"1:5\" or an integer")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RangeValue, E> {
        Ok(RangeValue::Text(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<RangeValue, E> {
        Ok(RangeValue::Text(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<RangeValue, E> {
        Ok(RangeValue::Integer(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<RangeValue, E> {
        i64::try_from(value)
            .map(RangeValue::Integer)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(value), &self))
    }
}

/// A validated `time_intervals` entry, ready to expand into windows.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    /// Local time ranges of a selected day, sorted by start.
    times: Vec<MinuteRange>,
    /// Bit 0 for Sunday to bit 6 for Saturday.
    weekdays: u8,
    /// Bit 1 for January to bit 12 for December.
    months: u16,
    /// Bit 1 for the first day of the month, one mask per month length from
    /// 28 to 31 days, because negative days depend on the length.
    days_of_month: [u32; 4],
    /// `None` matches every year.
    years: Option<Vec<YearRange>>,
    zone: TimeZone,
    /// The zone's offset changes, shared with every interval in that zone.
    offsets: Arc<OffsetTable>,
}

impl TimeInterval {
    /// Validates `spec`, reporting every problem with a JSON path under `path`
    /// (for example `rules[2].time_intervals[0]`).
    pub fn compile(spec: &TimeIntervalSpec, path: &str) -> Result<TimeInterval, Vec<ConfigError>> {
        let mut errors = Vec::new();

        let has_selector = spec.times.is_some()
            || spec.weekdays.is_some()
            || spec.days_of_month.is_some()
            || spec.months.is_some()
            || spec.years.is_some();
        if !has_selector {
            errors.push(ConfigError::new(
                path,
                "sets none of times, weekdays, days_of_month, months or years, so it would \
                 match at all times; set at least one of them",
            ));
        }

        let times = fields::compile_times(
            spec.times.as_deref(),
            &field_path(path, "times"),
            &mut errors,
        );
        let weekdays = fields::compile_weekdays(
            spec.weekdays.as_deref(),
            &field_path(path, "weekdays"),
            &mut errors,
        );
        let days_of_month = fields::compile_days_of_month(
            spec.days_of_month.as_deref(),
            &field_path(path, "days_of_month"),
            &mut errors,
        );
        let months = fields::compile_months(
            spec.months.as_deref(),
            &field_path(path, "months"),
            &mut errors,
        );
        let years = fields::compile_years(
            spec.years.as_deref(),
            &field_path(path, "years"),
            &mut errors,
        );
        let zone = fields::compile_location(
            spec.location.as_deref(),
            &field_path(path, "location"),
            &mut errors,
        );

        if !errors.is_empty() {
            return Err(errors);
        }
        let offsets = OffsetTable::of(spec.location.as_deref().unwrap_or("UTC"), &zone);
        Ok(TimeInterval {
            offsets,
            times,
            weekdays,
            months,
            days_of_month,
            years,
            zone,
        })
    }

    /// Appends to `out` every occurrence that touches the closed range
    /// `[from, to]` (see `Window::touches`).
    ///
    /// Each selected local day yields one window per `times` entry, in day
    /// order. Windows of adjacent days are not joined even when they touch,
    /// and windows may overlap, so the caller merges them. The cost grows with
    /// the length of the range, never with the distance to the next match.
    pub fn windows_touching(&self, from: UnixNanos, to: UnixNanos, out: &mut Vec<Window>) {
        self.collect_windows(from, to, out);
    }

    /// Appends the windows as [`Self::windows_touching`] does and returns how
    /// many local days it examined, which tests use to bound the cost.
    fn collect_windows(&self, from: UnixNanos, to: UnixNanos, out: &mut Vec<Window>) -> usize {
        let Some((first_day, last_day, offset)) = self.local_frame(from, to) else {
            return 0;
        };

        // With a constant offset, local midnight in UTC advances by exactly
        // one day per day, so no window needs a zone lookup.
        let midnight_of = |day: Date| -> Option<UnixNanos> {
            let offset = offset?;
            let timestamp = offset
                .to_timestamp(day.to_datetime(Time::midnight()))
                .ok()?;
            Some(timestamp.as_nanosecond())
        };

        let mut days_examined = 0;
        let mut day = first_day;
        let mut midnight = midnight_of(day);
        while day <= last_day {
            days_examined += 1;

            // Skipping a whole year or month keeps a far-off `years` entry or
            // an impossible date as cheap as a schedule that matches.
            let (next_day, consecutive) = if !self.contains_year(day.year()) {
                (Date::new(day.year().saturating_add(1), 1, 1).ok(), false)
            } else if !self.contains_month(day.month()) {
                (day.last_of_month().tomorrow().ok(), false)
            } else {
                if self.contains_day(day) {
                    self.push_windows_of_day(day, midnight, from, to, out);
                }
                (day.tomorrow().ok(), true)
            };

            let Some(next_day) = next_day else {
                break;
            };
            midnight = match midnight {
                Some(value) if consecutive => Some(value + NANOS_PER_DAY),
                _ => midnight_of(next_day),
            };
            day = next_day;
        }
        days_examined
    }

    /// Returns the local days whose windows may touch `[from, to]`, and the
    /// zone's offset when it is constant over those days, or `None` when the
    /// range is empty or outside the years jiff can represent.
    ///
    /// With a constant offset, local times convert by arithmetic instead of a
    /// lookup in the zone's rules, which for current years means evaluating
    /// its POSIX DST rule; most requests fall in such a stretch.
    fn local_frame(&self, from: UnixNanos, to: UnixNanos) -> Option<(Date, Date, Option<Offset>)> {
        if from > to {
            return None;
        }

        let from = Timestamp::from_nanosecond(from.max(Timestamp::MIN.as_nanosecond())).ok()?;
        let to = Timestamp::from_nanosecond(to.min(Timestamp::MAX.as_nanosecond())).ok()?;

        // A DST gap or fold, or a zone that changed its offset by a whole
        // day, moves a day's windows by at most a day against UTC, so two
        // days of margin on each side cannot miss a window. The offset must
        // hold a day beyond that margin, which the three-day span covers.
        let span = SignedDuration::from_hours(3 * 24);
        let frame_start = from.checked_sub(span).unwrap_or(from);
        let frame_end = to.checked_add(span).unwrap_or(to);
        let constant_offset = self.offsets.constant_offset(frame_start, frame_end);

        // With a constant offset a local day's windows lie within that day,
        // so only the day before (a window ending at 24:00 touches a `from`
        // at midnight) and the days of the range itself are needed.
        if let Some(offset) = constant_offset {
            let first_day = days_before(offset.to_datetime(from).date(), 1);
            let last_day = offset.to_datetime(to).date();
            return Some((first_day, last_day, Some(offset)));
        }
        let first_day = days_before(self.zone.to_datetime(from).date(), 2);
        let last_day = days_after(self.zone.to_datetime(to).date(), 2);
        Some((first_day, last_day, None))
    }

    fn contains_year(&self, year: i16) -> bool {
        match &self.years {
            None => true,
            Some(ranges) => ranges
                .iter()
                .any(|range| range.first <= year && year <= range.last),
        }
    }

    fn contains_month(&self, month: i8) -> bool {
        u32::try_from(month)
            .ok()
            .and_then(|month| self.months.checked_shr(month))
            .is_some_and(|shifted| shifted & 1 == 1)
    }

    fn contains_day(&self, day: Date) -> bool {
        let weekday = u32::try_from(day.weekday().to_sunday_zero_offset()).unwrap_or(0);
        if self.weekdays.checked_shr(weekday).unwrap_or(0) & 1 == 0 {
            return false;
        }

        let length_index = usize::try_from(day.days_in_month())
            .ok()
            .and_then(|length| length.checked_sub(usize::from(MIN_DAYS_IN_MONTH)));
        let Some(mask) = length_index.and_then(|index| self.days_of_month.get(index)) else {
            return false;
        };
        let day_of_month = u32::try_from(day.day()).unwrap_or(0);
        mask.checked_shr(day_of_month).unwrap_or(0) & 1 == 1
    }

    /// `midnight` is the day's local midnight in UTC when the zone's offset
    /// is constant around it; otherwise each time goes through the zone.
    fn push_windows_of_day(
        &self,
        day: Date,
        midnight: Option<UnixNanos>,
        from: UnixNanos,
        to: UnixNanos,
        out: &mut Vec<Window>,
    ) {
        for range in &self.times {
            let bounds = match midnight {
                Some(midnight) => Some((
                    midnight + UnixNanos::from(range.start_minute) * NANOS_PER_MINUTE,
                    midnight + UnixNanos::from(range.end_minute) * NANOS_PER_MINUTE,
                )),
                None => self.zone_bounds(day, range),
            };
            let Some((start, end)) = bounds else {
                continue;
            };

            // NOTE: a start inside a DST gap moves forward by the whole gap,
            // so a range such as 02:30-03:15 on a day that skips 02:00-03:00
            // ends before it starts and yields no window, although 03:00-03:15
            // exists that day. Alertmanager would match those 15 minutes.
            if end <= start {
                continue;
            }

            let window = Window { start, end };
            if window.touches(from, to) {
                out.push(window);
            }
        }
    }

    /// Converts a time range of `day` to UTC through the zone's rules.
    fn zone_bounds(&self, day: Date, range: &MinuteRange) -> Option<(UnixNanos, UnixNanos)> {
        let start = self.instant(day, range.start_minute)?;
        let end = if range.end_minute == MINUTES_PER_DAY {
            self.instant(day.tomorrow().ok()?, 0)?
        } else {
            self.instant(day, range.end_minute)?
        };
        Some((start, end))
    }

    /// Converts minutes since local midnight of `day` to UTC nanoseconds,
    /// moving a time in a DST gap forward and taking the first of a repeated
    /// time.
    fn instant(&self, day: Date, minute: u16) -> Option<UnixNanos> {
        let hour = i8::try_from(minute / 60).ok()?;
        let minute = i8::try_from(minute % 60).ok()?;
        let time = Time::new(hour, minute, 0, 0).ok()?;

        let timestamp = self
            .zone
            .to_ambiguous_timestamp(day.to_datetime(time))
            .compatible()
            .ok()?;
        Some(timestamp.as_nanosecond())
    }
}

/// Steps `count` days back, stopping at the earliest date jiff represents.
fn days_before(day: Date, count: usize) -> Date {
    (0..count).fold(day, |day, _| day.yesterday().unwrap_or(day))
}

/// Steps `count` days forward, stopping at the latest date jiff represents.
fn days_after(day: Date, count: usize) -> Date {
    (0..count).fold(day, |day, _| day.tomorrow().unwrap_or(day))
}
#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "rules[2].time_intervals[0]";

    fn parse_spec(json: &str) -> TimeIntervalSpec {
        serde_json::from_str(json).unwrap()
    }

    fn compile(json: &str) -> TimeInterval {
        TimeInterval::compile(&parse_spec(json), PATH).unwrap()
    }

    fn compile_errors(json: &str) -> Vec<ConfigError> {
        TimeInterval::compile(&parse_spec(json), PATH).unwrap_err()
    }

    /// Returns the path and message of the only error `json` produces.
    fn single_error(json: &str) -> (String, String) {
        let errors = compile_errors(json);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let error = errors.into_iter().next().unwrap();
        (error.path, error.message)
    }

    fn nanos(text: &str) -> UnixNanos {
        text.parse::<Timestamp>().unwrap().as_nanosecond()
    }

    fn format_nanos(value: UnixNanos) -> String {
        Timestamp::from_nanosecond(value).unwrap().to_string()
    }

    fn format_windows(windows: &[Window]) -> Vec<(String, String)> {
        windows
            .iter()
            .map(|window| (format_nanos(window.start), format_nanos(window.end)))
            .collect()
    }

    fn windows(interval: &TimeInterval, from: &str, to: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        interval.windows_touching(nanos(from), nanos(to), &mut out);
        format_windows(&out)
    }

    fn window(start: &str, end: &str) -> (String, String) {
        (start.to_owned(), end.to_owned())
    }

    /// Follows touching or overlapping windows from the one containing `now`
    /// and returns the end of the chain, as the caller does.
    fn chain_end(mut windows: Vec<Window>, now: UnixNanos) -> Option<UnixNanos> {
        windows.sort();
        let mut end: Option<UnixNanos> = None;
        for window in windows {
            match end {
                None if window.start <= now && now < window.end => end = Some(window.end),
                Some(current) if window.start <= current => end = Some(current.max(window.end)),
                _ => {}
            }
        }
        end
    }

    // times

    #[test]
    fn times_select_hours_of_each_day() {
        let interval = compile(r#"{"times": [{"start_time": "09:00", "end_time": "17:30"}]}"#);

        let found = windows(&interval, "2026-06-01T12:00:00Z", "2026-06-02T12:00:00Z");

        assert_eq!(
            found,
            vec![
                window("2026-06-01T09:00:00Z", "2026-06-01T17:30:00Z"),
                window("2026-06-02T09:00:00Z", "2026-06-02T17:30:00Z"),
            ]
        );
    }

    #[test]
    fn times_several_ranges_sorted_by_start() {
        let interval = compile(
            r#"{"times": [{"start_time": "20:00", "end_time": "21:00"},
                          {"start_time": "06:15", "end_time": "07:45"}]}"#,
        );

        let found = windows(&interval, "2026-06-01T00:00:00Z", "2026-06-01T23:59:00Z");

        assert_eq!(
            found,
            vec![
                window("2026-06-01T06:15:00Z", "2026-06-01T07:45:00Z"),
                window("2026-06-01T20:00:00Z", "2026-06-01T21:00:00Z"),
            ]
        );
    }

    #[test]
    fn times_end_24_00_is_next_midnight() {
        let interval = compile(
            r#"{"times": [{"start_time": "22:00", "end_time": "24:00"}],
                "location": "Europe/Berlin"}"#,
        );

        let found = windows(&interval, "2026-06-01T21:00:00Z", "2026-06-01T21:00:00Z");

        assert_eq!(
            found,
            vec![window("2026-06-01T20:00:00Z", "2026-06-01T22:00:00Z")]
        );
    }

    #[test]
    fn times_absent_means_whole_day() {
        let interval = compile(r#"{"weekdays": ["monday"]}"#);

        let found = windows(&interval, "2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z");

        assert_eq!(
            found,
            vec![window("2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z")]
        );
    }

    // weekdays

    #[test]
    fn weekdays_names_are_case_insensitive() {
        let interval = compile(r#"{"weekdays": ["Sunday", "WEDNESDAY"]}"#);

        // Monday noon, after Sunday's window has ended, to Sunday 2026-06-07.
        let found = windows(&interval, "2026-06-01T12:00:00Z", "2026-06-07T23:00:00Z");

        assert_eq!(
            found,
            vec![
                window("2026-06-03T00:00:00Z", "2026-06-04T00:00:00Z"),
                window("2026-06-07T00:00:00Z", "2026-06-08T00:00:00Z"),
            ]
        );
    }

    #[test]
    fn weekdays_range_monday_to_friday() {
        let interval = compile(
            r#"{"weekdays": ["monday:friday"],
                "times": [{"start_time": "08:00", "end_time": "09:00"}]}"#,
        );

        let found = windows(&interval, "2026-05-31T00:00:00Z", "2026-06-07T23:00:00Z");

        let starts: Vec<&str> = found.iter().map(|(start, _)| start.as_str()).collect();
        assert_eq!(
            starts,
            vec![
                "2026-06-01T08:00:00Z",
                "2026-06-02T08:00:00Z",
                "2026-06-03T08:00:00Z",
                "2026-06-04T08:00:00Z",
                "2026-06-05T08:00:00Z",
            ]
        );
    }

    #[test]
    fn weekdays_range_wraps_around_week() {
        let interval = compile(r#"{"weekdays": ["saturday:monday"]}"#);

        // Tuesday 2026-06-02 to Tuesday 2026-06-09.
        let found = windows(&interval, "2026-06-02T12:00:00Z", "2026-06-09T12:00:00Z");

        let starts: Vec<&str> = found.iter().map(|(start, _)| start.as_str()).collect();
        assert_eq!(
            starts,
            vec![
                "2026-06-06T00:00:00Z",
                "2026-06-07T00:00:00Z",
                "2026-06-08T00:00:00Z",
            ]
        );
    }

    // days_of_month

    #[test]
    fn days_of_month_values_and_ranges() {
        let interval = compile(r#"{"days_of_month": ["1", "10:12", 20]}"#);

        let found = windows(&interval, "2026-06-01T00:00:00Z", "2026-06-30T12:00:00Z");

        let starts: Vec<&str> = found.iter().map(|(start, _)| start.as_str()).collect();
        assert_eq!(
            starts,
            vec![
                "2026-06-01T00:00:00Z",
                "2026-06-10T00:00:00Z",
                "2026-06-11T00:00:00Z",
                "2026-06-12T00:00:00Z",
                "2026-06-20T00:00:00Z",
            ]
        );
    }

    #[test]
    fn days_of_month_negative_counts_from_end() {
        let interval = compile(r#"{"days_of_month": ["-1", -3]}"#);

        // April has 30 days, May 31.
        let april = windows(&interval, "2026-04-15T00:00:00Z", "2026-04-30T12:00:00Z");
        let may = windows(&interval, "2026-05-15T00:00:00Z", "2026-05-31T12:00:00Z");

        assert_eq!(
            april,
            vec![
                window("2026-04-28T00:00:00Z", "2026-04-29T00:00:00Z"),
                window("2026-04-30T00:00:00Z", "2026-05-01T00:00:00Z"),
            ]
        );
        assert_eq!(
            may,
            vec![
                window("2026-05-29T00:00:00Z", "2026-05-30T00:00:00Z"),
                window("2026-05-31T00:00:00Z", "2026-06-01T00:00:00Z"),
            ]
        );
    }

    #[test]
    fn days_of_month_negative_range() {
        let interval = compile(r#"{"days_of_month": ["-3:-1"]}"#);

        let found = windows(&interval, "2026-06-20T00:00:00Z", "2026-07-02T00:00:00Z");

        let starts: Vec<&str> = found.iter().map(|(start, _)| start.as_str()).collect();
        assert_eq!(
            starts,
            vec![
                "2026-06-28T00:00:00Z",
                "2026-06-29T00:00:00Z",
                "2026-06-30T00:00:00Z",
            ]
        );
    }

    #[test]
    fn days_of_month_range_to_negative_day() {
        let interval = compile(r#"{"days_of_month": ["27:-2"]}"#);

        // February 2026 has 28 days, so 27:-2 is 27:27; March is 27:30.
        let february = windows(&interval, "2026-02-20T00:00:00Z", "2026-02-28T12:00:00Z");
        let march = windows(&interval, "2026-03-20T00:00:00Z", "2026-03-31T12:00:00Z");

        assert_eq!(
            february,
            vec![window("2026-02-27T00:00:00Z", "2026-02-28T00:00:00Z")]
        );
        assert_eq!(march.len(), 4, "{march:?}");
    }

    #[test]
    fn february_29_only_in_leap_years() {
        let interval = compile(r#"{"months": ["february"], "days_of_month": ["29"]}"#);

        let found = windows(&interval, "2026-01-01T00:00:00Z", "2030-12-31T00:00:00Z");

        assert_eq!(
            found,
            vec![window("2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z")]
        );
    }

    #[test]
    fn last_day_of_february_common_year() {
        let interval = compile(r#"{"months": ["february"], "days_of_month": ["-1"]}"#);

        let found = windows(&interval, "2027-02-01T00:00:00Z", "2027-03-31T00:00:00Z");

        assert_eq!(
            found,
            vec![window("2027-02-28T00:00:00Z", "2027-03-01T00:00:00Z")]
        );
    }

    #[test]
    fn last_day_of_february_leap_year() {
        let interval = compile(r#"{"months": ["february"], "days_of_month": ["-1"]}"#);

        let found = windows(&interval, "2028-02-01T00:00:00Z", "2028-03-31T00:00:00Z");

        assert_eq!(
            found,
            vec![window("2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z")]
        );
    }

    #[test]
    fn february_30_never_matches() {
        let interval = compile(r#"{"months": ["february"], "days_of_month": ["30"]}"#);
        let (from, to) = (nanos("2026-01-01T00:00:00Z"), nanos("2036-01-01T00:00:00Z"));

        let mut out = Vec::new();
        let days_examined = interval.collect_windows(from, to, &mut out);

        assert!(out.is_empty(), "{:?}", format_windows(&out));
        // Ten years of days plus the margin: the search never runs past `to`.
        assert!(days_examined <= 3653 + 4, "{days_examined}");
    }

    // months

    #[test]
    fn months_names_numbers_and_ranges() {
        let interval = compile(r#"{"months": ["January", "3", 5, "july:august"]}"#);

        let found = windows(&interval, "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z");

        let months: Vec<String> = found
            .iter()
            .filter(|(start, _)| start.ends_with("-01T00:00:00Z"))
            .map(|(start, _)| start.get(5..7).unwrap().to_owned())
            .collect();
        assert_eq!(months, vec!["01", "03", "05", "07", "08"]);
        assert_eq!(found.len(), 31 + 31 + 31 + 31 + 31, "{found:?}");
    }

    #[test]
    fn months_range_wraps_around_year() {
        let interval = compile(r#"{"months": ["december:january"], "days_of_month": ["15"]}"#);

        let found = windows(&interval, "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z");

        let starts: Vec<&str> = found.iter().map(|(start, _)| start.as_str()).collect();
        assert_eq!(starts, vec!["2026-01-15T00:00:00Z", "2026-12-15T00:00:00Z"]);
    }

    // years

    #[test]
    fn years_values_and_ranges() {
        let interval = compile(
            r#"{"years": [2026, "2028:2029"], "months": ["june"], "days_of_month": ["1"]}"#,
        );

        let found = windows(&interval, "2025-01-01T00:00:00Z", "2031-01-01T00:00:00Z");

        let starts: Vec<&str> = found.iter().map(|(start, _)| start.as_str()).collect();
        assert_eq!(
            starts,
            vec![
                "2026-06-01T00:00:00Z",
                "2028-06-01T00:00:00Z",
                "2029-06-01T00:00:00Z",
            ]
        );
    }

    #[test]
    fn years_far_off_cost_no_more() {
        let far_off = compile(r#"{"years": ["2031"]}"#);
        let every_day = compile(r#"{"times": [{"start_time": "00:00", "end_time": "24:00"}]}"#);
        let (from, to) = (nanos("2026-06-01T00:00:00Z"), nanos("2026-06-03T00:00:00Z"));

        let mut far_off_windows = Vec::new();
        let far_off_days = far_off.collect_windows(from, to, &mut far_off_windows);
        let mut every_day_windows = Vec::new();
        let every_day_days = every_day.collect_windows(from, to, &mut every_day_windows);

        assert!(far_off_windows.is_empty(), "{far_off_windows:?}");
        // UTC has a constant offset: 2026-05-31 (a window ending at 24:00
        // touches `from`) to 2026-06-03, the range's last local day.
        assert_eq!(every_day_days, 4);
        assert!(
            far_off_days <= every_day_days,
            "{far_off_days} > {every_day_days}"
        );
    }

    #[test]
    fn years_far_off_found_in_long_range() {
        let interval = compile(r#"{"years": ["2031"]}"#);

        let found = windows(&interval, "2026-01-01T00:00:00Z", "2036-01-01T00:00:00Z");

        assert_eq!(found.len(), 365);
        assert_eq!(
            found.first(),
            Some(&window("2031-01-01T00:00:00Z", "2031-01-02T00:00:00Z"))
        );
        assert_eq!(
            found.last(),
            Some(&window("2031-12-31T00:00:00Z", "2032-01-01T00:00:00Z"))
        );
    }

    // location

    #[test]
    fn location_defaults_to_utc() {
        let interval = compile(r#"{"times": [{"start_time": "09:00", "end_time": "10:00"}]}"#);

        let found = windows(&interval, "2026-06-01T09:30:00Z", "2026-06-01T09:30:00Z");

        assert_eq!(
            found,
            vec![window("2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z")]
        );
    }

    #[test]
    fn location_shifts_local_times() {
        let interval = compile(
            r#"{"times": [{"start_time": "09:00", "end_time": "10:00"}],
                "location": "Asia/Tokyo"}"#,
        );

        let found = windows(&interval, "2026-06-01T00:30:00Z", "2026-06-01T00:30:00Z");

        assert_eq!(
            found,
            vec![window("2026-06-01T00:00:00Z", "2026-06-01T01:00:00Z")]
        );
    }

    #[test]
    fn location_selects_local_weekday() {
        // Monday 00:00 to 01:00 in Auckland (UTC+12 in June) is Sunday in UTC.
        let interval = compile(
            r#"{"weekdays": ["monday"], "times": [{"start_time": "00:00", "end_time": "01:00"}],
                "location": "Pacific/Auckland"}"#,
        );

        let found = windows(&interval, "2026-05-31T00:00:00Z", "2026-05-31T23:00:00Z");

        assert_eq!(
            found,
            vec![window("2026-05-31T12:00:00Z", "2026-05-31T13:00:00Z")]
        );
    }

    // range boundaries

    #[test]
    fn window_ending_at_from_touches() {
        let interval = compile(r#"{"times": [{"start_time": "10:00", "end_time": "12:00"}]}"#);

        let found = windows(&interval, "2026-06-01T12:00:00Z", "2026-06-01T13:00:00Z");

        assert_eq!(
            found,
            vec![window("2026-06-01T10:00:00Z", "2026-06-01T12:00:00Z")]
        );
    }

    #[test]
    fn window_starting_at_to_touches() {
        let interval = compile(r#"{"times": [{"start_time": "10:00", "end_time": "12:00"}]}"#);

        let found = windows(&interval, "2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z");

        assert_eq!(
            found,
            vec![window("2026-06-01T10:00:00Z", "2026-06-01T12:00:00Z")]
        );
    }

    #[test]
    fn window_outside_range_is_skipped() {
        let interval = compile(r#"{"times": [{"start_time": "10:00", "end_time": "12:00"}]}"#);
        let mut out = Vec::new();

        interval.windows_touching(
            nanos("2026-06-01T12:00:00Z") + 1,
            nanos("2026-06-02T10:00:00Z") - 1,
            &mut out,
        );

        assert!(out.is_empty(), "{:?}", format_windows(&out));
    }

    #[test]
    fn reversed_range_yields_nothing() {
        let interval = compile(r#"{"weekdays": ["monday:sunday"]}"#);
        let mut out = Vec::new();

        interval.windows_touching(
            nanos("2026-06-02T00:00:00Z"),
            nanos("2026-06-01T00:00:00Z"),
            &mut out,
        );

        assert!(out.is_empty(), "{:?}", format_windows(&out));
    }

    #[test]
    fn ranges_beyond_jiff_limits_yield_nothing() {
        let interval = compile(r#"{"weekdays": ["monday:sunday"]}"#);
        let mut before = Vec::new();
        let mut after = Vec::new();

        interval.windows_touching(UnixNanos::MIN, UnixNanos::MIN + 1, &mut before);
        interval.windows_touching(UnixNanos::MAX - 1, UnixNanos::MAX, &mut after);

        assert!(before.is_empty(), "{:?}", format_windows(&before));
        assert!(after.is_empty(), "{:?}", format_windows(&after));
    }

    #[test]
    fn ranges_at_jiff_limits_do_not_panic() {
        let interval =
            compile(r#"{"weekdays": ["monday:sunday"], "location": "America/New_York"}"#);
        let day = 86_400 * crate::window::NANOS_PER_SECOND;
        let mut first = Vec::new();
        let mut last = Vec::new();

        let min = Timestamp::MIN.as_nanosecond();
        let max = Timestamp::MAX.as_nanosecond();
        interval.windows_touching(min, min + day, &mut first);
        interval.windows_touching(max - day, max, &mut last);

        assert!(first.len() <= 3, "{:?}", format_windows(&first));
        assert!(last.len() <= 3, "{:?}", format_windows(&last));
    }

    // DST

    #[test]
    fn berlin_sunday_spring_forward() {
        let interval = compile(
            r#"{"weekdays": ["sunday"], "times": [{"start_time": "02:00", "end_time": "04:00"}],
                "location": "Europe/Berlin"}"#,
        );

        let found = windows(&interval, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z");

        // 02:00 does not exist that night and moves to 03:00 CEST.
        assert_eq!(
            found,
            vec![window("2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z")]
        );
    }

    #[test]
    fn berlin_sunday_fall_back() {
        let interval = compile(
            r#"{"weekdays": ["sunday"], "times": [{"start_time": "02:00", "end_time": "04:00"}],
                "location": "Europe/Berlin"}"#,
        );

        let found = windows(&interval, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z");

        // From the first 02:00 (CEST) to 04:00 CET, three hours.
        assert_eq!(
            found,
            vec![window("2026-10-25T00:00:00Z", "2026-10-25T03:00:00Z")]
        );
    }

    #[test]
    fn berlin_whole_days_on_dst_sundays() {
        let interval = compile(r#"{"weekdays": ["sunday"], "location": "Europe/Berlin"}"#);

        let spring = windows(&interval, "2026-03-29T12:00:00Z", "2026-03-29T12:00:00Z");
        let autumn = windows(&interval, "2026-10-25T12:00:00Z", "2026-10-25T12:00:00Z");

        // 23 hours in spring, 25 in autumn.
        assert_eq!(
            spring,
            vec![window("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z")]
        );
        assert_eq!(
            autumn,
            vec![window("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z")]
        );
    }

    #[test]
    fn berlin_range_ending_in_gap_moves_forward() {
        let interval = compile(
            r#"{"times": [{"start_time": "01:00", "end_time": "02:30"}],
                "location": "Europe/Berlin"}"#,
        );

        let found = windows(&interval, "2026-03-29T00:30:00Z", "2026-03-29T00:30:00Z");

        // 02:30 does not exist and becomes 03:30 CEST.
        assert_eq!(
            found,
            vec![window("2026-03-29T00:00:00Z", "2026-03-29T01:30:00Z")]
        );
    }

    #[test]
    fn berlin_range_reversed_by_gap_is_skipped() {
        let interval = compile(
            r#"{"times": [{"start_time": "02:30", "end_time": "03:15"}],
                "location": "Europe/Berlin"}"#,
        );

        let spring = windows(&interval, "2026-03-29T00:00:00Z", "2026-03-29T03:00:00Z");
        let day_after = windows(&interval, "2026-03-30T00:00:00Z", "2026-03-30T03:00:00Z");

        // 02:30 moves to 03:30 CEST, after the end at 03:15 CEST.
        assert!(spring.is_empty(), "{spring:?}");
        assert_eq!(
            day_after,
            vec![window("2026-03-30T00:30:00Z", "2026-03-30T01:15:00Z")]
        );
    }

    #[test]
    fn new_york_spring_forward() {
        let across_gap = compile(
            r#"{"times": [{"start_time": "01:30", "end_time": "02:30"}],
                "location": "America/New_York"}"#,
        );
        let inside_gap = compile(
            r#"{"times": [{"start_time": "02:00", "end_time": "03:00"}],
                "location": "America/New_York"}"#,
        );

        let across = windows(&across_gap, "2026-03-08T07:00:00Z", "2026-03-08T07:00:00Z");
        let inside = windows(&inside_gap, "2026-03-08T05:00:00Z", "2026-03-08T09:00:00Z");

        // 01:30 EST to 02:30, which becomes 03:30 EDT.
        assert_eq!(
            across,
            vec![window("2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z")]
        );
        // 02:00 becomes 03:00 EDT, the end, so that night has no window.
        assert!(inside.is_empty(), "{inside:?}");
    }

    #[test]
    fn new_york_fall_back() {
        let interval = compile(
            r#"{"times": [{"start_time": "01:00", "end_time": "02:00"}],
                "location": "America/New_York"}"#,
        );

        let found = windows(&interval, "2026-11-01T06:00:00Z", "2026-11-01T06:00:00Z");

        // From the first 01:00 (EDT) to 02:00 EST, two hours.
        assert_eq!(
            found,
            vec![window("2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z")]
        );
    }

    #[test]
    fn lord_howe_half_hour_spring_forward() {
        // Lord Howe Island moves from +10:30 to +11:00 at 02:00 on 2026-10-04.
        let interval = compile(
            r#"{"times": [{"start_time": "02:00", "end_time": "03:00"}],
                "location": "Australia/Lord_Howe"}"#,
        );

        let found = windows(&interval, "2026-10-03T15:45:00Z", "2026-10-03T15:45:00Z");

        // 02:00 becomes 02:30 +11:00, so the window is half an hour long.
        assert_eq!(
            found,
            vec![window("2026-10-03T15:30:00Z", "2026-10-03T16:00:00Z")]
        );
    }

    #[test]
    fn lord_howe_half_hour_fall_back() {
        // Lord Howe Island moves from +11:00 to +10:30 at 02:00 on 2026-04-05.
        let interval = compile(
            r#"{"times": [{"start_time": "01:30", "end_time": "02:30"}],
                "location": "Australia/Lord_Howe"}"#,
        );

        let found = windows(&interval, "2026-04-04T15:00:00Z", "2026-04-04T15:00:00Z");

        // From the first 01:30 (+11:00) to 02:30 +10:30, an hour and a half.
        assert_eq!(
            found,
            vec![window("2026-04-04T14:30:00Z", "2026-04-04T16:00:00Z")]
        );
    }

    // chained intervals

    #[test]
    fn friday_night_touches_saturday() {
        let friday = compile(
            r#"{"weekdays": ["friday"], "times": [{"start_time": "22:00", "end_time": "24:00"}],
                "location": "Europe/Berlin"}"#,
        );
        let saturday = compile(
            r#"{"weekdays": ["saturday"], "times": [{"start_time": "00:00", "end_time": "02:00"}],
                "location": "Europe/Berlin"}"#,
        );
        let (from, to) = (nanos("2026-06-05T21:00:00Z"), nanos("2026-06-06T21:00:00Z"));

        let mut out = Vec::new();
        friday.windows_touching(from, to, &mut out);
        saturday.windows_touching(from, to, &mut out);

        assert_eq!(
            format_windows(&out),
            vec![
                window("2026-06-05T20:00:00Z", "2026-06-05T22:00:00Z"),
                window("2026-06-05T22:00:00Z", "2026-06-06T00:00:00Z"),
            ]
        );
        assert_eq!(
            chain_end(out, from).map(format_nanos),
            Some("2026-06-06T00:00:00Z".to_owned())
        );
    }

    fn friday_evening_to_sunday_evening() -> Vec<TimeInterval> {
        [
            r#"{"weekdays": ["friday"], "times": [{"start_time": "18:00", "end_time": "24:00"}],
                "location": "Europe/Berlin"}"#,
            r#"{"weekdays": ["saturday"], "location": "Europe/Berlin"}"#,
            r#"{"weekdays": ["sunday"], "times": [{"start_time": "00:00", "end_time": "18:00"}],
                "location": "Europe/Berlin"}"#,
        ]
        .into_iter()
        .map(compile)
        .collect()
    }

    fn weekend_windows(now: &str) -> Vec<Window> {
        let now = nanos(now);
        let day = 86_400 * crate::window::NANOS_PER_SECOND;
        let mut out = Vec::new();
        for interval in friday_evening_to_sunday_evening() {
            interval.windows_touching(now, now + 3 * day, &mut out);
        }
        out
    }

    #[test]
    fn friday_to_sunday_chains() {
        let now = "2026-06-05T17:00:00Z";

        let mut found = weekend_windows(now);
        found.sort();

        assert_eq!(
            format_windows(&found),
            vec![
                window("2026-06-05T16:00:00Z", "2026-06-05T22:00:00Z"),
                window("2026-06-05T22:00:00Z", "2026-06-06T22:00:00Z"),
                window("2026-06-06T22:00:00Z", "2026-06-07T16:00:00Z"),
            ]
        );
        assert_eq!(
            chain_end(found, nanos(now)).map(format_nanos),
            Some("2026-06-07T16:00:00Z".to_owned())
        );
    }

    #[test]
    fn friday_to_sunday_across_fall_back() {
        // Sunday 2026-10-25 is 25 hours long in Berlin.
        let now = "2026-10-24T12:00:00Z";

        let found = weekend_windows(now);

        assert_eq!(
            chain_end(found, nanos(now)).map(format_nanos),
            Some("2026-10-25T17:00:00Z".to_owned())
        );
    }

    #[test]
    fn compiled_interval_is_clone() {
        let interval = compile(r#"{"weekdays": ["monday"]}"#);

        let copy = interval.clone();

        assert_eq!(
            windows(&copy, "2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z"),
            windows(&interval, "2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z")
        );
    }

    // validation

    #[test]
    fn error_time_not_time_of_day() {
        let (path, message) = single_error(
            r#"{"times": [{"start_time": "01:00", "end_time": "02:00"},
                          {"start_time": "01:00", "end_time": "25:00"}]}"#,
        );

        assert_eq!(path, "rules[2].time_intervals[0].times[1].end_time");
        assert_eq!(
            message,
            r#""25:00" is not a time of day; expected HH:MM from 00:00 to 24:00"#
        );
    }

    #[test]
    fn error_start_time_malformed() {
        let (path, message) =
            single_error(r#"{"times": [{"start_time": "9:00", "end_time": "10:00"}]}"#);

        assert_eq!(path, "rules[2].time_intervals[0].times[0].start_time");
        assert_eq!(
            message,
            r#""9:00" is not a time of day; expected HH:MM from 00:00 to 23:59"#
        );
    }

    #[test]
    fn error_start_time_24_00() {
        let (path, message) =
            single_error(r#"{"times": [{"start_time": "24:00", "end_time": "24:00"}]}"#);

        assert_eq!(path, "rules[2].time_intervals[0].times[0].start_time");
        assert_eq!(
            message,
            r#""24:00" is not a start time; expected HH:MM from 00:00 to 23:59 because 24:00 is only valid as end_time"#
        );
    }

    #[test]
    fn error_times_missing_fields() {
        let errors = compile_errors(r#"{"times": [{}]}"#);

        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            errors[0],
            ConfigError::new(
                "rules[2].time_intervals[0].times[0].start_time",
                "start_time is missing; expected HH:MM from 00:00 to 23:59"
            )
        );
        assert_eq!(
            errors[1],
            ConfigError::new(
                "rules[2].time_intervals[0].times[0].end_time",
                "end_time is missing; expected HH:MM from 00:00 to 24:00"
            )
        );
    }

    #[test]
    fn error_times_empty_range() {
        let (path, message) =
            single_error(r#"{"times": [{"start_time": "10:00", "end_time": "10:00"}]}"#);

        assert_eq!(path, "rules[2].time_intervals[0].times[0].end_time");
        assert_eq!(
            message,
            r#""10:00" equals start_time "10:00", so the range is empty; expected an end_time after the start_time"#
        );
    }

    #[test]
    fn error_times_cross_midnight() {
        let (path, message) =
            single_error(r#"{"times": [{"start_time": "22:00", "end_time": "02:00"}]}"#);

        assert_eq!(path, "rules[2].time_intervals[0].times[0].end_time");
        assert_eq!(
            message,
            r#""02:00" is before start_time "22:00", but a range cannot cross midnight; end this range at "24:00" and add an interval for the next day that starts at "00:00""#
        );
    }

    #[test]
    fn error_weekday_unknown() {
        let (path, message) = single_error(r#"{"weekdays": ["monday", "monday:funday"]}"#);

        assert_eq!(path, "rules[2].time_intervals[0].weekdays[1]");
        assert_eq!(
            message,
            r#""monday:funday" is not a weekday or a range of weekdays; expected a name such as "monday" or a range such as "monday:friday""#
        );
    }

    #[test]
    fn error_day_of_month_out_of_range() {
        let errors = compile_errors(r#"{"days_of_month": ["0", 32, "-32", "1:x"]}"#);

        let paths: Vec<&str> = errors.iter().map(|error| error.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "rules[2].time_intervals[0].days_of_month[0]",
                "rules[2].time_intervals[0].days_of_month[1]",
                "rules[2].time_intervals[0].days_of_month[2]",
                "rules[2].time_intervals[0].days_of_month[3]",
            ]
        );
        let expected = "is not a day of the month or a range of days; expected 1 to 31, \
                        -31 to -1 to count back from the last day of the month, \
                        or a range such as \"1:5\" or \"-3:-1\"";
        assert_eq!(errors[0].message, format!("\"0\" {expected}"));
        assert_eq!(errors[1].message, format!("32 {expected}"));
        assert_eq!(errors[2].message, format!("\"-32\" {expected}"));
        assert_eq!(errors[3].message, format!("\"1:x\" {expected}"));
    }

    #[test]
    fn error_day_range_matches_nothing() {
        let errors = compile_errors(r#"{"days_of_month": ["5:1", "-1:-3", "-1:5"]}"#);

        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(
            errors[0].path,
            "rules[2].time_intervals[0].days_of_month[0]"
        );
        assert_eq!(
            errors[0].message,
            r#""5:1" matches no day in any month; expected a range from its first to its last day, such as "1:5" or "-3:-1""#
        );
        assert_eq!(
            errors[1].path,
            "rules[2].time_intervals[0].days_of_month[1]"
        );
        assert_eq!(
            errors[2].path,
            "rules[2].time_intervals[0].days_of_month[2]"
        );
    }

    #[test]
    fn error_month_unknown() {
        let errors = compile_errors(r#"{"months": ["smarch", "13", 0]}"#);

        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].path, "rules[2].time_intervals[0].months[0]");
        assert_eq!(
            errors[0].message,
            r#""smarch" is not a month or a range of months; expected a name such as "march", a number from 1 to 12, or a range such as "may:august""#
        );
        assert_eq!(errors[1].path, "rules[2].time_intervals[0].months[1]");
        assert_eq!(errors[2].path, "rules[2].time_intervals[0].months[2]");
        assert!(
            errors[2].message.starts_with("0 is not a month"),
            "{}",
            errors[2].message
        );
    }

    #[test]
    fn error_year_invalid() {
        let errors = compile_errors(r#"{"years": ["20x6", 0, "10000"]}"#);

        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].path, "rules[2].time_intervals[0].years[0]");
        assert_eq!(
            errors[0].message,
            r#""20x6" is not a year or a range of years; expected a number from 1 to 9999 such as "2026", or a range such as "2026:2028""#
        );
        assert!(
            errors[1].message.starts_with("0 is not a year"),
            "{}",
            errors[1].message
        );
        assert!(
            errors[2].message.starts_with("\"10000\" is not a year"),
            "{}",
            errors[2].message
        );
    }

    #[test]
    fn error_year_range_reversed() {
        let (path, message) = single_error(r#"{"years": ["2022:2020"]}"#);

        assert_eq!(path, "rules[2].time_intervals[0].years[0]");
        assert_eq!(
            message,
            r#""2022:2020" ends before it starts; expected the earlier year first, as in "2020:2022""#
        );
    }

    #[test]
    fn error_location_unknown() {
        let (path, message) =
            single_error(r#"{"weekdays": ["monday"], "location": "Europe/Berln"}"#);

        assert_eq!(path, "rules[2].time_intervals[0].location");
        assert_eq!(
            message,
            r#""Europe/Berln" is not a known time zone; expected an IANA name such as "Europe/Berlin" or "UTC""#
        );
    }

    #[test]
    fn error_empty_lists() {
        let cases = [
            (
                "times",
                "{\"start_time\": \"02:00\", \"end_time\": \"04:00\"}",
            ),
            ("weekdays", "\"monday:friday\""),
            ("days_of_month", "\"1:5\""),
            ("months", "\"may:august\""),
            ("years", "\"2026:2028\""),
        ];

        for (field, example) in cases {
            let (path, message) = single_error(&format!(r#"{{"{field}": []}}"#));

            assert_eq!(path, format!("rules[2].time_intervals[0].{field}"));
            assert_eq!(
                message,
                format!(
                    "{field} is an empty list, which would silently match at all times; \
                     remove {field} or list at least one entry such as {example}"
                )
            );
        }
    }

    #[test]
    fn error_no_selector() {
        let (path, message) = single_error(r#"{"location": "Europe/Berlin"}"#);

        assert_eq!(path, "rules[2].time_intervals[0]");
        assert_eq!(
            message,
            "sets none of times, weekdays, days_of_month, months or years, so it would match \
             at all times; set at least one of them"
        );
    }

    #[test]
    fn error_every_problem_reported() {
        let errors = compile_errors(
            r#"{"times": [{"start_time": "25:00", "end_time": "26:00"}],
                "weekdays": ["funday"], "days_of_month": [0], "months": ["13"],
                "years": ["2022:2020"], "location": "Mars/Olympus"}"#,
        );

        let paths: Vec<&str> = errors.iter().map(|error| error.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "rules[2].time_intervals[0].times[0].start_time",
                "rules[2].time_intervals[0].times[0].end_time",
                "rules[2].time_intervals[0].weekdays[0]",
                "rules[2].time_intervals[0].days_of_month[0]",
                "rules[2].time_intervals[0].months[0]",
                "rules[2].time_intervals[0].years[0]",
                "rules[2].time_intervals[0].location",
            ]
        );
    }

    #[test]
    fn error_path_without_prefix() {
        let errors = TimeInterval::compile(&parse_spec(r#"{"weekdays": ["x"]}"#), "").unwrap_err();

        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "weekdays[0]");
    }

    #[test]
    fn unknown_field_rejected() {
        let interval_error =
            serde_json::from_str::<TimeIntervalSpec>(r#"{"weekday": ["monday"]}"#).unwrap_err();
        let times_error = serde_json::from_str::<TimeIntervalSpec>(
            r#"{"times": [{"start": "01:00", "end_time": "02:00"}]}"#,
        )
        .unwrap_err();

        assert!(
            interval_error
                .to_string()
                .contains("unknown field `weekday`"),
            "{interval_error}"
        );
        assert!(
            times_error.to_string().contains("unknown field `start`"),
            "{times_error}"
        );
    }

    #[test]
    fn fractional_day_rejected() {
        let error =
            serde_json::from_str::<TimeIntervalSpec>(r#"{"days_of_month": [1.5]}"#).unwrap_err();

        assert!(
            error
                .to_string()
                .contains(r#"expected a string such as "1:5" or an integer"#),
            "{error}"
        );
    }
}
