//! Per-CPU counters (`shardstat::percpu`): nothing lost under oversubscription, preemption,
//! migration and signals; at most one shard per CPU; and a negative control that shows the
//! stress test can fail.
//!
//! Every test runs in both modes: `cargo test` uses restartable sequences where this
//! machine has them, and `.ci/run` runs the suite again with
//! `GLIBC_TUNABLES=glibc.pthread.rseq=0`, where the per-CPU types fall back to per-thread
//! shards. The tests say which mode they checked.

use shardstat::percpu::{self, Counter, Max, Min, Mode, UpDownCounter};
// The test's own bookkeeping words are `usize`: they stay small, and the suite also runs on
// targets without 64-bit atomics (the emulated powerpc CI).
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

const THREADS: u64 = 64;
const ADDS: u64 = 1_000_000;

fn uses_rseq() -> bool {
    matches!(percpu::mode(), Mode::ConcurrencyId | Mode::CpuId)
}

/// Whether this process was started without rseq on purpose (the CI's second run).
fn rseq_disabled_by_env() -> bool {
    std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.pthread.rseq=0"))
}

fn cpus() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPUs the kernel may bring up (`/sys/devices/system/cpu/possible`, e.g. `0-1`): every
/// shard index is below it, and `reserve_all_cpus` (another test may have called it on a
/// counter in the same chunk) creates that many shards.
fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|list| {
            let last = list.trim().rsplit([',', '-']).next()?;
            last.parse::<usize>().ok().map(|highest| highest + 1)
        })
        .unwrap_or_else(cpus)
        .max(cpus())
}

#[test]
fn the_mode_is_rseq_where_the_platform_has_it_and_per_thread_where_it_was_disabled() {
    let mode = percpu::mode();
    println!("percpu mode: {mode:?}");
    let platform = cfg!(all(
        target_os = "linux",
        target_arch = "x86_64",
        target_env = "gnu",
        not(miri),
        not(shardstat_split64)
    ));
    if rseq_disabled_by_env() || !platform {
        assert!(matches!(mode, Mode::PerThread { .. }), "{mode:?}");
    } else {
        // This machine (glibc 2.36, Linux 6.x) registers rseq for every thread.
        assert!(uses_rseq(), "{mode:?}");
    }
}

#[test]
fn sixty_four_threads_times_a_million_adds_on_two_cpus_are_exact() {
    static PAGES: Counter = Counter::new();
    static BALANCE: UpDownCounter = UpDownCounter::new();
    let restarts = percpu::restarts();
    thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for i in 0..ADDS {
                    PAGES.inc();
                    // +t on even steps, −(t−1) on odd ones: the sum per thread is known.
                    if i % 2 == 0 {
                        BALANCE.add(t as i64);
                    } else {
                        BALANCE.sub(t as i64 - 1);
                    }
                }
            });
        }
    });
    assert_eq!(PAGES.get(), THREADS * ADDS);
    assert_eq!(BALANCE.get(), (THREADS * ADDS / 2) as i64);
    println!(
        "{:?}: {} adds exact over {} shards, {} restarts",
        percpu::mode(),
        2 * THREADS * ADDS,
        PAGES.shards(),
        percpu::restarts() - restarts,
    );
}

/// The negative control: the same per-CPU add as a plain load and store, without the
/// restartable sequence. A thread preempted between its load and its store writes back a
/// stale sum, erasing the adds other threads made meanwhile on that CPU. If this test ever
/// stops losing counts, the stress test above proves nothing.
#[test]
fn the_same_add_without_a_restartable_sequence_loses_counts() {
    if !uses_rseq() {
        println!("no rseq ({:?}): nothing to control", percpu::mode());
        return;
    }
    // A preemption lands between the load and the store often enough that one round
    // loses millions; a few rounds make a round without any loss (never seen) harmless.
    for round in 1..=5 {
        let racy = Counter::new();
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for _ in 0..ADDS {
                        shardstat::__private::percpu::unrestartable_add(&racy, 1);
                    }
                });
            }
        });
        let lost = THREADS * ADDS - racy.get();
        println!("round {round}: {lost} of {} adds lost", THREADS * ADDS);
        if lost > 0 {
            return;
        }
    }
    panic!(
        "the add without a restartable sequence never lost a count: the stress test cannot fail"
    );
}

#[test]
fn sixty_four_live_threads_hold_at_most_one_shard_per_cpu() {
    let per_cpu = Counter::new();
    let per_thread = shardstat::Counter::new();
    let all_alive = Barrier::new(THREADS as usize + 1);
    let done = Barrier::new(THREADS as usize + 1);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                per_cpu.inc();
                per_thread.inc();
                all_alive.wait();
                done.wait(); // stay alive while the shards are counted
            });
        }
        all_alive.wait();
        let live_threads = shardstat::engine_stats().live_shards;
        assert!(live_threads >= THREADS as usize, "{live_threads}");
        if uses_rseq() {
            assert!(
                per_cpu.shards() <= possible_cpus(),
                "{} shards for {} CPUs",
                per_cpu.shards(),
                possible_cpus()
            );
        } else {
            assert!(per_cpu.shards() >= THREADS as usize, "one per live thread");
        }
        println!(
            "{:?}: {THREADS} live threads, per-CPU shards {}, per-thread shards {live_threads}",
            percpu::mode(),
            per_cpu.shards()
        );
        done.wait();
    });
    assert_eq!((per_cpu.get(), per_thread.get()), (THREADS, THREADS));
}

