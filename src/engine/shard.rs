//! Who am I: the calling thread's shard, and the thread's cache of where that shard's arena
//! chunks are.
//!
//! A **shard** is one writer's share of every counter. The shards this file hands out are
//! threads': every per-thread type's, and the per-CPU types' on their fallback without rseq
//! (where rseq runs, a per-CPU shard is a CPU's: `percpu.rs`). Each shard has an
//! index, handed out lowest-free-first the first time a thread writes any counter and
//! returned when the thread exits, so the number of shards (and of arenas) follows the peak
//! number of threads alive at once, not the number ever created. A thread that takes over a
//! freed index takes over that shard's arena, and carries on counting from the values the
//! exited thread left in it: nothing the exited thread added is lost. The hand-over goes
//! through the engine's mutex, so the exited thread's last writes happen-before the new
//! owner's first one.
//!
//! The add path reads only [`ThreadCache`]: a `const`-initialised thread-local without a
//! destructor, so reading it is one load at a fixed offset from the thread pointer. The guard
//! whose `Drop` returns the index is a separate thread-local, touched once per thread (the
//! split the `thread_local` crate uses).

use super::{chunk_of_slot, Engine, CACHE_SLOTS};
use crate::sync::{self, AtomicU64, Global};
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ptr;

/// How many shards can be in use at once: `2^32 − 1` (more threads than any OS runs at once),
/// or 7 under loom (loom runs at most 5 threads).
pub(crate) const MAX_SHARDS: usize = if sync::MODEL { 7 } else { u32::MAX as usize };

/// What the add path needs to know about the calling thread: where its shard's copy of each
/// arena chunk is.
pub(crate) struct ThreadCache {
    /// Slot `k + 1`: the start (first cell) of this thread's shard's copy of chunk `k`, or null while not
    /// looked up yet. Slot 0 is always null: it is where an unassigned location points, so
    /// "no run yet" and "chunk not looked up yet" take the same branch.
    chunks: [Cell<*const AtomicU64>; CACHE_SLOTS],
    /// The shard index plus one; 0 while the thread has none.
    shard: Cell<usize>,
}

impl ThreadCache {
    sync::const_fn! {
        fn new() -> Self {
            ThreadCache {
                chunks: [const { Cell::new(ptr::null()) }; CACHE_SLOTS],
                shard: Cell::new(0),
            }
        }
    }

    /// Forgets the shard and every chunk: the next write looks them up again.
    fn clear(&self) {
        self.shard.set(0);
        for chunk in &self.chunks {
            chunk.set(ptr::null());
        }
    }
}

sync::per_thread! {
    /// The add path's per-thread state.
    static CACHE: ThreadCache = ThreadCache::new();
}

sync::per_thread! {
    /// Holds the shard index for the thread's lifetime and returns it on exit.
    static GUARD: Cell<Option<ShardGuard>> = Cell::new(None);
}

/// The free list of shard indices (kept under the engine's mutex).
#[derive(Debug)]
pub(crate) struct ShardIds {
    /// The lowest index never handed out.
    next: usize,
    /// Indices freed by exited threads; the lowest is reused first, which keeps the indices
    /// (and so the engine's tables) dense.
    free: BinaryHeap<Reverse<usize>>,
}

impl ShardIds {
    pub(crate) const fn new() -> Self {
        ShardIds {
            next: 0,
            free: BinaryHeap::new(),
        }
    }

    /// The lowest free index.
    ///
    /// # Panics
    /// If `max` shards are alive at once.
    fn acquire(&mut self, max: usize) -> usize {
        if let Some(Reverse(id)) = self.free.pop() {
            return id;
        }
        let id = self.next;
        assert!(id < max, "shardstat: more than {max} threads alive at once");
        self.next += 1;
        id
    }

    fn release(&mut self, id: usize) {
        self.free.push(Reverse(id));
    }

    /// Indices in use.
    pub(crate) fn live(&self) -> usize {
        self.next - self.free.len()
    }
}

/// Returns the thread's shard index to the engine when the thread exits.
struct ShardGuard {
    shard: usize,
    engine: Global<Engine>,
}

