//! Deliberately broken counters for the negative controls, built from shardstat's internals
//! (`shardstat::__private`, no semver promise): each breaks one promise, and the model that
//! checks that promise must reject it (`tests/controls.rs`). They live here, not in the
//! library, so that the library ships none of them.

use crate::{ModelCounter, ModelReset, ModelSet};
use loom::sync::atomic::Ordering;
use shardstat::__private::{add_owned, engine, CellKind, Sharded};
use std::mem::ManuallyDrop;

/// A counter whose every thread adds into the first shard's cell with a load and a store
/// (the two-writers-per-shard bug that one-writer-per-shard rules out). Loses adds.
#[derive(Debug, Default)]
pub struct SharedShardCounter(Sharded<1>);

impl ModelCounter for SharedShardCounter {
    fn fresh() -> Self {
        Self::default()
    }
    fn add(&self, n: u64) {
        let _ = self.0.own(); // make sure at least this thread's copy exists
        let mut first = None;
        self.0.for_each_copy(|cells| {
            first.get_or_insert(&cells[0] as *const _);
        });
        // SAFETY: the first shard's cell, valid while `self` lives.
        add_owned(unsafe { &*first.expect("a copy exists") }, n);
    }
    fn get(&self) -> u64 {
        self.0.sum(0)
    }
}

/// A counter whose `reset` writes zeros into every shard's cell (what `LongAdder.reset` and
/// `percpu_counter_set` do). Lets pre-reset adds reappear.
#[derive(Debug, Default)]
pub struct ZeroingResetCounter(Sharded<1>);

impl ModelCounter for ZeroingResetCounter {
    fn fresh() -> Self {
        Self::default()
    }
    fn add(&self, n: u64) {
        add_owned(&self.0.own()[0], n);
    }
    fn get(&self) -> u64 {
        self.0.sum(0)
    }
}

impl ModelReset for ZeroingResetCounter {
    fn reset(&self) {
        self.0.write_locked(|| {
            self.0
                .for_each_copy(|cells| cells[0].store(0, Ordering::Relaxed));
            self.0.global(0).store(0, Ordering::Relaxed);
        });
    }
}

/// A counter whose `get` does not retry around a concurrent `set`. May return a value that
/// mixes the world before the set with adds made after it.
#[derive(Debug, Default)]
pub struct UnretriedReadCounter(Sharded<1>);

impl ModelCounter for UnretriedReadCounter {
    fn fresh() -> Self {
        Self::default()
    }
    fn add(&self, n: u64) {
        add_owned(&self.0.own()[0], n);
    }
    fn get(&self) -> u64 {
        let mut sum = self.0.global(0).load(Ordering::Acquire);
        self.0.for_each_copy(|cells| {
            sum = sum.wrapping_add(cells[0].load(Ordering::Relaxed));
        });
        sum
    }
}

impl ModelSet for UnretriedReadCounter {
    fn set(&self, v: u64) {
        self.0.set(0, v);
    }
}

/// Two counters in one group run whose "step" writes both without the sequence-word
/// bracket (what a group `update` would be without it). A snapshot can see half a step.
#[derive(Debug, Default)]
pub struct UnbracketedPair(Sharded<3>);

const PAIR: [CellKind; 3] = [CellKind::Seq, CellKind::Sum, CellKind::Sum];

impl UnbracketedPair {
    /// An empty pair.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds 1 to both counters of the caller's copy, with no bracket.
    pub fn step(&self) {
        let own = self.0.own();
        add_owned(&own[1], 1);
        add_owned(&own[2], 1);
    }
    /// Both sums, read with the real snapshot.
    pub fn snapshot(&self) -> (u64, u64) {
        let [_, a, b] = self.0.snapshot(&PAIR);
        (a, b)
    }
}

/// A counter whose drop returns its cells to the engine *without clearing them*: the next
/// counter given those cells starts from the dropped one's counts.
#[derive(Debug, Default)]
pub struct ForgetfulCounter(ManuallyDrop<Sharded<1>>);

impl Drop for ForgetfulCounter {
    fn drop(&mut self) {
        let location = self.0.current_location();
        if location != 0 {
            engine::release_without_clearing(location, 1);
        }
        // The inner `Sharded` is not dropped: its drop would clear and free the run again.
    }
}

impl ModelCounter for ForgetfulCounter {
    fn fresh() -> Self {
        Self::default()
    }
    fn add(&self, n: u64) {
        add_owned(&self.0.own()[0], n);
    }
    fn get(&self) -> u64 {
        self.0.sum(0)
    }
}

/// An approximate counter whose limited add trusts `approx()` and ignores the error bound:
/// `approx() + n ≤ limit`. Two racing adds each see the other's uncarried remainder as
/// room, and together pass the limit.
#[derive(Debug, Default)]
pub struct TrustingLimitCounter(shardstat::ApproxCounter<4>);

impl ModelCounter for TrustingLimitCounter {
    fn fresh() -> Self {
        Self::default()
    }
    fn add(&self, n: u64) {
        self.0.add(n);
    }
    fn get(&self) -> u64 {
        self.0.get()
    }
}

impl crate::ModelLimited for TrustingLimitCounter {
    fn limited_add(&self, n: u64, limit: u64) -> bool {
        shardstat::__private::approx::limited_add_trusting_approx(&self.0, n, limit)
    }
}

/// A per-CPU counter whose add is the plain load and store of the per-CPU cell *without*
/// the restartable section around it (`shardstat::__private::percpu::unrestartable_add`): two
/// threads on one CPU overwrite each other's adds.
#[derive(Debug, Default)]
pub struct UnrestartableCounter(shardstat::percpu::Counter);

impl ModelCounter for UnrestartableCounter {
    fn fresh() -> Self {
        Self::default()
    }
    fn add(&self, n: u64) {
        shardstat::__private::percpu::unrestartable_add(&self.0, n);
    }
    fn get(&self) -> u64 {
        self.0.get()
    }
}