#[test]
fn max_and_min_from_sixty_four_threads_are_exact() {
    let max = Max::new();
    let min = Min::new();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (max, min) = (&max, &min);
            s.spawn(move || {
                for i in 0..20_000u64 {
                    // Every thread's values interleave with every other's.
                    let v = 1_000 + (i * 7919 + t * 104_729) % 1_000_000;
                    max.record(v);
                    min.record(v);
                }
            });
        }
    });
    let values = (0..THREADS)
        .flat_map(|t| (0..20_000u64).map(move |i| 1_000 + (i * 7919 + t * 104_729) % 1_000_000));
    assert_eq!(max.get(), values.clone().max().unwrap());
    assert_eq!(min.get(), values.min().unwrap());
    max.reset();
    min.reset();
    assert_eq!(
        (max.get(), min.get()),
        (0, u64::MAX),
        "nothing survives a reset"
    );
    max.record(5);
    min.record(5);
    assert_eq!((max.get(), min.get()), (5, 5));
}

/// Resets racing records: a value whose record returned before a reset began never shows
/// after it, and the extremum always reads a value some record recorded.
///
/// Each value names its recorder and that recorder's sequence number; each recorder
/// publishes how many of its records have started and how many have returned. A record
/// that is still running when a reset begins may land on either side of it, however long
/// ago it started (with split 64-bit words a record can wait out a reset in progress), so
/// only records that had *returned* before the reset are checked.
#[test]
fn records_racing_resets_never_resurrect_a_value_from_before_the_reset() {
    const RECORDERS: usize = 8;
    let max = Max::new();
    let started: [AtomicUsize; RECORDERS] = std::array::from_fn(|_| AtomicUsize::new(0));
    let returned: [AtomicUsize; RECORDERS] = std::array::from_fn(|_| AtomicUsize::new(0));
    let stop = AtomicBool::new(false);
    /// Stops the recorders however the resetting loop ends (a failed assertion must fail
    /// the test, not leave the scope waiting for them forever).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    thread::scope(|s| {
        let _stop_recorders = StopOnDrop(&stop);
        for t in 0..RECORDERS {
            let (max, started, returned, stop) = (&max, &started[t], &returned[t], &stop);
            s.spawn(move || {
                let mut sequence = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    started.store(sequence + 1, Ordering::SeqCst);
                    max.record(((t as u64) << 56) | sequence as u64);
                    returned.store(sequence + 1, Ordering::SeqCst);
                    sequence += 1;
                }
            });
        }
        let total = || {
            returned
                .iter()
                .map(|r| r.load(Ordering::SeqCst))
                .sum::<usize>()
        };
        let mut last_total = 0;
        for round in 0..2_000 {
            // Every round races records: wait until one more has returned since the last.
            while total() == last_total {
                thread::yield_now();
            }
            last_total = total();
            let before: Vec<usize> = returned.iter().map(|r| r.load(Ordering::SeqCst)).collect();
            max.reset();
            let seen = max.get();
            if seen == 0 {
                continue;
            }
            let (t, sequence) = ((seen >> 56) as usize, (seen & ((1 << 56) - 1)) as usize);
            assert!(
                sequence >= before[t],
                "round {round}: recorder {t}'s record {sequence} returned before the reset \
                 (it had returned {} records) and showed after it",
                before[t]
            );
            assert!(
                sequence < started[t].load(Ordering::SeqCst),
                "round {round}: {seen:#x} was never recorded"
            );
        }
    });
}

#[test]
fn set_is_exact_while_sixty_four_threads_add() {
    const BASE: u64 = 1 << 40;
    let c = Counter::new();
    let started = Barrier::new(THREADS as usize + 1);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                started.wait();
                for _ in 0..100_000 {
                    c.inc();
                }
            });
        }
        started.wait();
        c.set(BASE);
        let after_set = c.get();
        assert!(after_set >= BASE, "adds after the set count on top of it");
    });
    let total = c.get();
    // Each concurrent add counts on top of BASE or not at all: never twice, never lost
    // below BASE.
    assert!(
        (BASE..=BASE + THREADS * 100_000).contains(&total),
        "{total} − BASE = {}",
        total.wrapping_sub(BASE)
    );
    c.reset();
    assert_eq!(c.get(), 0);
}

#[test]
fn a_dropped_counters_cells_read_zero_for_the_next_one() {
    for _ in 0..100 {
        let c = Counter::new();
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| c.add(3));
            }
        });
        assert_eq!(c.get(), 12);
        drop(c);
        let next = UpDownCounter::new();
        assert_eq!(next.get(), 0);
        next.dec();
        assert_eq!(next.get(), -1);
    }
}

