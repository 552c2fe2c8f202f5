//! Precomputed UTC offset changes of a time zone.
//!
//! For current years jiff answers offset questions by evaluating the zone's
//! POSIX DST rule, which costs far more than the rest of expanding a day.
//! A table of the changes from 1970 to 2100, built once per zone when a
//! configuration is compiled, turns the question "is the offset constant over
//! this span" into a binary search.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

/// 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z in seconds. Spans outside
/// go through the zone itself.
const COVERED_FROM: i64 = 0;
const COVERED_UNTIL: i64 = 4_102_444_800;

#[derive(Debug)]
pub(super) struct OffsetTable {
    initial: Offset,
    /// Instants (seconds since the epoch) at which the offset changes, with
    /// the offset from then on, in order.
    changes: Vec<(i64, Offset)>,
}

thread_local! {
    /// One table per zone name, shared by every interval in that zone: a
    /// configuration with a thousand rules in one zone builds it once.
    static TABLES: RefCell<HashMap<String, Arc<OffsetTable>>> = RefCell::new(HashMap::new());
}

impl OffsetTable {
    /// Returns the shared table of `zone`, building it on first use.
    pub(super) fn of(name: &str, zone: &TimeZone) -> Arc<OffsetTable> {
        TABLES.with(|tables| {
            let mut tables = tables.borrow_mut();
            if let Some(table) = tables.get(name) {
                return Arc::clone(table);
            }
            let table = Arc::new(OffsetTable::build(zone));
            tables.insert(name.to_string(), Arc::clone(&table));
            table
        })
    }

    fn build(zone: &TimeZone) -> OffsetTable {
        let start = Timestamp::from_second(COVERED_FROM).unwrap_or(Timestamp::UNIX_EPOCH);
        let changes = zone
            .following(start)
            .take_while(|transition| transition.timestamp().as_second() < COVERED_UNTIL)
            .map(|transition| (transition.timestamp().as_second(), transition.offset()))
            .collect();
        OffsetTable {
            initial: zone.to_offset(start),
            changes,
        }
    }

    /// Returns the offset when it is the same throughout `[from, to]` and the
    /// span lies within the table; `None` sends the caller to the zone.
    pub(super) fn constant_offset(&self, from: Timestamp, to: Timestamp) -> Option<Offset> {
        let (from, to) = (from.as_second(), to.as_second());
        if from < COVERED_FROM || to >= COVERED_UNTIL {
            return None;
        }

        let position = self.changes.partition_point(|(at, _)| *at <= from);
        let offset = match position.checked_sub(1) {
            Some(previous) => self.changes.get(previous)?.1,
            None => self.initial,
        };
        match self.changes.get(position) {
            Some((next_change, _)) if *next_change <= to => None,
            _ => Some(offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn table_agrees_with_the_zone() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let table = OffsetTable::of("Europe/Berlin", &zone);
        for text in [
            "1980-06-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
            "2099-12-01T00:00:00Z",
        ] {
            let instant = at(text);
            assert_eq!(
                table.constant_offset(instant, instant),
                Some(zone.to_offset(instant)),
                "{text}"
            );
        }
    }

    #[test]
    fn spans_across_a_change_have_no_constant_offset() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let table = OffsetTable::of("Europe/Berlin", &zone);
        // Berlin springs forward at 2026-03-29T01:00:00Z.
        assert_eq!(
            table.constant_offset(at("2026-03-28T00:00:00Z"), at("2026-03-29T00:59:59Z")),
            Some(zone.to_offset(at("2026-03-28T00:00:00Z")))
        );
        assert_eq!(
            table.constant_offset(at("2026-03-28T00:00:00Z"), at("2026-03-29T01:00:00Z")),
            None
        );
        assert_eq!(
            table.constant_offset(at("2026-03-29T01:00:00Z"), at("2026-03-30T00:00:00Z")),
            Some(zone.to_offset(at("2026-03-30T00:00:00Z")))
        );
    }

    #[test]
    fn spans_outside_the_table_go_to_the_zone() {
        let zone = TimeZone::get("UTC").unwrap();
        let table = OffsetTable::of("UTC", &zone);
        assert_eq!(
            table.constant_offset(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")),
            Some(Offset::UTC)
        );
        assert_eq!(
            table.constant_offset(at("1969-12-31T00:00:00Z"), at("1970-01-02T00:00:00Z")),
            None
        );
        assert_eq!(
            table.constant_offset(at("2099-12-31T00:00:00Z"), at("2100-01-01T00:00:00Z")),
            None
        );
    }
}
