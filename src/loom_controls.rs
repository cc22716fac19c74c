//! Deliberately broken counters, built only under `cfg(loom)`, for the loom suite's negative
//! controls: each breaks one promise, and a model that checks that promise must reject it
//! (`#[should_panic]`). They show that the models can fail. No semver promise.

use crate::core::Core;

/// A counter whose every thread adds into the same shard with a load and a store (the
/// two-writers-per-shard bug that one-writer-per-shard rules out). Loses adds.
#[derive(Debug, Default)]
pub struct SharedShardCounter {
    core: Core<1>,
}

impl SharedShardCounter {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `n` into slot 0's shard, whatever the calling thread.
    pub fn add(&self, n: u64) {
        self.core.add_to_first_shard(0, n);
    }
    /// The sum.
    pub fn get(&self) -> u64 {
        self.core.sum(0)
    }
}

/// A counter whose `reset` writes zeros into the shards (what `LongAdder.reset` and
/// `percpu_counter_set` do). Lets pre-reset adds reappear.
#[derive(Debug, Default)]
pub struct ZeroingResetCounter {
    core: Core<1>,
}

impl ZeroingResetCounter {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `n` (correctly, to the caller's own shard).
    pub fn add(&self, n: u64) {
        crate::core::add_owned(self.core.shard().cell(0), n);
    }
    /// The sum.
    pub fn get(&self) -> u64 {
        self.core.sum(0)
    }
    /// Zeroes every shard in place.
    pub fn reset(&self) {
        self.core.zero_every_shard(0);
    }
}

/// A counter whose `get` does not retry around a concurrent `set`. May return a value that
/// mixes the world before the set with adds made after it.
#[derive(Debug, Default)]
pub struct UnretriedReadCounter {
    core: Core<1>,
}

impl UnretriedReadCounter {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds `n` (correctly).
    pub fn add(&self, n: u64) {
        crate::core::add_owned(self.core.shard().cell(0), n);
    }
    /// The sum, read without the seqlock retry.
    pub fn get(&self) -> u64 {
        self.core.sum_without_retry(0)
    }
    /// A correct `set`.
    pub fn set(&self, value: u64) {
        self.core.set(0, value);
    }
}

/// Two counters in one shard whose "step" writes both without the sequence-count bracket
/// (what a group `update` would be without it). A snapshot can see half a step.
#[derive(Debug, Default)]
pub struct UnbracketedPair {
    core: Core<2>,
}

impl UnbracketedPair {
    /// An empty pair.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds 1 to both cells of the caller's shard, with no bracket.
    pub fn step(&self) {
        let shard = self.core.shard();
        crate::core::add_owned(shard.cell(0), 1);
        crate::core::add_owned(shard.cell(1), 1);
    }
    /// Both sums, read with the real snapshot.
    pub fn snapshot(&self) -> (u64, u64) {
        let [a, b] = self.core.snapshot(&[crate::core::SlotKind::Sum; 2]);
        (a, b)
    }
}
