//! Linux restartable sequences (rseq): the calling CPU's index, and a write that commits only
//! if the thread ran on that CPU, uninterrupted, from the index check to the commit.
//!
//! Since glibc 2.35 the C library registers an rseq area for every thread it starts, at a
//! fixed offset from the thread pointer (`__rseq_offset`, `__rseq_size` are exported for
//! programs like this one). The kernel keeps the area's `cpu_id` (offset 4) and, since
//! Linux 6.3, `mm_cid` (offset 24) current whenever the thread runs. A critical section
//! is described by a `struct rseq_cs` (start, length, abort address) whose address the
//! thread stores in the area's `rseq_cs` field (offset 8) before entering; if the thread is
//! preempted, migrated or signalled while its instruction pointer is inside the section,
//! the kernel moves it to the abort address before it runs again. A section that checks
//! the index first and ends with one committing store is therefore atomic with respect to
//! every other thread on the same CPU — and no thread of another CPU writes that CPU's
//! cells — without any locked instruction. `docs/design.md` §13 has the whole argument.
//!
//! Only where all of this is known to hold is [`get`] `Some`: x86-64 Linux, glibc with a
//! registered area, outside Miri. Elsewhere callers fall back (see `crate::percpu`). The
//! answer is decided once per process. (Loom builds use `model.rs`'s emulation instead of
//! this file.)

use crate::sync::AtomicU64;
use std::sync::atomic::Ordering;

/// Which index the kernel gives: the concurrency ID or the CPU number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Index {
    /// `mm_cid` (Linux 6.3+): unique among the process's running threads, below
    /// min(threads, CPUs the process may use).
    ConcurrencyId,
    /// `cpu_id`: the CPU number, below the number of possible CPUs.
    CpuId,
}

/// The probed state: 0 not probed yet; `UNUSABLE | reason` when rseq cannot be used; or
/// `USABLE | field << 32 | area as u32` (the area's offset from the thread pointer, and the
/// index field's offset in the area).
static STATE: AtomicU64 = AtomicU64::new(0);
const USABLE: u64 = 1 << 63;
const UNUSABLE: u64 = 1 << 62;

/// Why rseq is not used, indexed by the low bits of an `UNUSABLE` state.
const REASONS: [&str; 6] = [
    "restartable sequences need x86-64 Linux with glibc (this build is for another target)",
    "Miri cannot run restartable sequences",
    "the C library exports no rseq area (glibc before 2.35, or another C library)",
    "no rseq area is registered (GLIBC_TUNABLES=glibc.pthread.rseq=0, a kernel before 4.18, \
     a sandbox that forbids rseq, or valgrind)",
    "the rseq area is registered but this thread's CPU number is not set",
    "this build's cells are two 32-bit halves (--cfg shardstat_split64), and a section \
     commits one 64-bit store",
];

/// Restarts counted so far (aborted or mismatched sections), process-wide.
static RESTARTS: AtomicU64 = AtomicU64::new(0);

/// The calling thread's rseq area, as offsets from the thread pointer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rseq {
    /// The area's offset from the thread pointer (`__rseq_offset`).
    #[cfg_attr(not(shardstat_rseq_asm), allow(dead_code))]
    area: isize,
    /// The index field's offset from the thread pointer.
    #[cfg_attr(not(shardstat_rseq_asm), allow(dead_code))]
    index_at: isize,
}

/// The rseq area, if restartable sequences can be used in this process: one relaxed load
/// (after the first call, which probes).
#[inline]
pub(crate) fn get() -> Option<Rseq> {
    // Relaxed: the state is decided once from process-wide facts; a thread that reads a
    // probed state reads the final one, and one that reads 0 probes and finds the same.
    if let Some(rseq) = get_probed() {
        return Some(rseq);
    }
    // Relaxed: as above.
    match STATE.load(Ordering::Relaxed) {
        0 => probe(),
        _ => None,
    }
}

