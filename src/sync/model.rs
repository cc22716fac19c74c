//! Loom's primitives (`RUSTFLAGS="--cfg loom"`: the model-check suite, `loom-tests/`).

/// `--cfg shardstat_split64`: the two-halves atomic of targets without 64-bit atomics, so
/// that loom checks its sequence count too.
#[cfg(shardstat_split_word)]
pub use super::split::AtomicU64;
#[cfg(shardstat_split_word)]
pub use loom::sync::atomic::AtomicU32;
#[cfg(not(shardstat_split_word))]
pub use loom::sync::atomic::AtomicU64;
pub use loom::sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};
pub(crate) use loom::sync::{Mutex, MutexGuard};

/// Whether this is a loom build, whose sizes shrink to keep models small.
pub(crate) const MODEL: bool = true;

/// Declares a function that is `const` in normal builds; a plain `fn` here, since loom's
/// atomics have no `const fn new`.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident ($($args:tt)*) -> $ret:ty $body:block) => {
        $(#[$attr])*
        $vis fn $name($($args)*) -> $ret $body
    };
}
pub(crate) use const_fn;

/// `const_fn!` for code that other crates expand (the `stats!` macro).
#[doc(hidden)]
#[macro_export]
macro_rules! __const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident() -> $ret:ty $body:block) => {
        $(#[$attr])* $vis fn $name() -> $ret $body
    };
}

/// `[value; N]` for a value that is not `Copy`, evaluated once per element.
macro_rules! repeat {
    ($value:expr; $n:expr) => {
        ::std::array::from_fn(|_| $value)
    };
}
pub(crate) use repeat;

/// Items that exist only in loom builds (internals the loom suite's negative controls use).
macro_rules! model_only {
    ($($item:item)*) => { $($item)* };
}
pub(crate) use model_only;

/// A thread-local, one value per *model* thread (loom runs every model thread on one OS
/// thread, where `std::thread_local!` would share one value between them). Loom drops a
/// model thread's values when the model thread finishes.
macro_rules! per_thread {
    ($(#[$attr:meta])* static $name:ident : $ty:ty = $init:expr;) => {
        ::loom::thread_local! {
            $(#[$attr])* static $name: $ty = $init;
        }
    };
}
pub(crate) use per_thread;

/// A process-wide value: one per execution of a model, created on first use and dropped
/// when the execution ends, so every execution starts from scratch. Generates the static,
/// a function returning a reference to the value, and one returning a [`Global`] handle.
///
/// Held in a `std` `Arc`: loom may drop a finished model thread's thread-locals after the
/// execution's lazy statics are gone, so a thread-local guard that needs the value in its
/// `Drop` keeps its own handle. A `std` `Arc` because a failing model drops the statics
/// outside the model, where dropping a loom `Arc` would abort.
macro_rules! global {
    (static $global:ident: $ty:ty = $init:expr; $vis:vis fn $get:ident(); $(fn $handle:ident();)?) => {
        ::loom::lazy_static! {
            static ref $global: ::std::sync::Arc<$ty> = ::std::sync::Arc::new($init);
        }
        $vis fn $get() -> &'static $ty {
            &$global
        }
        $(
            $vis fn $handle() -> $crate::sync::Global<$ty> {
                ::std::sync::Arc::clone(&$global)
            }
        )?
    };
}
pub(crate) use global;

/// A handle on a process-wide value that a thread-local guard may keep and use when its
/// model thread finishes.
pub(crate) type Global<T> = std::sync::Arc<T>;

/// Whether a destructor runs while a failed model unwinds: then loom's primitives can no
/// longer be used, and the destructor must leak instead of locking or loading.
pub(crate) fn unwinding_model() -> bool {
    std::thread::panicking()
}

/// Loom registers no destructor once a model thread's thread-locals are being destroyed:
/// the value is handed back (its owner leaks it, as before this existed).
pub(crate) fn drop_at_thread_exit<T: 'static>(value: T) -> Result<(), T> {
    Err(value)
}

/// A model never forks: nothing to install.
pub(crate) fn install_fork_handlers(_: extern "C" fn(), _: extern "C" fn(), _: extern "C" fn()) {}

/// A model loads nothing: nothing runs at load.
macro_rules! at_load {
    ($f:path) => {
        const _: extern "C" fn() = $f;
    };
}
pub(crate) use at_load;

/// One step of waiting for another thread: a yield, which tells the model checker that this
/// thread cannot make progress until another one runs.
#[inline]
pub(crate) fn wait_step(step: &mut u32) {
    let _ = step;
    loom::thread::yield_now();
}

/// Reads an `AtomicUsize` through a unique reference.
pub(crate) fn usize_get_mut(value: &mut AtomicUsize) -> usize {
    value.with_mut(|v| *v)
}

