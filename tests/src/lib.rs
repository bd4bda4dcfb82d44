//! Integration tests and benchmarks of taskbox.
//!
//! The build script compiles the guest components from source (the example
//! plugins in `plugins/` and the test guests in `tests/guests/`) and this
//! library exposes where they are:
//!
//! - [`GUEST_DIR`]: a directory holding every guest component that loads,
//!   usable as the host's plugin directory;
//! - one constant per component, named after its file: [`ADD`],
//!   [`MULTIPLY`], [`DIVIDE`], [`RESERVE_STOCK`], [`CHARGE_PAYMENT`],
//!   [`SHIP_ORDER`] and [`HOSTILE`] (see `tests/guests/hostile` for its
//!   modes), and [`SLOW_DESCRIBE`], kept out of [`GUEST_DIR`] because it
//!   never loads (its `describe` spins).

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
