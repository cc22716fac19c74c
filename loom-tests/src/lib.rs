//! Loom models of shardstat's concurrent semantics. The models live in `tests/`, one file
//! per type; run them with `loom-tests/run.sh`. Without `--cfg loom` this crate is empty.
//!
//! Each model uses 2–3 threads and a handful of operations, and states its promise in its
//! assertion. `tests/controls.rs` holds the negative controls: deliberately broken variants
//! (`shardstat::loom_controls`) that the same kind of model must reject.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering};

/// Asserts that `value` is one of `allowed`.
#[track_caller]
pub fn assert_one_of<T: PartialEq + std::fmt::Debug>(value: T, allowed: &[T], what: &str) {
    assert!(
        allowed.contains(&value),
        "{what}: read {value:?}, but only {allowed:?} are allowed"
    );
}

/// A one-shot signal between model threads: `raise` happens-before a `wait` that returns.
#[derive(Default)]
pub struct Signal(AtomicBool);

impl Signal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }
    /// Raises the signal (Release).
    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Waits until the signal is raised (Acquire), yielding to the model checker meanwhile.
    pub fn wait(&self) {
        while !self.0.load(Ordering::Acquire) {
            loom::thread::yield_now();
        }
    }
}
