//! Threads whose restartable-sequence registration is gone (issue 22, bug 4).
//!
//! glibc registers an rseq area for every thread it starts, and the per-CPU counters probe
//! that once, on one thread. But other code may unregister a thread's area, or the
//! registration may fail on one thread only (a per-thread seccomp filter). Such a thread's
//! `cpu_id` reads −1 and its `mm_cid` 0: a write must not index a shard with −1 (the copy
//! table would grow to 2^32 entries), nor run a section the kernel no longer protects on a
//! shard that a registered thread writes. It must fall back, and count exactly.
#![cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]

use shardstat::percpu::{self, Counter, Max, Min, Mode, UpDownCounter};
use std::sync::Barrier;
use std::thread;

const ADDS: u64 = 1_000_000;
const RSEQ_SIG: u32 = 0x5305_3053;
const RSEQ_FLAG_UNREGISTER: libc::c_int = 1;

/// Unregisters the calling thread's glibc rseq area; false if it had none registered.
fn unregister_this_thread() -> bool {
    // SAFETY: looks up glibc's exported offset and size of the area (both set before `main`
    // and never changed), then reads the thread pointer (`fs:0` holds the TCB's own address
    // on x86-64 glibc) and asks the kernel to forget the area at that offset. The area stays
    // valid memory; only the kernel stops updating it.
    unsafe {
        let offset = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr());
        let size = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr());
        if offset.is_null() || size.is_null() || *size.cast::<libc::c_uint>() == 0 {
            return false;
        }
        let thread_pointer: usize;
        core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) thread_pointer);
        let area = thread_pointer.wrapping_add_signed(*offset.cast::<isize>());
        // glibc registers 32 bytes (reporting 20 in 2.35–2.39) or its reported size.
        let reported = *size.cast::<libc::c_uint>();
        [32, reported].into_iter().any(|len| {
            libc::syscall(libc::SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0
        })
    }
}

#[test]
fn threads_without_a_registered_area_fall_back_and_count_exactly() {
    static ADDED: Counter = Counter::new();
    static NET: UpDownCounter = UpDownCounter::new();
    static LARGEST: Max = Max::new();
    static SMALLEST: Min = Min::new();
    let mode = percpu::mode();
    const THREADS: u64 = 4;
    let start = Barrier::new(THREADS as usize);
    let unregistered: Vec<bool> = thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let start = &start;
                s.spawn(move || {
                    // Threads 0 and 2 lose their registration; 1 and 3 keep theirs and share
                    // shards with them (the two CPUs' concurrency IDs).
                    let unregistered = t % 2 == 0 && unregister_this_thread();
                    start.wait();
                    for i in 0..ADDS {
                        ADDED.inc();
                        NET.add(if i % 2 == 0 { 3 } else { -1 });
                    }
                    LARGEST.record(100 + t);
                    SMALLEST.record(100 + t);
                    unregistered
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let rseq = matches!(mode, Mode::ConcurrencyId | Mode::CpuId);
    assert_eq!(
        unregistered,
        [rseq, false, rseq, false],
        "with rseq, threads 0 and 2 ran unregistered"
    );
    assert_eq!(ADDED.get(), THREADS * ADDS, "{mode:?}");
    assert_eq!(NET.get(), (THREADS * ADDS) as i64, "{mode:?}");
    assert_eq!((LARGEST.get(), SMALLEST.get()), (103, 100));
    println!("{mode:?}: exact over {} shards", ADDED.shards());
    if rseq {
        // The CPUs the kernel may bring up bound every registered thread's index.
        let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .ok()
            .and_then(|list| list.trim().rsplit([',', '-']).next()?.parse::<usize>().ok())
            .map_or(usize::MAX - 1, |highest| highest + 1);
        assert!(
            (2..=possible + 1).contains(&ADDED.shards()),
            "registered threads' CPUs, and one shard for unregistered writers"
        );
    }
}
