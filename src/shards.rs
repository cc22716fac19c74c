//! Where each thread's shard lives: a table indexed by [`Thread`], grown in buckets.
//!
//! Bucket `b` is an array of `2^b` shards, allocated the first time a thread whose index
//! falls in it touches the table, and published with one compare-and-swap. A bucket never
//! moves and is freed only when the table is dropped, so a `&T` into it lives as long as
//! `&self`. Every shard starts as `T::default()` (all zeros for counters), so a reader that
//! meets a shard no thread has written yet simply adds nothing.
//!
//! Why not `thread_local::ThreadLocal<CachePadded<_>>`: its entries carry a `present` flag
//! beside the value, and a 128-byte-aligned value makes each entry 256 bytes, twice the shard;
//! its lookup also loads and tests that flag on every add. Here a shard is exactly one
//! `CachePadded<T>` (128 bytes on x86-64), found with one load of the bucket pointer. The
//! thread-index scheme (lowest free index reused, buckets doubling) follows the same idea.
//!
//! # Synchronization
//! - Publishing a bucket: the allocating thread initialises every shard, then stores the
//!   pointer with a `Release` compare-and-swap; every load of a bucket pointer is `Acquire`,
//!   so whoever sees the pointer sees initialised shards. A thread that loses the race frees
//!   its own allocation and uses the winner's (the failure ordering is `Acquire` for the same
//!   reason).
//! - `visible_buckets` only bounds how far readers walk. It is raised (`fetch_max`, `Relaxed`)
//!   after the bucket is published, and loaded `Relaxed`: if a shard's creation
//!   happened-before a read, so did the raise (program order in the creating thread), and
//!   write-read coherence makes the read see it. It publishes no data (the bucket pointer's
//!   own `Acquire` load does), so it needs no stronger ordering. A bucket published
//!   concurrently with a read may be missed, which only drops adds that are themselves
//!   concurrent with the read.

use crate::sync::{ptr_get_mut, AtomicPtr, AtomicUsize, Ordering};
use crate::thread_id::Slot;
use std::ptr;

/// How many buckets a table has.
///
/// Outside loom, 32 buckets hold `2^32 - 1` threads alive at once, more than any OS runs;
/// under loom, 3 buckets (7 threads) cover every model (loom allows at most 5 threads) and
/// keep the number of modelled atomics small.
#[cfg(not(loom))]
const BUCKETS: usize = if usize::BITS > 32 {
    32
} else {
    usize::BITS as usize - 1
};
#[cfg(loom)]
const BUCKETS: usize = 3;

/// The number of threads that can be alive at once (thread indices are `0..MAX_THREADS`).
pub(crate) const MAX_THREADS: usize = (1 << BUCKETS) - 1;

const fn bucket_len(bucket: usize) -> usize {
    1 << bucket
}

/// A per-thread table of `T`s.
pub(crate) struct ShardTable<T> {
    buckets: [AtomicPtr<T>; BUCKETS],
    /// One more than the highest bucket published so far: readers walk `0..visible_buckets`.
    visible_buckets: AtomicUsize,
}

