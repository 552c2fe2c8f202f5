//! UTC formatting for the expected response bodies, kept in the harness so
//! the tests do not depend on the date library the filter uses.

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`, the form of the timestamps
/// the filter sends.
pub fn format_utc(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let second_of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Formats Unix seconds as RFC 3339 in local time at `offset_minutes` east of
/// UTC, for example `2026-12-05T03:00:00+02:00`: the other form a rule's
/// `start` and `end` may take.
pub fn format_rfc3339_offset(unix_seconds: i64, offset_minutes: i64) -> String {
    let local = format_utc(unix_seconds + offset_minutes * 60);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let offset = offset_minutes.abs();
    format!(
        "{}{sign}{:02}:{:02}",
        local.trim_end_matches('Z'),
        offset / 60,
        offset % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// The calendar is counted from 0000-03-01 in 400-year eras, so the leap day
/// falls at the end of each counted year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Returns the day of the month of a day counted from 1970-01-01.
pub fn day_of_month(days: i64) -> i64 {
    civil_from_days(days).2
}
