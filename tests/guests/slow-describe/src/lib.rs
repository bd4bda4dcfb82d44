//! A task whose `describe` spins forever, burning the whole CPU deadline the
//! host gives it while loading. It never loads, so `tests/build.rs` keeps it
//! out of `GUEST_DIR`; its path is the `SLOW_DESCRIBE` constant.
//!
//! `execute` and `revert` are well behaved: only `describe` is hostile.

use std::hint::black_box;
use taskbox_sdk::__private::bindings::{self, AtomFailure, Failure, Guest, TaskInfo};

/// The exported task.
struct SlowDescribe;

bindings::export!(SlowDescribe);

impl Guest for SlowDescribe {
    fn describe() -> TaskInfo {
        // `black_box` keeps the optimizer from removing the loop.
        let mut counter = 0_u64;
        loop {
            counter = black_box(counter.wrapping_add(1));
        }
    }

    fn execute(_args: String) -> Result<String, Failure> {
        Ok("null".to_owned())
    }

    fn revert(
        _args: String,
        _result: Option<String>,
        _flow_failures: Vec<AtomFailure>,
    ) -> Result<(), Failure> {
        Ok(())
    }
}
