//! The real primitives (every build but `cfg(loom)`).

pub use std::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Whether this is a loom build, whose sizes shrink to keep models small.
pub(crate) const MODEL: bool = false;

/// Declares a function `const` (loom builds make it a plain `fn`: loom's atomics have no
/// `const fn new`).
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident ($($args:tt)*) -> $ret:ty $body:block) => {
        $(#[$attr])*
        $vis const fn $name($($args)*) -> $ret $body
    };
}
pub(crate) use const_fn;

/// `const_fn!` for code that other crates expand (the `stats!` macro): decided when
/// shardstat is compiled, so the expanding crate needs no `cfg(loom)` of its own.
#[doc(hidden)]
#[macro_export]
macro_rules! __const_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident() -> $ret:ty $body:block) => {
        $(#[$attr])* $vis const fn $name() -> $ret $body
    };
}

/// `[value; N]` for a value that is not `Copy`, evaluated once per element (in a `const`
/// context here; at run time under loom).
macro_rules! repeat {
    ($value:expr; $n:expr) => {
        [const { $value }; $n]
    };
}
pub(crate) use repeat;

/// Items that exist only in loom builds (internals the loom suite's negative controls use).
macro_rules! model_only {
    ($($item:item)*) => {};
}
pub(crate) use model_only;

/// A thread-local with a `const` initialiser. Without a destructor it is one load at a fixed
/// offset from the thread pointer, with no lazy registration and no state check.
macro_rules! per_thread {
    ($(#[$attr:meta])* static $name:ident : $ty:ty = $init:expr;) => {
        ::std::thread_local! {
            $(#[$attr])* static $name: $ty = const { $init };
        }
    };
}
pub(crate) use per_thread;

/// A process-wide value: a `static`, a function returning a reference to it, and one
/// returning a [`Global`] handle (the same reference here).
macro_rules! global {
    (static $global:ident: $ty:ty = $init:expr; $vis:vis fn $get:ident(); fn $handle:ident();) => {
        static $global: $ty = $init;
        #[inline]
        $vis fn $get() -> &'static $ty {
            &$global
        }
        $vis fn $handle() -> $crate::sync::Global<$ty> {
            &$global
        }
    };
}
pub(crate) use global;

/// A handle on a process-wide value that a thread-local guard may keep and use when its
/// thread exits.
pub(crate) type Global<T> = &'static T;

/// Whether a destructor runs while a failed loom model unwinds, where loom's primitives can
/// no longer be used (never, outside loom).
#[inline]
pub(crate) fn unwinding_model() -> bool {
    false
}

/// One step of waiting for another thread to finish a short critical section (a `set`, a
/// `reset`, or a group `update` on another thread).
///
/// Spins a little with exponential backoff, then yields the CPU: the thread we wait for may
/// have been preempted, and on an oversubscribed machine spinning would only delay it.
#[inline]
pub(crate) fn wait_step(step: &mut u32) {
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

/// Reads an `AtomicU64` through a unique reference (no other thread can touch it).
#[inline]
pub(crate) fn u64_get_mut(value: &mut AtomicU64) -> u64 {
    *value.get_mut()
}

/// `len` atomics at 0, in one allocation. Zeroed memory from the allocator (`calloc`: a large
/// block is fresh pages the OS maps in only when first written), so the engine's blocks
/// cost resident memory only where owners write.
pub(crate) fn zeroed_atomics(len: usize) -> Box<[AtomicU64]> {
    if len == 0 {
        return Box::new([]);
    }
    let layout = std::alloc::Layout::array::<AtomicU64>(len).expect("arena chunk too large");
    // SAFETY: `layout` has a non-zero size (`len > 0`).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<AtomicU64>();
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `ptr` is a fresh, non-null allocation of `layout`, that is of `len`
    // `AtomicU64`s, all bytes zero; an `AtomicU64` has the size, alignment and bit validity
    // of a `u64`, for which all-zero bytes are the value 0. `Box<[AtomicU64]>` frees it with
    // the same layout (the global allocator's `dealloc`).
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) }
}

/// Returns `value` unchanged, but hides where it came from, so that the compiler emits the
/// owner's add as a separate load, add and store instead of folding them into one
/// memory-destination `add` (x86-64 `add [mem], reg`: not locked, and not atomic either —
/// which is fine here, since only the owner writes the cell).
///
/// Why: on the Intel x86-64 cores measured, a load that reads a value just stored to the same
/// address is served fast when it is a plain `mov`, but the load inside a
/// memory-destination `add` waits the full store-forwarding latency (`docs/performance.md`).
/// Other architectures have no memory-destination add, and Miri needs no help, so there it
/// is the identity.
#[inline(always)]
pub(crate) fn keep_in_register(value: u64) -> u64 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    {
        let mut value = value;
        // SAFETY: the template is empty: the block executes no instruction, reads and writes
        // no memory (`nomem`), leaves the stack and flags alone, and returns its register
        // operand unchanged (`pure`: the output depends only on the input). It only stops
        // the compiler from seeing that `value` is the loaded value.
        unsafe {
            core::arch::asm!(
                "/* {0} */",
                inout(reg) value,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        value
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        value
    }
}