/// Signals delivered inside the add's section abort it; the add restarts and counts once.
/// Where rseq runs, the signal handler adds to the very counter it interrupted (a per-CPU
/// add is async-signal-safe on a counter whose `reserve_all_cpus()` returned true); without
/// rseq it adds to its own counter (a per-thread shard's load and store are not).
#[cfg(target_os = "linux")]
#[test]
fn signals_inside_the_add_restart_it_and_nothing_is_lost() {
    static COUNTED: Counter = Counter::new();
    static IN_HANDLERS: Counter = Counter::new();
    static HANDLED: AtomicUsize = AtomicUsize::new(0);
    static SAME_COUNTER: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        if SAME_COUNTER.load(Ordering::Relaxed) {
            COUNTED.inc();
        } else {
            IN_HANDLERS.inc();
        }
        HANDLED.fetch_add(1, Ordering::Relaxed);
    }

    SAME_COUNTER.store(uses_rseq(), Ordering::Relaxed);
    // The documented rule: the handler's counter is reserved on every CPU, so no add to it
    // takes the engine's lock that the thread it interrupted may hold.
    assert_eq!(COUNTED.reserve_all_cpus(), uses_rseq());
    // Without rseq nothing can be reserved: the threads' shards the handler may need exist
    // before the first signal (this test's own arrangement, not a rule a program can use).
    let warm = Barrier::new(cpus() * 4);
    thread::scope(|s| {
        for _ in 0..cpus() * 4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    COUNTED.add(0);
                    IN_HANDLERS.add(0);
                }
                warm.wait();
            });
        }
    });
    // SAFETY: installs a handler that only adds to counters whose shards exist and to an
    // atomic; `SA_RESTART` keeps other system calls of the process unaffected.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        assert_eq!(
            libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()),
            0
        );
    }
    const ADDERS: u64 = 4;
    const EACH: u64 = 1_000_000;
    const SIGNALS: u64 = 20_000;
    let total_adds = AtomicUsize::new(0);
    let (added, signalling, release) = (
        AtomicUsize::new(0),
        AtomicBool::new(true),
        AtomicBool::new(false),
    );
    let before = (COUNTED.get(), IN_HANDLERS.get());
    let ids = std::sync::Mutex::new(Vec::new());
    let registered = Barrier::new(ADDERS as usize + 1);
    thread::scope(|s| {
        for _ in 0..ADDERS {
            s.spawn(|| {
                // This thread's first adds take its shard (under the engine's mutex, without
                // rseq) before any signal can come: a handler whose add needed the shard too
                // would wait for the mutex its own thread holds (a hang seen once in CI).
                COUNTED.add(0);
                IN_HANDLERS.add(0);
                // SAFETY: pthread_self has no preconditions.
                ids.lock().unwrap().push(unsafe { libc::pthread_self() });
                registered.wait();
                // At least EACH adds, and on until enough signals have landed (bounded, in
                // case this system delivers few).
                let mut adds = 0;
                while adds < EACH
                    || ((HANDLED.load(Ordering::Relaxed) as u64) < SIGNALS && adds < 50 * EACH)
                {
                    COUNTED.inc();
                    adds += 1;
                }
                total_adds.fetch_add(adds as usize, Ordering::SeqCst);
                added.fetch_add(1, Ordering::SeqCst);
                // Stay alive (and registered for rseq) until no signal can still come.
                while !release.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
            });
        }
        registered.wait();
        let threads = ids.lock().unwrap().clone();
        let signalling = &signalling;
        let signaller = s.spawn(move || {
            while signalling.load(Ordering::SeqCst) {
                for &t in &threads {
                    // SAFETY: every adder is alive until `release`, which is set only after
                    // this thread is joined.
                    unsafe { libc::pthread_kill(t, libc::SIGUSR2) };
                }
            }
        });
        while added.load(Ordering::SeqCst) < ADDERS as usize {
            thread::yield_now();
        }
        signalling.store(false, Ordering::SeqCst);
        signaller.join().unwrap();
        // A signal sent last is delivered as soon as its thread runs; give it the time.
        thread::sleep(std::time::Duration::from_millis(50));
        release.store(true, Ordering::SeqCst);
    });
    let handled = HANDLED.load(Ordering::Relaxed) as u64;
    let (counted, in_handlers) = (COUNTED.get() - before.0, IN_HANDLERS.get() - before.1);
    if uses_rseq() {
        assert_eq!(counted, total_adds.load(Ordering::SeqCst) as u64 + handled);
    } else {
        assert_eq!(
            (counted, in_handlers),
            (total_adds.load(Ordering::SeqCst) as u64, handled)
        );
    }
    println!(
        "{:?}: {handled} signals handled during {} adds; {} restarts so far in this process",
        percpu::mode(),
        total_adds.load(Ordering::SeqCst) as u64,
        percpu::restarts()
    );
}
