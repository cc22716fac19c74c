//! The real primitives (every build but `cfg(loom)`).

#[cfg(shardstat_split_word)]
pub use super::split::AtomicU64;
#[cfg(shardstat_split_word)]
pub use std::sync::atomic::AtomicU32;
/// Where the target has 64-bit atomics, `std`'s; elsewhere two halves under a sequence
/// count (`split.rs`, `docs/design.md` §15).
#[cfg(not(shardstat_split_word))]
pub use std::sync::atomic::AtomicU64;
pub use std::sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering};
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

/// A process-wide value: a `static`, a function returning a reference to it, and (if named)
/// one returning a [`Global`] handle (the same reference here).
macro_rules! global {
    (static $global:ident: $ty:ty = $init:expr; $vis:vis fn $get:ident(); $(fn $handle:ident();)?) => {
        static $global: $ty = $init;
        #[inline]
        $vis fn $get() -> &'static $ty {
            &$global
        }
        $(
            $vis fn $handle() -> $crate::sync::Global<$ty> {
                &$global
            }
        )?
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

/// Drops `value` on the calling thread's exit, as a thread-local's destructor registered now
/// would be: before the destructors of the thread-locals registered earlier, after those
/// registered later — and, when called from inside a thread-local destructor, right after
/// that destructor returns. `Err(value)` where the platform offers no way to register it.
///
/// For work that must run when a thread's own thread-locals are already being destroyed,
/// where `thread_local!` can no longer register anything (an access to a destroyed
/// thread-local fails). With glibc: `__cxa_thread_atexit_impl`, the registration C++
/// `thread_local` destructors use, which also keeps the library that holds this code loaded
/// until the destructor has run.
pub(crate) fn drop_at_thread_exit<T: 'static>(value: T) -> Result<(), T> {
    at_thread_exit::register(value)
}

/// Installs `prepare`, `parent` and `child` as `fork(2)` handlers (`pthread_atfork`):
/// `prepare` runs in the forking thread before the fork, `parent` and `child` after it in
/// each process. Called once, from a function [`at_load!`] runs. Nothing off Linux, or
/// under Miri (which cannot fork).
pub(crate) fn install_fork_handlers(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) {
    #[cfg(shardstat_linux)]
    {
        // SAFETY: `pthread_atfork` stores three function pointers, `'static` functions of
        // this object (glibc forgets them if the object is unloaded); it fails only for
        // lack of memory.
        let failed = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        assert_eq!(failed, 0, "shardstat: pthread_atfork failed");
    }
    #[cfg(not(shardstat_linux))]
    let _ = (prepare, parent, child);
}

/// Runs `$f` (an `extern "C" fn()`) when the object this code is linked into is loaded:
/// before `main` for a program, inside `dlopen` for a library — while no other thread can
/// use this object's statics yet. An `.init_array` entry, on Linux outside Miri; elsewhere
/// nothing (and no `fork` handlers are installed there).
macro_rules! at_load {
    ($f:path) => {
        #[cfg(shardstat_linux)]
        #[used]
        #[link_section = ".init_array"]
        static AT_LOAD: extern "C" fn() = $f;
        #[cfg(not(shardstat_linux))]
        const _: extern "C" fn() = $f;
    };
}
pub(crate) use at_load;

#[cfg(shardstat_glibc)]
mod at_thread_exit {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// `int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso_symbol)`.
    type Register = unsafe extern "C" fn(
        unsafe extern "C" fn(*mut libc::c_void),
        *mut libc::c_void,
        *mut libc::c_void,
    ) -> libc::c_int;

    extern "C" {
        /// The handle of the object (executable or shared library) this code is linked into:
        /// glibc counts the destructors registered for it and unloads it only after they ran.
        static __dso_handle: u8;
    }

    /// 0: not looked up yet; 1: glibc has no such function; else the function.
    static REGISTER: AtomicUsize = AtomicUsize::new(0);

