//! Who am I: a small dense index per live thread, reused after the thread exits.
//!
//! Every counter keeps one shard per thread index (see [`crate::shards`]). Indices are
//! handed out lowest-free-first and returned when the thread exits, so the number of shards a
//! counter ever allocates is bounded by the peak number of threads alive at once, not by the
//! number of threads ever created. A thread that takes over a freed index also takes over the
//! shards of the thread that had it, and carries on counting from their values: nothing the
//! exited thread added is lost. The hand-over goes through the registry's mutex, so the exited
//! thread's last adds happen-before the new owner's first one.
//!
//! The fast path ([`current`]) is one read of a `const`-initialised thread-local `Cell`, which
//! has no destructor and therefore needs no lazy registration. The guard whose `Drop` returns
//! the index is a separate thread-local, touched only once per thread (this split is the one
//! the `thread_local` crate uses).

use crate::sync::{lock, Mutex};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A thread's index, and where its shard sits in a [`crate::shards::ShardTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Thread {
    /// The dense index (0 for the first thread that touched any counter).
    pub(crate) id: usize,
    /// Where the thread's shards are.
    pub(crate) slot: Slot,
}

/// Where a thread's shard sits in every shard table: bucket `bucket`, position `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Which bucket: bucket `b` holds `2^b` shards. Always `< shards::BUCKETS`.
    pub(crate) bucket: usize,
    /// The position of the shard inside its bucket: `< 2^bucket`.
    pub(crate) index: usize,
}

impl Thread {
    pub(crate) fn new(id: usize) -> Self {
        // Bucket `b` holds the ids `2^b - 1 ..= 2^(b+1) - 2`.
        let key = id + 1;
        let bucket = (usize::BITS - 1 - key.leading_zeros()) as usize;
        let index = key - (1 << bucket);
        Thread {
            id,
            slot: Slot { bucket, index },
        }
    }
}

impl Slot {
    /// The slot as one non-zero word, `(bucket + 1) << 32 | index`, for the fast-path
    /// thread-local (0 means "no slot yet"). Indices fit: `MAX_THREADS < 2^32`.
    #[cfg(not(loom))]
    fn pack(self) -> u64 {
        ((self.bucket as u64 + 1) << 32) | self.index as u64
    }

    #[cfg(not(loom))]
    #[inline]
    fn unpack(packed: u64) -> Slot {
        Slot {
            bucket: (packed >> 32) as usize - 1,
            index: packed as u32 as usize,
        }
    }
}

/// The free-list of thread indices.
struct Registry {
    /// The lowest index never handed out.
    next: usize,
    /// Indices freed by exited threads; the lowest is reused first, which keeps the indices
    /// (and so the shard tables) dense.
    free: BinaryHeap<Reverse<usize>>,
}

impl Registry {
    fn acquire(&mut self) -> usize {
        if let Some(Reverse(id)) = self.free.pop() {
            return id;
        }
        let id = self.next;
        assert!(
            id < crate::shards::MAX_THREADS,
            "shardstat: more than {} threads alive at once",
            crate::shards::MAX_THREADS
        );
        self.next += 1;
        id
    }

    fn release(&mut self, id: usize) {
        self.free.push(Reverse(id));
    }
}

#[cfg(not(loom))]
mod imp {
    use super::{lock, Mutex, Registry, Slot, Thread};
    use std::cell::Cell;
    use std::collections::BinaryHeap;

    static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
        next: 0,
        free: BinaryHeap::new(),
    });

    /// Returns the thread's index to the registry when the thread exits.
    struct ThreadGuard {
        thread: Thread,
    }

    thread_local! {
        /// The fast path: the packed slot (0 = none yet). A `u64` with no destructor and a
        /// `const` initialiser, so reading it is one load at a fixed offset from the thread
        /// pointer, with no lazy registration and no state check.
        static SLOT: Cell<u64> = const { Cell::new(0) };
        /// Holds the index for the thread's lifetime and returns it on exit.
        static GUARD: Cell<Option<ThreadGuard>> = const { Cell::new(None) };
    }

    impl Drop for ThreadGuard {
        fn drop(&mut self) {
            // Later lookups on this thread (from other thread-locals' destructors) must not use
            // an index that another thread may now own: they take a fresh one (see `slow`).
            let _ = SLOT.try_with(|t| t.set(0));
            lock(&REGISTRY).release(self.thread.id);
        }
    }

    /// The calling thread's slot, allocated on first use.
    #[inline]
    pub(crate) fn current() -> Slot {
        match SLOT.with(Cell::get) {
            0 => slow(),
            packed => Slot::unpack(packed),
        }
    }

    /// The calling thread's slot if it has one; never allocates one.
    pub(crate) fn try_current() -> Option<Slot> {
        match SLOT.try_with(Cell::get) {
            Ok(0) | Err(_) => None,
            Ok(packed) => Some(Slot::unpack(packed)),
        }
    }

    #[cold]
    #[inline(never)]
    fn slow() -> Slot {
        let thread = Thread::new(lock(&REGISTRY).acquire());
        SLOT.with(|t| t.set(thread.slot.pack()));
        // If the guard's slot is already destroyed (we are inside the thread's own
        // thread-local destructors), the index is never returned: it is leaked, not shared.
        let _ = GUARD.try_with(|g| g.set(Some(ThreadGuard { thread })));
        thread.slot
    }
}

