//! downtime-responder answers the Jetpack Monitor downtime webhook inside a
//! proxy from maintenance rules.
//!
//! Everything except `filter` is host-independent and tested on the host; the
//! `filter` module is the proxy-wasm glue and is built only for wasm32.

pub mod config;
pub mod decision;
pub mod error;
pub mod index;
pub mod notification;
pub mod recurring;
pub mod request;
pub mod site;
pub mod source;
pub mod timestamp;
pub mod window;

#[cfg(target_arch = "wasm32")]
mod filter;

/// The crate version and the commit it was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("DOWNTIME_RESPONDER_COMMIT");