    fn lookup() -> Option<Register> {
        // Relaxed: the value is the same whichever thread looks it up.
        let mut found = REGISTER.load(Ordering::Relaxed);
        if found == 0 {
            // SAFETY: `dlsym` with the default handle and a NUL-terminated name only looks
            // the symbol up; it returns null if no loaded object defines it.
            let symbol =
                unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__cxa_thread_atexit_impl".as_ptr()) };
            found = if symbol.is_null() { 1 } else { symbol as usize };
            REGISTER.store(found, Ordering::Relaxed);
        }
        // SAFETY: a non-null result of looking up glibc's `__cxa_thread_atexit_impl` is that
        // function, whose C signature `Register` spells.
        (found != 1).then(|| unsafe { std::mem::transmute::<usize, Register>(found) })
    }

    /// Drops the `Box<T>` at `value`.
    unsafe extern "C" fn drop_boxed<T>(value: *mut libc::c_void) {
        // SAFETY: `value` is the `Box::into_raw` of a `Box<T>` that `register::<T>` handed to
        // glibc, which calls this once per registration.
        drop(unsafe { Box::from_raw(value.cast::<T>()) });
    }

    pub(super) fn register<T: 'static>(value: T) -> Result<(), T> {
        let Some(register) = lookup() else {
            return Err(value);
        };
        let boxed = Box::into_raw(Box::new(value)).cast::<libc::c_void>();
        // SAFETY: `register` is glibc's `__cxa_thread_atexit_impl`; it stores the function,
        // its argument (the box, owned by glibc until the call) and this object's handle,
        // and calls the function once when the thread exits. `addr_of!` takes the handle's
        // address without reading it.
        let failed = unsafe {
            register(
                drop_boxed::<T>,
                boxed,
                std::ptr::addr_of!(__dso_handle).cast_mut().cast(),
            )
        } != 0;
        if failed {
            // SAFETY: glibc did not take the box; it is still ours, from `Box::into_raw`.
            return Err(*unsafe { Box::from_raw(boxed.cast::<T>()) });
        }
        Ok(())
    }
}

#[cfg(not(shardstat_glibc))]
mod at_thread_exit {
    /// No registration known here (and none needed by Miri's tests).
    pub(super) fn register<T: 'static>(value: T) -> Result<(), T> {
        Err(value)
    }
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

/// Reads an `AtomicUsize` through a unique reference (no other thread can touch it).
#[inline]
pub(crate) fn usize_get_mut(value: &mut AtomicUsize) -> usize {
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
    #[cfg(shardstat_x86_64_asm)]
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
    #[cfg(not(shardstat_x86_64_asm))]
    {
        value
    }
}

/// The cheap side of an asymmetric barrier pair, for the limited add's fast path (see
/// [`heavy_barrier`]).
///
/// The pair orders a store before a later load on *both* sides (the store-buffering
/// pattern): when thread A runs `store x; light_barrier(); load y` and thread B runs
/// `store y; heavy_barrier(); load x`, at least one of the loads sees the other thread's
/// store. Two `SeqCst` fences give that, but an `mfence` costs tens of cycles on every add.
/// Where Linux's `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` is available, the heavy side
/// makes every running thread of the process execute a full barrier (an IPI), so the light
/// side needs only to stop the *compiler* from reordering — the technique of liburcu and of
/// the kernel's own `sys_membarrier` users. Elsewhere both sides are `SeqCst` fences.
#[inline(always)]
pub(crate) fn light_barrier() {
    if membarrier::usable() {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        full_fence();
    }
}

/// The light barrier's fallback, out of line: the limited add's machine code then has no
/// locked instruction of its own (`.ci/check-add-path.sh`), only a call that runs where
/// `membarrier` is unavailable.
#[cold]
#[inline(never)]
fn full_fence() {
    fence(Ordering::SeqCst);
}