#[cfg(loom)]
mod imp {
    //! Loom runs all model threads on one OS thread; `loom::thread_local!` gives each model
    //! thread its own value and drops it when the model thread finishes, and
    //! `loom::lazy_static!` gives each execution a fresh registry, so every execution starts
    //! from index 0 and index reuse goes through loom's own mutex (which gives the model the
    //! happens-before edge from the exited owner to the next one).
    //!
    //! Loom drops a thread's locals after `join` has returned and possibly after the
    //! execution's lazy statics are gone, so each guard holds its own `Arc` of the registry
    //! instead of reaching for the static in `Drop`.
    use super::{lock, Mutex, Registry, Slot, Thread};
    use std::cell::Cell;
    use std::collections::BinaryHeap;
    use std::mem::ManuallyDrop;
    // A `std` Arc: a failing model drops the lazy statics outside the model, where dropping
    // a loom `Arc` would abort. The mutex inside is loom's, so slot hand-overs are modelled.
    use std::sync::Arc;

    loom::lazy_static! {
        static ref REGISTRY: Arc<Mutex<Registry>> = Arc::new(Mutex::new(Registry {
            next: 0,
            free: BinaryHeap::new(),
        }));
    }

    /// Returns the model thread's index to the registry when the model thread finishes.
    struct ThreadGuard {
        thread: Thread,
        registry: ManuallyDrop<Arc<Mutex<Registry>>>,
    }

    loom::thread_local! {
        static GUARD: ThreadGuard = {
            let registry = Arc::clone(&REGISTRY);
            let thread = Thread::new(lock(&registry).acquire());
            SLOT.with(|t| t.set(Some(thread.slot)));
            ThreadGuard { thread, registry: ManuallyDrop::new(registry) }
        };
        /// Whether this model thread has an index yet (set when `GUARD` is created).
        static SLOT: Cell<Option<Slot>> = Cell::new(None);
    }

    impl Drop for ThreadGuard {
        fn drop(&mut self) {
            // A failing model unwinds and drops thread-locals outside the model, where loom's
            // primitives can no longer be used: leak instead of aborting the test run.
            if std::thread::panicking() {
                return;
            }
            lock(&self.registry).release(self.thread.id);
            // SAFETY: `registry` is dropped exactly once, here, and not used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.registry) };
        }
    }

    /// The calling model thread's slot, allocated on first use.
    pub(crate) fn current() -> Slot {
        GUARD.with(|g| g.thread.slot)
    }

    /// The calling model thread's slot if it has one; never allocates one.
    pub(crate) fn try_current() -> Option<Slot> {
        SLOT.with(Cell::get)
    }
}

pub(crate) use imp::{current, try_current};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_double_in_size() {
        let placed: Vec<(usize, usize)> = (0..8)
            .map(Thread::new)
            .map(|t| (t.slot.bucket, t.slot.index))
            .collect();
        assert_eq!(
            placed,
            [
                (0, 0),
                (1, 0),
                (1, 1),
                (2, 0),
                (2, 1),
                (2, 2),
                (2, 3),
                (3, 0)
            ]
        );
    }

    #[test]
    fn packed_slots_round_trip_and_are_never_zero() {
        for id in [0, 1, 2, 6, 7, 1000, (1 << 31) - 2] {
            let slot = Thread::new(id).slot;
            assert_ne!(slot.pack(), 0);
            assert_eq!(Slot::unpack(slot.pack()), slot);
        }
    }

    #[test]
    fn lowest_free_index_is_reused_first() {
        let mut r = Registry {
            next: 0,
            free: BinaryHeap::new(),
        };
        let ids: Vec<usize> = (0..4).map(|_| r.acquire()).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        r.release(3);
        r.release(1);
        assert_eq!(r.acquire(), 1);
        assert_eq!(r.acquire(), 3);
        assert_eq!(r.acquire(), 4);
    }

    #[test]
    fn a_thread_keeps_its_slot_and_no_live_thread_shares_it() {
        let here = current();
        assert_eq!(current(), here, "the index is stable within a thread");
        let first = std::thread::spawn(current).join().unwrap();
        let second = std::thread::spawn(current).join().unwrap();
        assert_ne!(
            first, here,
            "a live thread's slot is never given to another"
        );
        assert_ne!(second, here);
    }
}