/// The rseq area if it is known to be usable; `None` both where it is not and before the
/// first probe (callers then take their slow path, which calls [`get`]). One relaxed load.
#[inline(always)]
pub(crate) fn get_probed() -> Option<Rseq> {
    // Relaxed: as in `get`.
    let state = STATE.load(Ordering::Relaxed);
    (state & USABLE != 0).then(|| {
        let area = state as u32 as i32 as isize;
        Rseq {
            area,
            index_at: area + ((state >> 32) & 0xff) as isize,
        }
    })
}

/// Which index rseq gives here, or why it is not used.
pub(crate) fn index_kind() -> Result<Index, &'static str> {
    let _ = get();
    let state = STATE.load(Ordering::Relaxed);
    if state & USABLE != 0 {
        Ok(if (state >> 32) & 0xff == 24 {
            Index::ConcurrencyId
        } else {
            Index::CpuId
        })
    } else {
        Err(REASONS[(state & 0xff) as usize])
    }
}

/// Whether `index` (from `Rseq::index`) is a registered thread's: a CPU number or
/// concurrency ID, below 2^31. An unregistered thread's `cpu_id` is −1 or −2.
#[inline(always)]
pub(crate) fn registered(index: usize) -> bool {
    index < 1 << 31
}

/// How many indices registered threads can have: the CPUs the kernel may ever bring up
/// (`/sys/devices/system/cpu/possible`, else the configured CPUs). Both a CPU number and a
/// concurrency ID are below it.
pub(crate) fn possible_indices() -> usize {
    let listed = std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|list| highest_in_cpu_list(&list))
        .map(|highest| highest + 1);
    listed.unwrap_or_else(configured_cpus)
}

/// The highest CPU in a kernel CPU list such as `0-3,8,10-11`.
fn highest_in_cpu_list(list: &str) -> Option<usize> {
    list.trim()
        .split(',')
        .map(|range| range.rsplit('-').next()?.trim().parse::<usize>().ok())
        .try_fold(0, |highest, cpu| Some(highest.max(cpu?)))
}

#[cfg(shardstat_linux)]
fn configured_cpus() -> usize {
    // SAFETY: `sysconf` only reads a system value.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    usize::try_from(n).unwrap_or(1).max(1)
}

