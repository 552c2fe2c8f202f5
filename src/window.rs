//! Instants and half-open maintenance windows on the UTC timeline.

/// Nanoseconds since the Unix epoch, UTC. `i128` keeps far-future ends such
/// as `9999-12-31T00:00:00Z` representable without overflow.
pub type UnixNanos = i128;

pub const NANOS_PER_SECOND: UnixNanos = 1_000_000_000;

/// A maintenance window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    pub start: UnixNanos,
    pub end: UnixNanos,
}

impl Window {
    /// Tells whether the window touches the closed range `[from, to]`, so a
    /// window that ends exactly at `from` still counts: it can chain.
    pub fn touches(&self, from: UnixNanos, to: UnixNanos) -> bool {
        self.end >= from && self.start <= to
    }
}
