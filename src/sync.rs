//! The one place that chooses between `std` and `loom`.
//!
//! Every atomic, fence, lock and wait loop the crate uses comes from here, and so does the
//! answer to "which thread am I?" ([`current_thread`]). Under `cfg(loom)` all of them are
//! loom's, so the loom suite (`loom-tests/`) checks the real algorithm rather than a copy.
//!
//! Loom runs every model thread on one OS thread, so neither `std::thread_local!` nor
//! `std::thread::current().id()` can tell model threads apart: thread identity must come
//! from `loom::thread_local!`, which is why it lives behind this facade too (see
//! [`crate::thread_id`]).

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

pub(crate) use crate::thread_id::current as current_thread;

/// Locks `mutex`, ignoring poisoning: every critical section in this crate leaves its data
/// consistent at every step, so a panic inside one cannot leave it half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    #[cfg(loom)]
    {
        mutex.lock().unwrap()
    }
}

/// One step of waiting for another thread to finish a short critical section (a `set`, a
/// `reset`, or a group `update` on another thread).
///
/// Spins a little with exponential backoff, then yields the CPU: the thread we wait for may
/// have been preempted, and on an oversubscribed machine spinning would only delay it. Under
/// loom every step yields, which tells the model checker that this thread cannot make progress
/// until another one runs.
#[inline]
pub(crate) fn wait_step(step: &mut u32) {
    #[cfg(loom)]
    {
        let _ = step;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    {
        const SPIN_LIMIT: u32 = 6;
        if *step < SPIN_LIMIT {
            for _ in 0..(1u32 << *step) {
                core::hint::spin_loop();
            }
            *step += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// Reads an `AtomicPtr` through a unique reference (no other thread can touch it).
#[inline]
pub(crate) fn ptr_get_mut<T>(ptr: &mut AtomicPtr<T>) -> *mut T {
    #[cfg(not(loom))]
    {
        *ptr.get_mut()
    }
    #[cfg(loom)]
    {
        ptr.with_mut(|p| *p)
    }
}