/// `len` atomics at 0 (loom atomics are objects of the model and cannot be zeroed memory).
pub(crate) fn zeroed_atomics(len: usize) -> Box<[AtomicU64]> {
    (0..len).map(|_| AtomicU64::new(0)).collect()
}

/// The identity: the code-generation hint of normal builds means nothing to a model.
#[inline(always)]
pub(crate) fn keep_in_register(value: u64) -> u64 {
    value
}

/// The cheap side of an asymmetric barrier pair (see the native half). Loom has no
/// `membarrier`: both sides are `SeqCst` fences, which loom models exactly (its `SeqCst`
/// *accesses* it does not), so a model checks the store-buffering argument itself.
#[inline]
pub(crate) fn light_barrier() {
    fence(Ordering::SeqCst);
}

/// The expensive side of an asymmetric barrier pair: a `SeqCst` fence under loom.
pub(crate) fn heavy_barrier() {
    fence(Ordering::SeqCst);
}

/// Restartable sequences, emulated for the model checker (the native half is `rseq.rs`).
///
/// What the kernel guarantees a per-CPU write is that its section runs, from its index check
/// to its one committing store, with no other section on the same index in between (else it
/// restarts), and that a thread taking an index over from another sees that thread's stores
/// (the scheduler's barriers). A lock per index gives both, so a model runs the per-CPU
/// mode's own code — the shard lookup, a copy created by one thread and used by another,
/// the extremum's record protocol, reads, `set`/`reset` — with the section as a unit.
/// Model threads get indices 0, 1, 0, … in the order they first write: the main thread and
/// the second thread spawned share index 0, as two threads taking turns on one CPU.
pub(crate) mod rseq {
    use super::{AtomicU64, AtomicUsize, Mutex, Ordering};
    use std::cell::Cell;

    /// How many indices the emulation hands out.
    const INDICES: usize = 2;

    /// The kind of index, as the native probe reports it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Index {
        ConcurrencyId,
        #[allow(dead_code)]
        CpuId,
    }

    struct Sections {
        next: AtomicUsize,
        locks: [Mutex<()>; INDICES],
    }

    crate::sync::global! {
        static SECTIONS: Sections = Sections {
            next: AtomicUsize::new(0),
            locks: [Mutex::new(()), Mutex::new(())],
        };
        fn sections();
    }

    crate::sync::per_thread! {
        static ORDINAL: Cell<usize> = Cell::new(usize::MAX);
    }

    /// An emulated rseq area.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Rseq;

    /// Always `Some` in a model.
    pub(crate) fn get() -> Option<Rseq> {
        Some(Rseq)
    }

    /// Always `Some` in a model.
    pub(crate) fn get_probed() -> Option<Rseq> {
        Some(Rseq)
    }

    pub(crate) fn index_kind() -> Result<Index, &'static str> {
        Ok(Index::ConcurrencyId)
    }

    pub(crate) fn restarts() -> u64 {
        0
    }

    pub(crate) fn count_restart() {}

    /// Model threads are always registered.
    pub(crate) fn registered(index: usize) -> bool {
        index < INDICES
    }

    /// The emulation's indices.
    pub(crate) fn possible_indices() -> usize {
        INDICES
    }

    impl Rseq {
        /// The calling model thread's index.
        pub(crate) fn index(self) -> usize {
            ORDINAL.with(|ordinal| {
                if ordinal.get() == usize::MAX {
                    // Relaxed: only hands out distinct numbers.
                    ordinal.set(sections().next.fetch_add(1, Ordering::Relaxed));
                }
                ordinal.get() % INDICES
            })
        }

        /// The calling model thread's index (model threads are always registered).
        pub(crate) fn index_checked(self) -> usize {
            self.index()
        }

        /// The section of the native `add`, as a unit.
        ///
        /// # Safety
        /// `cell` must point to a live `AtomicU64`.
        pub(crate) unsafe fn add(self, cell: *const AtomicU64, n: u64, index: usize) -> bool {
            let _section = crate::sync::lock(&sections().locks[index]);
            // SAFETY: the caller's contract.
            let cell = unsafe { &*cell };
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
            true
        }

        /// The section of the native `store_if`, as a unit.
        ///
        /// # Safety
        /// The three pointers must point to live `AtomicU64`s.
        #[allow(clippy::too_many_arguments)]
        pub(crate) unsafe fn store_if(
            self,
            index: usize,
            a: *const AtomicU64,
            expect_a: u64,
            b: *const AtomicU64,
            expect_b: u64,
            target: *const AtomicU64,
            value: u64,
        ) -> bool {
            let _section = crate::sync::lock(&sections().locks[index]);
            // SAFETY: the caller's contract.
            let (a, b, target) = unsafe { (&*a, &*b, &*target) };
            if a.load(Ordering::Relaxed) != expect_a || b.load(Ordering::Relaxed) != expect_b {
                return false;
            }
            target.store(value, Ordering::Relaxed);
            true
        }
    }
}
