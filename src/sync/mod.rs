//! The one place that chooses between `std` and `loom`.
//!
//! Every atomic, fence, lock, wait loop, thread-local and process-wide value the crate uses
//! comes from here. Under `cfg(loom)` all of them are loom's, so the loom suite
//! (`loom-tests/`) checks the real algorithm rather than a copy; this module is the only one
//! that names `cfg(loom)`. The two halves offer the same API, the std one shaped like loom's
//! (as tokio's `src/loom/` does):
//!
//! - `native.rs` — the real primitives. `const fn` constructors stay `const`.
//! - `model.rs` — loom's. Loom's atomics have no `const fn new`, so the crate's `const fn`s
//!   are plain `fn`s there ([`const_fn!`]); loom runs every model thread on one OS thread, so
//!   thread-locals are loom's (`std`'s cannot tell model threads apart); a process-wide
//!   value is created afresh for each execution of a model; and sizes shrink
//!   ([`MODEL`]) so that models stay small.

#[cfg(not(loom))]
mod native;
#[cfg(not(loom))]
pub use native::*;

#[cfg(loom)]
mod model;

#[cfg(not(loom))]
pub(crate) mod rseq;

/// The 64-bit atomic of targets without 64-bit atomic instructions; `--cfg
/// shardstat_split64` uses it everywhere (to test it where the hardware has 64-bit atomics).
#[cfg(shardstat_split_word)]
mod split;

/// Whether this build's 64-bit cells are two 32-bit halves under a sequence count
/// (`split.rs`): targets without 64-bit atomics, and `--cfg shardstat_split64`.
pub const SPLIT_CELLS: bool = cfg!(shardstat_split_word);

/// Stores `value` into a cell that only the calling thread writes (a shard's cell). A plain
/// atomic store where the target has 64-bit atomics; with split cells, one 32-bit store
/// unless the high half changes.
#[inline(always)]
pub(crate) fn store_owned(cell: &AtomicU64, value: u64, order: Ordering) {
    #[cfg(not(shardstat_split_word))]
    cell.store(value, order);
    #[cfg(shardstat_split_word)]
    cell.store_owned(value, order);
}

/// Loads a cell that only the calling thread writes, as that thread last stored it
/// (Relaxed). With split cells, both halves without the sequence check.
#[inline(always)]
pub(crate) fn load_owned(cell: &AtomicU64) -> u64 {
    #[cfg(not(shardstat_split_word))]
    return cell.load(Ordering::Relaxed);
    #[cfg(shardstat_split_word)]
    return cell.load_owned();
}
#[cfg(loom)]
pub use model::*;

/// Locks `mutex`, ignoring poisoning: every critical section in this crate leaves its data
/// consistent at every step, so a panic inside one cannot leave it half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
