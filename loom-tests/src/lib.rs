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

/// What the shared counter models need from a counter. `shardstat::Counter` implements it,
/// and so do the negative controls, so that a control runs **the same model** as the real
/// type (see `tests/controls.rs`).
pub trait ModelCounter: Send + Sync + 'static {
    /// An empty counter.
    fn fresh() -> Self;
    /// Adds `n` from the calling thread.
    fn add(&self, n: u64);
    /// The sum.
    fn get(&self) -> u64;
}

/// A counter with `set`.
pub trait ModelSet: ModelCounter {
    /// Makes the counter read `v`.
    fn set(&self, v: u64);
}

/// A counter with `reset`.
pub trait ModelReset: ModelCounter {
    /// Makes the counter read 0.
    fn reset(&self);
}

impl ModelCounter for shardstat::Counter {
    fn fresh() -> Self {
        shardstat::Counter::new()
    }
    fn add(&self, n: u64) {
        shardstat::Counter::add(self, n)
    }
    fn get(&self) -> u64 {
        shardstat::Counter::get(self)
    }
}

impl ModelSet for shardstat::Counter {
    fn set(&self, v: u64) {
        shardstat::Counter::set(self, v)
    }
}

impl ModelReset for shardstat::Counter {
    fn reset(&self) {
        shardstat::Counter::reset(self)
    }
}

mod controls {
    use super::{ModelCounter, ModelReset, ModelSet};
    use shardstat::loom_controls::{SharedShardCounter, UnretriedReadCounter, ZeroingResetCounter};

    impl ModelCounter for SharedShardCounter {
        fn fresh() -> Self {
            Self::new()
        }
        fn add(&self, n: u64) {
            SharedShardCounter::add(self, n)
        }
        fn get(&self) -> u64 {
            SharedShardCounter::get(self)
        }
    }

    impl ModelCounter for ZeroingResetCounter {
        fn fresh() -> Self {
            Self::new()
        }
        fn add(&self, n: u64) {
            ZeroingResetCounter::add(self, n)
        }
        fn get(&self) -> u64 {
            ZeroingResetCounter::get(self)
        }
    }

    impl ModelReset for ZeroingResetCounter {
        fn reset(&self) {
            ZeroingResetCounter::reset(self)
        }
    }

    impl ModelCounter for UnretriedReadCounter {
        fn fresh() -> Self {
            Self::new()
        }
        fn add(&self, n: u64) {
            UnretriedReadCounter::add(self, n)
        }
        fn get(&self) -> u64 {
            UnretriedReadCounter::get(self)
        }
    }

    impl ModelSet for UnretriedReadCounter {
        fn set(&self, v: u64) {
            UnretriedReadCounter::set(self, v)
        }
    }
}

/// The models that the negative controls also run. Each takes the counter type as a
/// parameter; `tests/counter.rs` runs them on `shardstat::Counter`, `tests/controls.rs` on
/// the broken variants.
pub mod models {
    use super::{assert_one_of, ModelCounter, ModelReset, ModelSet, Signal};
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads add, the main thread reads after joining: the sum is exact.
    pub fn add_add_then_get_is_exact<C: ModelCounter>() {
        loom::model(|| {
            let c = Arc::new(C::fresh());
            let handles: Vec<_> = [1u64, 10]
                .into_iter()
                .map(|n| {
                    let c = c.clone();
                    thread::spawn(move || {
                        c.add(n);
                        c.add(n);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(c.get(), 22, "adds lost or counted twice");
        });
    }

    /// A read concurrent with `set` sees it wholly or not at all: before the set it reads
    /// the old world (1), after it the new (100, then 110 once the post-set add lands). A
    /// read that combined the old base with the add made after the set returned (11) would
    /// be a value the counter never had.
    pub fn get_concurrent_with_set_sees_it_wholly_or_not_at_all<C: ModelSet>() {
        loom::model(|| {
            let c = Arc::new(C::fresh());
            c.add(1);
            let reader = {
                let c = c.clone();
                thread::spawn(move || c.get())
            };
            c.set(100);
            // Spawned after `set` returned, so its add starts after the set.
            let late_writer = {
                let c = c.clone();
                thread::spawn(move || c.add(10))
            };
            assert_one_of(reader.join().unwrap(), &[1, 100, 110], "read during set");
            late_writer.join().unwrap();
            assert_eq!(c.get(), 110);
        });
    }

    /// `reset` of adds that happened-before it leaves exactly 0; an add racing with it
    /// counts or not; an add after it counts.
    pub fn reset_after_adds_that_happened_before_is_exact<C: ModelReset>() {
        loom::model(|| {
            let c = Arc::new(C::fresh());
            let first_done = Arc::new(Signal::new());
            let reset_done = Arc::new(Signal::new());
            let owner = {
                let (c, first_done, reset_done) =
                    (c.clone(), first_done.clone(), reset_done.clone());
                thread::spawn(move || {
                    c.add(1);
                    first_done.raise();
                    c.add(2); // concurrent with the reset
                    reset_done.wait();
                    c.add(4); // after the reset returned
                })
            };
            first_done.wait();
            c.reset();
            reset_done.raise();
            owner.join().unwrap();
            // add(1) happened-before the reset: gone. add(2) raced: counted or not.
            assert_one_of(c.get(), &[4, 6], "after reset");
        });
    }
}