impl Drop for ShardGuard {
    fn drop(&mut self) {
        // A failing loom model drops thread-locals outside the model, where loom's primitives
        // can no longer be used: leak the index instead of aborting the test run.
        if sync::unwinding_model() {
            return;
        }
        // Later writes on this thread (from other thread-locals' destructors) must not use a
        // shard that another thread may own from now on: they look it up afresh.
        let _ = CACHE.try_with(ThreadCache::clear);
        self.engine.lock().shards.release(self.shard);
    }
}

/// The start of the calling thread's copy of the chunk behind cache slot `slot` (chunk
/// `slot − 1`), or null if the thread has not looked it up yet (always null for slot 0).
#[inline(always)]
pub(crate) fn cached_chunk(slot: usize) -> *const AtomicU64 {
    CACHE.with(|cache| cache.chunks[slot].get())
}

/// The calling thread's shard index, if it has one (never takes one).
pub(crate) fn current() -> Option<usize> {
    CACHE
        .try_with(|cache| cache.shard.get().checked_sub(1))
        .ok()
        .flatten()
}

/// The calling thread's shard index, taken if it has none: the per-CPU engine's writer index
/// where restartable sequences are unavailable (a thread's own index, so its copies there
/// have one writer, as here).
#[inline]
pub(crate) fn index() -> usize {
    match current() {
        Some(shard) => shard,
        None => register(super::engine()),
    }
}

/// The start of the calling thread's copy of the chunk behind cache slot `slot`: takes a
/// shard index if the thread has none, creates the shard's copy of the chunk if it has none,
/// and caches the answer for the add path.
#[cold]
#[inline(never)]
pub(crate) fn own_chunk(engine: &'static Engine, slot: usize) -> *const AtomicU64 {
    let shard = match current() {
        Some(shard) => shard,
        None => register(engine),
    };
    let start = engine.chunk_copy(chunk_of_slot(slot), shard);
    CACHE.with(|cache| cache.chunks[slot].set(start));
    start
}

/// Takes the lowest free shard index for the calling thread, and arranges for it to be
/// returned when the thread exits.
fn register(engine: &'static Engine) -> usize {
    let shard = engine.lock().shards.acquire(MAX_SHARDS);
    CACHE.with(|cache| cache.shard.set(shard + 1));
    let mut guard = Some(ShardGuard {
        shard,
        engine: super::engine_handle(),
    });
    let _ = GUARD.try_with(|g| g.set(guard.take()));
    if let Some(guard) = guard {
        // The guard's thread-local is already destroyed: this write comes from another
        // thread-local's destructor, run after the guard returned the thread's first shard
        // (one touched before the thread's first counter write). Have this guard dropped
        // right after that destructor returns; a later destructor that writes again takes
        // a shard again, and arms another. Where that cannot be arranged (not glibc), the
        // index is never returned: leaked, not shared.
        if let Err(guard) = sync::drop_at_thread_exit(guard) {
            std::mem::forget(guard);
        }
    }
    shard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_index_is_reused_first() {
        let mut ids = ShardIds::new();
        let taken: Vec<usize> = (0..4).map(|_| ids.acquire(100)).collect();
        assert_eq!(taken, [0, 1, 2, 3]);
        ids.release(3);
        ids.release(1);
        assert_eq!(ids.acquire(100), 1);
        assert_eq!(ids.acquire(100), 3);
        assert_eq!(ids.acquire(100), 4);
    }

    #[test]
    #[should_panic(expected = "shardstat: more than 2 threads alive at once")]
    fn too_many_live_threads_is_refused_with_a_message() {
        let mut ids = ShardIds::new();
        for _ in 0..3 {
            ids.acquire(2);
        }
    }

    #[test]
    fn a_thread_keeps_its_shard_and_no_live_thread_shares_it() {
        let engine = super::super::engine();
        let here = {
            own_chunk(engine, 1);
            current().unwrap()
        };
        assert_eq!(current(), Some(here), "the index is stable within a thread");
        let other = std::thread::spawn(move || {
            assert_eq!(current(), None, "a new thread has no shard until it writes");
            own_chunk(engine, 1);
            current().unwrap()
        })
        .join()
        .unwrap();
        assert_ne!(
            other, here,
            "a live thread's shard is never given to another"
        );
    }
}