impl<T: Default> ShardTable<T> {
    /// An empty table: no bucket is allocated until a thread first asks for its shard.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        ShardTable {
            buckets: [const { AtomicPtr::new(ptr::null_mut()) }; BUCKETS],
            visible_buckets: AtomicUsize::new(0),
        }
    }

    /// An empty table (loom's atomics have no `const fn new`).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        ShardTable {
            buckets: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            visible_buckets: AtomicUsize::new(0),
        }
    }

    /// The shard of `slot`, created on first use.
    #[inline]
    pub(crate) fn get(&self, slot: Slot) -> &T {
        match self.try_get(slot) {
            Some(shard) => shard,
            None => self.publish_bucket(slot),
        }
    }

    /// The shard of `slot`, if its bucket exists (never allocates).
    #[inline]
    pub(crate) fn try_get(&self, slot: Slot) -> Option<&T> {
        debug_assert!(slot.bucket < BUCKETS && slot.index < bucket_len(slot.bucket));
        // SAFETY: `slot.bucket < BUCKETS`: a `Slot` comes from `Thread::new` of an index the
        // registry handed out, and the registry refuses indices `>= MAX_THREADS`, whose
        // buckets would be `>= BUCKETS`.
        let bucket = unsafe { self.buckets.get_unchecked(slot.bucket) }.load(Ordering::Acquire);
        if bucket.is_null() {
            return None;
        }
        // SAFETY: a non-null bucket pointer was published by `publish_bucket`: it points to a
        // live array of `bucket_len(slot.bucket)` initialised `T`s that is freed only by
        // `Drop`, which needs `&mut self`, so it outlives `&self`. `Thread::new` makes
        // `slot.index < bucket_len(slot.bucket)`, so the offset stays inside the array.
        // The `Acquire` load above pairs with the publishing `Release`, so the
        // initialisation is visible here. Only shared references to `T` are ever made.
        Some(unsafe { &*bucket.add(slot.index) })
    }

    #[cold]
    #[inline(never)]
    fn publish_bucket(&self, slot: Slot) -> &T {
        let len = bucket_len(slot.bucket);
        let fresh: Box<[T]> = (0..len).map(|_| T::default()).collect();
        let fresh = Box::into_raw(fresh).cast::<T>();
        let bucket = match self.buckets[slot.bucket].compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `Box::<[T]>::into_raw` of `len` elements just
                // above and was never published, so this is its only owner.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, len)) });
                winner
            }
        };
        self.visible_buckets
            .fetch_max(slot.bucket + 1, Ordering::Relaxed);
        // SAFETY: `bucket` is a published bucket of `len` initialised `T`s (ours, or the
        // winner's, whose initialisation the failed CAS acquired); it lives until `Drop`;
        // `slot.index < len`.
        unsafe { &*bucket.add(slot.index) }
    }

    /// Every shard that may have been written, in no particular order (shards no thread has
    /// touched yet are included, at their default value).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        let visible = self.visible_buckets.load(Ordering::Relaxed);
        self.buckets[..visible]
            .iter()
            .enumerate()
            .flat_map(|(bucket, slot)| {
                let ptr = slot.load(Ordering::Acquire);
                if ptr.is_null() {
                    return [].iter();
                }
                // SAFETY: as in `get`: a published bucket holds `bucket_len(bucket)`
                // initialised `T`s, lives until `Drop` (which needs `&mut self`), and the
                // `Acquire` load makes its initialisation visible.
                unsafe { std::slice::from_raw_parts(ptr, bucket_len(bucket)) }.iter()
            })
    }

    /// How many slots the buckets that readers walk hold: `2^visible − 1`, an upper bound of
    /// the shards that may hold writes. One relaxed load.
    pub(crate) fn capacity(&self) -> usize {
        let visible = self.visible_buckets.load(Ordering::Relaxed);
        (1usize << visible) - 1
    }

    /// How many shards are allocated (for the memory tests and `Debug`).
    pub(crate) fn allocated(&self) -> usize {
        let visible = self.visible_buckets.load(Ordering::Relaxed);
        (0..visible)
            .filter(|&b| !self.buckets[b].load(Ordering::Acquire).is_null())
            .map(bucket_len)
            .sum()
    }
}

impl<T> Drop for ShardTable<T> {
    fn drop(&mut self) {
        // A failing loom model unwinds outside the model, where loom's atomics can no longer
        // be read: leak the buckets instead of aborting the test run.
        #[cfg(loom)]
        if std::thread::panicking() {
            return;
        }
        for (bucket, slot) in self.buckets.iter_mut().enumerate() {
            let ptr = ptr_get_mut(slot);
            if !ptr.is_null() {
                // SAFETY: a non-null bucket was published by `publish_bucket` from
                // `Box::<[T]>::into_raw` with `bucket_len(bucket)` elements; `&mut self` means
                // no reference into it is alive, and it is freed exactly once, here.
                drop(unsafe {
                    Box::from_raw(ptr::slice_from_raw_parts_mut(ptr, bucket_len(bucket)))
                });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicU64;
    use crate::thread_id::Thread;

    #[test]
    fn shards_are_per_thread_and_allocated_by_bucket() {
        let table: ShardTable<AtomicU64> = ShardTable::new();
        assert_eq!(table.iter().count(), 0);
        assert_eq!(table.allocated(), 0);
        table.get(Thread::new(0).slot).store(5, Ordering::Relaxed);
        table.get(Thread::new(4).slot).store(7, Ordering::Relaxed);
        // bucket 0 (1 shard) and bucket 2 (4 shards); bucket 1 is never allocated.
        assert_eq!(table.allocated(), 5);
        let values: Vec<u64> = table.iter().map(|s| s.load(Ordering::Relaxed)).collect();
        assert_eq!(values, [5, 0, 7, 0, 0]);
        assert_eq!(table.get(Thread::new(4).slot).load(Ordering::Relaxed), 7);
        assert!(!ptr::eq(
            table.get(Thread::new(3).slot),
            table.get(Thread::new(4).slot)
        ));
    }

    #[test]
    fn concurrent_first_touches_of_one_bucket_agree_on_one_bucket() {
        let table: ShardTable<AtomicU64> = ShardTable::new();
        std::thread::scope(|s| {
            for id in 3..7 {
                let table = &table;
                s.spawn(move || {
                    table
                        .get(Thread::new(id).slot)
                        .store(id as u64, Ordering::Relaxed)
                });
            }
        });
        let values: Vec<u64> = table.iter().map(|s| s.load(Ordering::Relaxed)).collect();
        assert_eq!(values, [3, 4, 5, 6]);
        assert_eq!(table.allocated(), 4);
    }
}
