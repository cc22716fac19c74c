//! The `metrics` recorder's per-thread cache: from a `metrics::Key` to a handle that the
//! calling thread owns, so that `counter!(…)` on a key the thread has used before touches
//! only this thread's memory and the key's own cells — no registry lock word and no shared
//! reference count (issue 30, item 1; `docs/design.md` §17).
//!
//! Direct-mapped: `SLOTS` slots per thread and kind, chosen by the key's hash (which
//! `metrics` computes once, at the call site for a static key) mixed with the recorder's id;
//! a miss asks the registry (the one place keys are created, sanitised and rendered) and
//! replaces the slot. A hit compares the recorder's id and the key (hash, name, labels), so
//! a collision is a miss, never a wrong counter. The slots are allocated at a thread's first
//! miss and freed with the thread; a slot holds its handle, so a dropped recorder's cells
//! live on in a slot until it is replaced or the thread exits (at most `SLOTS` handles per
//! thread and kind).

use metrics::Key;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::LocalKey;

/// Slots per thread and kind (counters, gauges, histograms): a thread's 256 most recently
/// used keys of each kind, about 20 KiB per kind for a thread that used that many.
const SLOTS: usize = 256;

/// One thread's cache of handles of one kind.
pub(crate) struct ThreadCache<H> {
    /// Empty until the thread's first miss, then `SLOTS` long.
    slots: Vec<Option<Slot<H>>>,
}

struct Slot<H> {
    recorder: u64,
    key: Key,
    handle: Arc<H>,
}

impl<H> ThreadCache<H> {
    /// An empty cache: allocates nothing (a `const` thread-local initialiser).
    pub(crate) const fn new() -> Self {
        ThreadCache { slots: Vec::new() }
    }
}

/// A new recorder's id: never 0 and never reused, so a slot of a dropped recorder never
/// answers for a new one.
pub(crate) fn recorder_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // Relaxed: only uniqueness matters.
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The calling thread's handle for `key` in recorder `recorder`: from its slot in `cache`
/// if it is there, else `miss()`'s, which then takes the slot. A thread whose cache is gone
/// (a `counter!` in another thread-local's destructor) or busy gets `miss()`'s, uncached.
#[inline]
pub(crate) fn get_or_insert<H>(
    cache: &'static LocalKey<RefCell<ThreadCache<H>>>,
    recorder: u64,
    key: &Key,
    miss: impl FnOnce() -> Arc<H>,
) -> Arc<H> {
    let index = slot_of(key.get_hash(), recorder);
    let hit = cache.try_with(|cache| {
        let cache = cache.try_borrow().ok()?;
        match cache.slots.get(index)? {
            Some(slot) if slot.recorder == recorder && slot.key == *key => {
                Some(Arc::clone(&slot.handle))
            }
            _ => None,
        }
    });
    match hit {
        Ok(Some(handle)) => handle,
        Ok(None) => insert(cache, index, recorder, key, miss()),
        Err(_) => miss(),
    }
}

/// Puts `handle` in slot `index`; the slot's old handle is dropped after the cache is
/// released (dropping it may drop a recorder's last cells).
#[cold]
#[inline(never)]
fn insert<H>(
    cache: &'static LocalKey<RefCell<ThreadCache<H>>>,
    index: usize,
    recorder: u64,
    key: &Key,
    handle: Arc<H>,
) -> Arc<H> {
    let slot = Slot {
        recorder,
        key: key.clone(),
        handle: Arc::clone(&handle),
    };
    let old = cache.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if cache.slots.is_empty() {
            cache.slots.resize_with(SLOTS, || None);
        }
        cache.slots[index].replace(slot)
    });
    drop(old);
    handle
}

/// The slot of a key hash in a recorder: the hash's high bits (the low ones of `metrics`'
/// hash are as good, but mixing in the recorder's id by multiplication spreads into the
/// high ones), so two recorders' uses of one key fall in different slots.
#[inline(always)]
fn slot_of(hash: u64, recorder: u64) -> usize {
    let mixed = (hash ^ recorder).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    std::thread_local! {
        static CACHE: RefCell<ThreadCache<u64>> = const { RefCell::new(ThreadCache::new()) };
    }

    /// Hits return the cached handle; a key of another recorder, or another key in the same
    /// slot, misses; a replaced handle is dropped.
    #[test]
    fn hits_misses_and_replacement() {
        let (a, b) = (recorder_id(), recorder_id());
        let key = Key::from_name("requests");
        let first = get_or_insert(&CACHE, a, &key, || Arc::new(1));
        assert_eq!(*get_or_insert(&CACHE, a, &key, || Arc::new(2)), 1, "a hit");
        assert_eq!(
            *get_or_insert(&CACHE, b, &key, || Arc::new(3)),
            3,
            "another recorder"
        );
        // Another key of recorder `a` in the same slot replaces it.
        let slot = slot_of(key.get_hash(), a);
        let other = (0..)
            .map(|i| Key::from_name(format!("k{i}")))
            .find(|k| slot_of(k.get_hash(), a) == slot)
            .unwrap();
        assert_eq!(*get_or_insert(&CACHE, a, &other, || Arc::new(4)), 4);
        assert_eq!(
            Arc::strong_count(&first),
            1,
            "the replaced slot let its handle go"
        );
        assert_eq!(
            *get_or_insert(&CACHE, a, &key, || Arc::new(5)),
            5,
            "replaced: a miss"
        );
    }

    /// The slot index stays in range for any hash and id.
    #[test]
    fn slots_are_in_range() {
        for (hash, id) in [(0, 0), (u64::MAX, u64::MAX), (1, 2), (0x1234_5678, 99)] {
            assert!(slot_of(hash, id) < SLOTS);
        }
    }
}