#[cfg(not(shardstat_linux))]
fn configured_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How many times a per-CPU write restarted: its section was aborted (the thread was
/// preempted, migrated or signalled inside it) or found the thread on another index.
pub(crate) fn restarts() -> u64 {
    RESTARTS.load(Ordering::Relaxed)
}

/// Counts one restart. Off the add path's straight line (called only after an abort).
#[cold]
#[inline(never)]
pub(crate) fn count_restart() {
    RESTARTS.fetch_add(1, Ordering::Relaxed);
}

#[cold]
#[inline(never)]
fn probe() -> Option<Rseq> {
    let state = match detect() {
        Ok((area, field)) => USABLE | (field << 32) | u64::from(area as u32),
        Err(reason) => UNUSABLE | reason,
    };
    STATE.store(state, Ordering::Relaxed);
    get()
}

#[cfg(shardstat_rseq_asm)]
use x86_64_linux::detect;

/// The real thing: x86-64 Linux with glibc, outside Miri.
#[cfg(shardstat_rseq_asm)]
mod x86_64_linux {
    use super::{AtomicU64, Rseq};

    /// The area's offset and the index field's offset, or the index of the reason it cannot be
    /// used.
    pub(super) fn detect() -> Result<(i32, u64), u64> {
        if cfg!(shardstat_split_word) {
            return Err(5);
        }
        /// `AT_RSEQ_FEATURE_SIZE` (Linux 6.3+): how much of the area the kernel maintains.
        const AT_RSEQ_FEATURE_SIZE: libc::c_ulong = 27;
        const CPU_ID: u64 = 4;
        const MM_CID: u64 = 24;
        // SAFETY: `dlsym` with the default handle and a NUL-terminated name only looks the
        // symbol up; it returns null if no loaded object defines it.
        let offset = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr()) };
        // SAFETY: as above.
        let size = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr()) };
        if offset.is_null() || size.is_null() {
            return Err(2);
        }
        // SAFETY: glibc defines `__rseq_offset` as a `ptrdiff_t` and `__rseq_size` as an
        // `unsigned int`, both set before any user code runs and never changed after.
        let (offset, size) = unsafe { (*offset.cast::<isize>(), *size.cast::<libc::c_uint>()) };
        if size == 0 {
            return Err(3);
        }
        let area = i32::try_from(offset).map_err(|_| 2u64)?;
        // glibc 2.35–2.39 register the original 32-byte area but report 20 (the fields before
        // `node_id`); 2.40 and later report the kernel's feature size.
        let registered = if size == 20 { 32 } else { u64::from(size) };
        // SAFETY: `getauxval` reads the auxiliary vector; it returns 0 for an absent entry.
        let feature = unsafe { libc::getauxval(AT_RSEQ_FEATURE_SIZE) };
        let field = if feature >= MM_CID + 4 && registered >= MM_CID + 4 {
            MM_CID
        } else {
            CPU_ID
        };
        let rseq = Rseq {
            area: area as isize,
            index_at: area as isize + CPU_ID as isize,
        };
        // `cpu_id` is -1 before registration and -2 if it failed.
        if (rseq.index() as i32) < 0 {
            return Err(4);
        }
        Ok((area, field))
    }

    /// The start of every section: its `struct rseq_cs` descriptor at local label 3 (version 0,
    /// flags 0, start at label 4, length up to label 5, abort at label 6), listed for debuggers in
    /// `__rseq_cs_ptr_array`; then the descriptor's address stored into this thread's area
    /// (`rseq_cs`, offset 8; `{area}` is the area's offset from the thread pointer, `{scratch}` a
    /// register it may clobber); then label 4, where the section starts.
    macro_rules! section_start {
        () => {
            concat!(
                ".pushsection __rseq_cs, \"aw\"\n",
                ".balign 32\n",
                "3:\n",
                ".long 0, 0\n",
                ".quad 4f, (5f - 4f), 6f\n",
                ".popsection\n",
                ".pushsection __rseq_cs_ptr_array, \"aw\"\n",
                ".quad 3b\n",
                ".popsection\n",
                "lea {scratch}, [rip + 3b]\n",
                "mov qword ptr fs:[{area} + 8], {scratch}\n",
                "4:\n",
            )
        };
    }

    /// After a section, committed or not: clears the area's `rseq_cs` field, so that it never
    /// points at a descriptor once the section is over. The descriptor lives in the object
    /// this code is linked into; if that object is a library that is later unloaded
    /// (`dlclose`), a pointer left behind would make the kernel's next look at this thread
    /// (a preemption, a signal) read unmapped memory and kill the process with SIGSEGV —
    /// and the thread may be any thread that ever counted, blocked anywhere. One store to a
    /// line the section has just written (`docs/design.md` §13, `tests/unload.rs`).
    macro_rules! section_end {
        () => {
            "mov qword ptr fs:[{area} + 8], 0\n"
        };
    }

    /// The abort handler (label 6), out of line in `__rseq_failure`: glibc's x86 `RSEQ_SIG`, which
    /// the kernel checks in the 4 bytes before the abort address, as the operand of a `ud1` (so
    /// disassemblers stay in step), then a jump to `$failed` (the section's "not committed" path).
    macro_rules! abort_handler {
        ($failed:literal) => {
            concat!(
                ".pushsection __rseq_failure, \"ax\"\n",
                ".byte 0x0f, 0xb9, 0x3d\n",
                ".long 0x53053053\n",
                "6:\n",
                "jmp ",
                $failed,
                "\n",
                ".popsection\n",
            )
        };
    }

    impl Rseq {
        /// The calling thread's index now (it may change as soon as this returns: a write
        /// checks it again inside its section): the add path's one load. On a thread whose
        /// area is not registered it is garbage — `cpu_id` reads −1 or −2 there, and
        /// `mm_cid` 0, a real index — which every section catches by checking `cpu_id`
        /// before it commits; slow paths use [`index_checked`](Self::index_checked).
        #[inline(always)]
        pub(crate) fn index(self) -> usize {
            let index: u32;
            // SAFETY: reads the 4-byte index field of this thread's rseq area, at `index_at`
            // from the thread pointer (`fs` on x86-64 Linux), where glibc placed the area of
            // every thread it started (`detect`); the memory is the thread's own whether or
            // not the kernel keeps it current. Nothing is written; the stack and flags are
            // untouched.
            unsafe {
                core::arch::asm!(
                    "mov {index:e}, dword ptr fs:[{at}]",
                    at = in(reg) self.index_at,
                    index = out(reg) index,
                    options(nostack, readonly, preserves_flags),
                );
            }
            index as usize
        }

        /// The calling thread's index, or, if its area is not registered with the kernel, a
        /// value that [`registered`](super::registered) refuses: `cpu_id` itself when that
        /// is negative (−1: never registered, or unregistered by other code; −2:
        /// registration failed, as under a per-thread seccomp filter). Two loads from one
        /// line and a conditional move — kept off the add's fast path, where the move
        /// lengthened the chain from the index to the cell (1.8 → 2.1 ns per add here).
        #[inline(always)]
        pub(crate) fn index_checked(self) -> usize {
            let index: u32;
            // SAFETY: as in `index`, and also reads the area's `cpu_id` (offset 4). Nothing
            // is written; the stack is untouched (flags are clobbered by `test`).
            unsafe {
                core::arch::asm!(
                    "mov {index:e}, dword ptr fs:[{at}]",
                    "mov {cpu:e}, dword ptr fs:[{area} + 4]",
                    "test {cpu:e}, {cpu:e}",
                    "cmovs {index:e}, {cpu:e}",
                    at = in(reg) self.index_at,
                    area = in(reg) self.area,
                    index = out(reg) index,
                    cpu = out(reg) _,
                    options(nostack, readonly),
                );
            }
            index as usize
        }

        /// Adds `n` to `*cell` in a restartable sequence that commits only while the thread's
        /// index is `index` and its area is registered: true if it committed, false if it was
        /// aborted (preempted, migrated, signalled), the index was not `index`, or the area
        /// is not registered, and nothing was written.
        ///
        /// # Safety
        /// `cell` must point to a live `AtomicU64` that only sections on index `index` write.
        #[inline(always)]
        pub(crate) unsafe fn add(self, cell: *const AtomicU64, n: u64, index: usize) -> bool {
            let committed: u32;
            // SAFETY: the section (labels 4 to 5) is described by the `rseq_cs` record at label
            // 3, which the first two instructions store into this thread's area (offset 8); its
            // abort address (label 6) is preceded by glibc's signature. Inside, the index is
            // checked against `index` and the area's `cpu_id` checked to be a CPU (not −1 or
            // −2: an area the kernel does not watch, so nothing would restart the section),
            // then the cell is loaded, added to and stored: the store is the last
            // instruction, so an abort leaves the cell untouched. The cell is a live
            // `AtomicU64` (the caller's contract); no other memory is written but the area's
            // `rseq_cs` field (set before the section, cleared after it), which belongs to
            // this thread's rseq use. The stack is untouched.
            unsafe {
                core::arch::asm!(
                    "xor {ok:e}, {ok:e}",
                    section_start!(),
                    "cmp dword ptr fs:[{at}], {index:e}",
                    "jne 6f",
                    "cmp dword ptr fs:[{area} + 4], 0",
                    "jl 6f",
                    "mov {scratch}, qword ptr [{cell}]",
                    "add {scratch}, {n}",
                    "mov qword ptr [{cell}], {scratch}",
                    "5:",
                    "mov {ok:e}, 1",
                    abort_handler!("7f"),
                    "7:",
                    section_end!(),
                    area = in(reg) self.area,
                    at = in(reg) self.index_at,
                    index = in(reg) index as u32,
                    cell = in(reg) cell,
                    n = in(reg) n,
                    scratch = out(reg) _,
                    ok = out(reg) committed,
                    options(nostack),
                );
            }
            committed != 0
        }

        /// Stores `value` into `*target` in a restartable sequence that commits only while the
        /// thread's index is `index`, its area is registered, `*a == expect_a` and `*b ==
        /// expect_b`: true if it committed, false otherwise (nothing written).
        ///
        /// # Safety
        /// `a`, `b` and `target` must point to live `AtomicU64`s that only sections on index
        /// `index` write.
        #[inline(always)]
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
            let committed: u64;
            // SAFETY: as in `add`: a section (labels 4 to 5) described by the record at label
            // 3, stored into this thread's area first, with the signature before its abort
            // address (6). It checks the index, `cpu_id` and both expected words, then commits
            // with its last instruction, one store to `target` (a live `AtomicU64`, the
            // caller's contract). A failed check leaves the section before the store (label
            // 8). Every way out clears the area's `rseq_cs` field again (after label 9).
            unsafe {
                core::arch::asm!(
                    section_start!(),
                    "cmp dword ptr fs:[{at}], {index:e}",
                    "jne 6f",
                    "cmp dword ptr fs:[{area} + 4], 0",
                    "jl 6f",
                    "cmp qword ptr [{a}], {ea}",
                    "jne 8f",
                    "cmp qword ptr [{b}], {eb}",
                    "jne 8f",
                    "mov qword ptr [{target}], {value}",
                    "5:",
                    "mov {ok:e}, 1",
                    "jmp 9f",
                    abort_handler!("8f"),
                    "8:",
                    "xor {ok:e}, {ok:e}",
                    "9:",
                    section_end!(),
                    area = in(reg) self.area,
                    at = in(reg) self.index_at,
                    index = in(reg) index as u32,
                    a = in(reg) a,
                    ea = in(reg) expect_a,
                    b = in(reg) b,
                    eb = in(reg) expect_b,
                    target = in(reg) target,
                    value = in(reg) value,
                    scratch = out(reg) _,
                    ok = out(reg) committed,
                    options(nostack),
                );
            }
            committed != 0
        }
    }
}