/// The expensive side of an asymmetric barrier pair (see [`light_barrier`]): one
/// `membarrier` system call (microseconds), or a `SeqCst` fence where that is unavailable.
pub(crate) fn heavy_barrier() {
    fence(Ordering::SeqCst);
    if membarrier::usable() {
        membarrier::private_expedited();
    }
    fence(Ordering::SeqCst);
}

/// Linux's `membarrier(2)`, probed once per process.
mod membarrier {
    use std::sync::atomic::{AtomicU8, Ordering};

    /// 0: not probed yet; 1: registered and usable; 2: unusable.
    static STATE: AtomicU8 = AtomicU8::new(0);

    /// Whether the expedited private command is registered for this process. Decided once,
    /// by the first probe to finish (a compare-and-swap from 0): every thread then uses that
    /// answer, so a light barrier that relied on it is always paired with heavy barriers that
    /// use it. (Two first calls used to race: a thread whose registration failed — a
    /// seccomp filter of its own — could overwrite another's success after that thread had
    /// already relied on it.) `SHARDSTAT_MEMBARRIER=off` in the environment makes it
    /// unusable: full fences on both sides.
    #[inline(always)]
    pub(super) fn usable() -> bool {
        // Relaxed: the value is decided once and never changes; every thread that reads 1
        // or 2 reads the final answer.
        match STATE.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => probe(),
        }
    }

    #[cold]
    #[inline(never)]
    fn probe() -> bool {
        let off = std::env::var_os("SHARDSTAT_MEMBARRIER").is_some_and(|v| v == "off");
        let usable = !off && register();
        // Relaxed: as in `usable`. The first probe to finish decides; the others adopt it.
        match STATE.compare_exchange(
            0,
            if usable { 1 } else { 2 },
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => usable,
            Err(decided) => decided == 1,
        }
    }

    #[cfg(shardstat_linux)]
    const REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;
    #[cfg(shardstat_linux)]
    const PRIVATE_EXPEDITED: libc::c_long = 1 << 3;

    /// Registers the process for expedited private barriers (idempotent, so racing first
    /// calls agree). False on kernels before 4.14, where seccomp forbids it, and off Linux.
    #[cfg(shardstat_linux)]
    fn register() -> bool {
        // SAFETY: `membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0)` takes no
        // pointer and changes no memory of this process; it only returns 0 or -1.
        unsafe { libc::syscall(libc::SYS_membarrier, REGISTER_PRIVATE_EXPEDITED, 0) == 0 }
    }

    #[cfg(not(shardstat_linux))]
    fn register() -> bool {
        false
    }

    #[cold]
    #[inline(never)]
    #[cfg(shardstat_linux)]
    fn failed(error: std::io::Error) -> ! {
        panic!(
            "shardstat: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed on this thread \
             ({error}) after the process registered it: probably a seccomp filter of this \
             thread's own. An approximate counter's exclusive section (set, reset, a limited \
             add near its limit) needs it to order itself against other threads' limited \
             adds. Allow membarrier in the filter, or run with SHARDSTAT_MEMBARRIER=off \
             (full fences on every limited add instead)"
        )
    }

    /// A full barrier on every running thread of the process. Only called once `usable()`
    /// returned true.
    pub(super) fn private_expedited() {
        #[cfg(shardstat_linux)]
        {
            // SAFETY: as in `register`: no pointer argument, no memory of ours written.
            let result = unsafe { libc::syscall(libc::SYS_membarrier, PRIVATE_EXPEDITED, 0) };
            // The kernel documents no error for a registered command, but a seccomp filter
            // of this thread's own can refuse the call. Then the other threads' light
            // barriers (compiler fences only) are not ordered against this section, and no
            // fallback can order them after the fact: stop, saying why, rather than let a
            // limited add overshoot.
            if result != 0 {
                failed(std::io::Error::last_os_error());
            }
        }
    }
}