#[cfg(not(shardstat_rseq_asm))]
use elsewhere::detect;

/// Everywhere else: no restartable sequences.
#[cfg(not(shardstat_rseq_asm))]
mod elsewhere {
    use super::{AtomicU64, Rseq};

    /// The area's offset and the index field's offset, or the index of the reason it cannot be
    /// used.
    pub(super) fn detect() -> Result<(i32, u64), u64> {
        if cfg!(miri) {
            Err(1)
        } else {
            Err(0)
        }
    }

    /// Where rseq cannot be used, [`super::get`] is never `Some`; these exist so that callers
    /// compile.
    impl Rseq {
        pub(crate) fn index(self) -> usize {
            unreachable!("no rseq here")
        }

        pub(crate) fn index_checked(self) -> usize {
            unreachable!("no rseq here")
        }

        pub(crate) unsafe fn add(self, _: *const AtomicU64, _: u64, _: usize) -> bool {
            unreachable!("no rseq here")
        }

        #[allow(clippy::too_many_arguments)]
        pub(crate) unsafe fn store_if(
            self,
            _: usize,
            _: *const AtomicU64,
            _: u64,
            _: *const AtomicU64,
            _: u64,
            _: *const AtomicU64,
            _: u64,
        ) -> bool {
            unreachable!("no rseq here")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_cpu_of_a_kernel_cpu_list() {
        assert_eq!(highest_in_cpu_list("0\n"), Some(0));
        assert_eq!(highest_in_cpu_list("0-1\n"), Some(1));
        assert_eq!(highest_in_cpu_list("0-3,8,10-11"), Some(11));
        assert_eq!(highest_in_cpu_list("12,0-3"), Some(12));
        assert_eq!(highest_in_cpu_list("zero"), None);
        if !cfg!(miri) {
            // Miri cannot open files (isolation); it never runs restartable sequences anyway.
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            assert!(possible_indices() >= cpus);
        }
    }

    #[test]
    fn an_unregistered_threads_cpu_id_is_not_a_registered_index() {
        assert!(registered(0) && registered(8191));
        assert!(!registered(u32::MAX as usize) && !registered((-2i32) as u32 as usize));
    }
}
