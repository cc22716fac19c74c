//! The documented semantics, one test (or a few) each. Sizes shrink under Miri, which runs
//! these tests too (`.ci/run`).

use crate::{Counter, Gauge, Max, Min, UpDownCounter};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Barrier;
use std::thread;

/// `n` normally, a small fraction under Miri (which is ~1000x slower).
fn scaled(n: u64) -> u64 {
    if cfg!(miri) {
        (n / 500).max(4)
    } else {
        n
    }
}

const THREADS: u64 = 4;

// ---- 1. exact at rest ----------------------------------------------------------------

#[test]
fn exact_sum_after_join_under_contention() {
    let c = Counter::new();
    let per_thread = scaled(200_000);
    thread::scope(|s| {
        for t in 0..THREADS {
            let c = &c;
            s.spawn(move || {
                for i in 0..per_thread {
                    c.add(t + i % 7);
                }
            });
        }
    });
    let expected: u64 = (0..THREADS)
        .map(|t| (0..per_thread).map(|i| t + i % 7).sum::<u64>())
        .sum();
    assert_eq!(c.get(), expected);
}

#[test]
fn local_handles_and_plain_adds_sum_together() {
    let c = Counter::new();
    let per_thread = scaled(100_000);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let local = c.local();
                for i in 0..per_thread {
                    if i % 2 == 0 {
                        local.inc();
                    } else {
                        c.inc();
                    }
                }
            });
        }
    });
    assert_eq!(c.get(), THREADS * per_thread);
}

#[test]
fn counter_wraps_at_u64_max() {
    let c = Counter::new();
    c.add(u64::MAX);
    c.add(2);
    assert_eq!(c.get(), 1);
    thread::scope(|s| {
        s.spawn(|| c.add(u64::MAX));
    });
    assert_eq!(c.get(), 0);
}

#[test]
fn up_down_counter_is_exact_with_adds_and_subs_on_different_threads() {
    let c = UpDownCounter::new();
    let n = scaled(100_000) as i64;
    thread::scope(|s| {
        s.spawn(|| (0..n).for_each(|_| c.add(3)));
        s.spawn(|| (0..n).for_each(|_| c.sub(2)));
        s.spawn(|| {
            let local = c.local();
            (0..n).for_each(|_| {
                local.inc();
                local.dec();
                local.dec();
            })
        });
    });
    assert_eq!(c.get(), 3 * n - 2 * n - n);
    c.add(i64::MAX);
    c.add(2);
    assert_eq!(c.get(), i64::MIN + 1, "wraps like i64::wrapping_add");
}

#[test]
fn max_and_min_are_exact_after_join() {
    let max = Max::new();
    let min = Min::new();
    assert_eq!(max.get(), 0, "Max of nothing is 0");
    assert_eq!(min.get(), u64::MAX, "Min of nothing is u64::MAX");
    thread::scope(|s| {
        for t in 0..THREADS {
            let (max, min) = (&max, &min);
            s.spawn(move || {
                let (lmax, lmin) = (max.local(), min.local());
                for i in 0..scaled(10_000) {
                    let v = 1_000 + (i * 7919 + t * 104_729) % 50_000;
                    if i % 2 == 0 {
                        lmax.record(v);
                        lmin.record(v);
                    } else {
                        max.record(v);
                        min.record(v);
                    }
                }
            });
        }
    });
    let values = (0..THREADS)
        .flat_map(|t| (0..scaled(10_000)).map(move |i| 1_000 + (i * 7919 + t * 104_729) % 50_000));
    assert_eq!(max.get(), values.clone().max().unwrap());
    assert_eq!(min.get(), values.min().unwrap());
}

// ---- 2. nothing lost, nothing counted twice ------------------------------------------

#[test]
fn exited_threads_counts_stay_in_the_total() {
    let c = Counter::new();
    let rounds = scaled(200);
    for round in 0..rounds {
        // Each thread adds and exits; the next one may be given its shard.
        thread::scope(|s| {
            s.spawn(|| c.add(round + 1));
        });
    }
    assert_eq!(c.get(), rounds * (rounds + 1) / 2);
}

#[test]
fn threads_started_while_a_reader_walks_the_shards() {
    let c = Counter::new();
    let done = AtomicBool::new(false);
    let spawned = scaled(300);
    thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut last = 0;
            let mut reads = 0u64;
            while !done.load(SeqCst) || reads == 0 {
                let now = c.get();
                assert!(now >= last, "read went backwards: {last} then {now}");
                assert!(now <= spawned * 3, "read more than was ever added: {now}");
                last = now;
                reads += 1;
            }
        });
        for _ in 0..spawned {
            thread::scope(|inner| {
                inner.spawn(|| c.add(3));
            });
        }
        done.store(true, SeqCst);
        reader.join().unwrap();
    });
    assert_eq!(c.get(), spawned * 3);
}

#[test]
fn a_panicking_threads_adds_are_kept() {
    let c = Counter::new();
    let max = Max::new();
    let result = thread::scope(|s| {
        s.spawn(|| {
            c.add(41);
            max.record(41);
            c.local().inc();
            panic!("the sender thread dies after adding");
        })
        .join()
    });
    assert!(result.is_err());
    assert_eq!(c.get(), 42);
    assert_eq!(max.get(), 41);
}

// ---- 3. monotone reads ------------------------------------------------------------------

#[test]
fn successive_reads_on_one_thread_never_decrease() {
    let c = Counter::new();
    let max = Max::new();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for i in 0..scaled(200_000) {
                    c.add(1 + i % 3);
                    max.record(i);
                }
            });
        }
        s.spawn(|| {
            let (mut last, mut last_max) = (0, 0);
            while !done.load(SeqCst) {
                let (now, now_max) = (c.get(), max.get());
                assert!(
                    now >= last,
                    "Counter read went backwards: {last} then {now}"
                );
                assert!(now_max >= last_max, "Max read went backwards");
                (last, last_max) = (now, now_max);
            }
        });
        // Stop the reader once both writers are done.
        thread::sleep(std::time::Duration::from_millis(if cfg!(miri) {
            0
        } else {
            20
        }));
        while c.get() < 2 * (0..scaled(200_000)).map(|i| 1 + i % 3).sum::<u64>() {
            thread::yield_now();
        }
        done.store(true, SeqCst);
    });
}

// ---- 4. set / reset ----------------------------------------------------------------------

#[test]
fn set_without_concurrent_adds_is_exact_and_later_adds_count_on_top() {
    let c = Counter::new();
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| c.add(100));
        }
    });
    c.set(7);
    assert_eq!(c.get(), 7);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| c.add(10));
        }
    });
    assert_eq!(c.get(), 7 + THREADS * 10);
    c.reset();
    assert_eq!(c.get(), 0);
    c.inc();
    assert_eq!(c.get(), 1);

    let ud = UpDownCounter::new();
    ud.add(-50);
    ud.set(-3);
    ud.sub(1);
    assert_eq!(ud.get(), -4);
    ud.reset();
    assert_eq!(ud.get(), 0);
}

/// Each of three writers adds `1 << (16 * w)`, so the final value splits into three 16-bit
/// fields, one per writer, below the set value `1 << 56`. A set that counted an add twice, or let a pre-set add reappear
/// (for instance by zeroing shards under a writer's load/store), would push a field past
/// the number of adds the writer made after the barrier, or carry into the next field.
#[test]
fn set_concurrent_with_adds_counts_each_add_once_or_not_at_all() {
    let before = scaled(20_000); // adds per writer before the set (happen-before it)
    let during = scaled(20_000); // adds per writer racing with the set
    assert!(before + during < 1 << 16);
    for round in 0..if cfg!(miri) { 1 } else { 20 } {
        let c = Counter::new();
        let barrier = Barrier::new(4);
        let started_after_set = [const { AtomicUsize::new(0) }; 3];
        let set_returned = AtomicBool::new(false);
        thread::scope(|s| {
            for w in 0..3 {
                let (c, barrier, set_returned) = (&c, &barrier, &set_returned);
                let started_after_set = &started_after_set[w];
                s.spawn(move || {
                    let unit = 1u64 << (16 * w);
                    for _ in 0..before {
                        c.add(unit);
                    }
                    barrier.wait();
                    for _ in 0..during {
                        let after = set_returned.load(SeqCst);
                        c.add(unit);
                        if after {
                            started_after_set.fetch_add(1, SeqCst);
                        }
                    }
                });
            }
            barrier.wait();
            c.set(1 << 56);
            set_returned.store(true, SeqCst);
        });
        let counted = c.get().wrapping_sub(1 << 56);
        for (w, after) in started_after_set.iter().enumerate() {
            let field = (counted >> (16 * w)) & 0xffff;
            let after = after.load(SeqCst) as u64;
            assert!(
                field >= after && field <= during,
                "round {round}: writer {w} counted {field} adds, but made {during} \
                 concurrently with the set, {after} of them after it returned"
            );
        }
        assert!(
            counted < 1 << 48,
            "round {round}: {counted:#x} carries into the set value"
        );
    }
}

/// A writer adds 1s while the main thread sets the counter to huge values; any read must be
/// near one of the set values (a read that combined a new base with cell values older than
/// those the setter cancelled would wrap far away from all of them). The finer promise — a
/// read sees a set wholly or not at all — is model-checked by loom
/// (`get_concurrent_with_set_sees_it_wholly_or_not_at_all`).
#[test]
fn reads_concurrent_with_sets_are_never_torn() {
    let c = Counter::new();
    let done = AtomicBool::new(false);
    let base = 1u64 << 40;
    thread::scope(|s| {
        s.spawn(|| {
            while !done.load(SeqCst) {
                c.inc();
            }
        });
        let reader = s.spawn(|| {
            for _ in 0..scaled(20_000) {
                let v = c.get();
                let near_a_set = v < base || (v % base) < base / 2;
                assert!(near_a_set, "torn read: {v:#x}");
            }
        });
        for k in 1..scaled(2_000) {
            c.set(k * base);
        }
        reader.join().unwrap();
        done.store(true, SeqCst);
    });
}

#[test]
fn max_and_min_reset_retire_every_earlier_value() {
    let max = Max::new();
    let min = Min::new();
    thread::scope(|s| {
        s.spawn(|| {
            max.record(1_000_000);
            min.record(0);
        });
    });
    assert_eq!((max.get(), min.get()), (1_000_000, 0));
    let done = AtomicBool::new(false);
    /// Stops the recorder however the loop below ends (a failed assertion must fail the
    /// test, not leave the scope waiting for the recorder forever).
    struct SetOnDrop<'a>(&'a AtomicBool);
    impl Drop for SetOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    thread::scope(|s| {
        let _stop_recorder = SetOnDrop(&done);
        s.spawn(|| {
            let mut i = 0;
            while !done.load(SeqCst) {
                max.record(i % 100);
                min.record(500 + i % 100);
                i += 1;
            }
        });
        for _ in 0..scaled(5_000) {
            max.reset();
            min.reset();
            let (m, n) = (max.get(), min.get());
            assert!(
                m < 100,
                "a value recorded before the reset showed after it: {m}"
            );
            assert!(
                n >= 500,
                "a value recorded before the reset showed after it: {n}"
            );
        }
    });
    max.reset();
    min.reset();
    assert_eq!((max.get(), min.get()), (0, u64::MAX));
    max.record(3);
    min.record(3);
    assert_eq!((max.get(), min.get()), (3, 3));
}

#[test]
fn a_thread_that_recorded_before_a_reset_starts_afresh_after_it() {
    let max = Max::new();
    let local = max.local();
    local.record(90);
    max.reset();
    assert_eq!(local.shard_value(), 0);
    local.record(10);
    assert_eq!(max.get(), 10, "the shard's old 90 must not come back");
    let min = Min::new();
    min.record(5);
    min.reset();
    min.record(10);
    assert_eq!(min.get(), 10);
}

// ---- 5. the add path writes only the owner's shard ----------------------------------------

#[test]
fn each_thread_writes_only_its_own_shard() {
    let c = Counter::new();
    thread::scope(|s| {
        s.spawn(|| {
            let local = c.local();
            local.add(5);
            assert_eq!(local.shard_value(), 5);
            s.spawn(|| c.local().add(7)).join().unwrap();
            assert_eq!(
                local.shard_value(),
                5,
                "another thread wrote into this shard"
            );
        });
    });
    let mine = c.local();
    let before = mine.shard_value();
    mine.add(3);
    c.set(100);
    assert_eq!(c.get(), 100);
    assert_eq!(
        mine.shard_value(),
        before + 3,
        "set must adjust the base, not write into shards"
    );
}

// ---- the rest of the API ---------------------------------------------------------------

#[test]
fn gauge_holds_a_last_value() {
    let g = Gauge::new();
    g.set(10);
    g.add(5);
    g.sub(3);
    assert_eq!(g.get(), 12);
    assert_eq!(g.fetch_max(20), 12);
    assert_eq!(g.fetch_max(1), 20);
    assert_eq!(Gauge::from(4).get(), 4);
    let g = Gauge::new();
    g.sub(1);
    assert_eq!(g.get(), u64::MAX, "sub wraps below 0");
}

#[test]
fn debug_shows_the_value_and_default_is_empty() {
    let c = Counter::default();
    c.add(42);
    assert_eq!(format!("{c:?}"), "Counter { value: 42 }");
    assert_eq!(
        format!("{:?}", c.local()),
        "LocalCounter { shard_value: 42 }"
    );
    let ud = UpDownCounter::default();
    ud.sub(3);
    assert_eq!(format!("{ud:?}"), "UpDownCounter { value: -3 }");
    assert_eq!(
        format!("{:?}", ud.local()),
        "LocalUpDownCounter { shard_value: -3 }"
    );
    let a = crate::ApproxCounter::<8>::default();
    a.add(42);
    assert_eq!(format!("{a:?}"), "ApproxCounter { value: 42, batch: 8 }");
    assert_eq!(
        format!("{:?}", a.local()),
        "LocalApproxCounter { shard_value: 42 }"
    );
    let ad = crate::ApproxUpDownCounter::<8>::default();
    ad.sub(3);
    assert_eq!(
        format!("{ad:?}"),
        "ApproxUpDownCounter { value: -3, batch: 8 }"
    );
    assert_eq!(
        format!("{:?}", ad.local()),
        "LocalApproxUpDownCounter { shard_value: -3 }"
    );
    crate::stats! {
        #[snapshot = AllSnapshot]
        #[local = AllLocal]
        struct All {
            c: Counter,
            u: UpDownCounter,
            a: crate::ApproxCounter<8>,
            d: crate::ApproxUpDownCounter<8>,
        }
    }
    let all = All::new();
    all.local().update(|l| l.c.add(1));
    all.u().sub(2);
    all.a().add(3);
    all.d().sub(4);
    assert_eq!(format!("{:?}", all.c()), "CounterField { value: 1 }");
    assert_eq!(format!("{:?}", all.u()), "UpDownCounterField { value: -2 }");
    assert_eq!(format!("{:?}", all.a()), "ApproxCounterField { value: 3 }");
    assert_eq!(
        format!("{:?}", all.d()),
        "ApproxUpDownCounterField { value: -4 }"
    );
    let max = Max::default();
    max.record(9);
    assert_eq!(format!("{max:?}"), "Max { value: 9 }");
    assert_eq!(format!("{:?}", max.local()), "LocalMax { shard_value: 9 }");
    let min = Min::default();
    assert_eq!(format!("{min:?}"), format!("Min {{ value: {} }}", u64::MAX));
    min.record(4);
    assert_eq!(format!("{:?}", min.local()), "LocalMin { shard_value: 4 }");
    let g = Gauge::default();
    g.set(7);
    assert_eq!(format!("{g:?}"), "Gauge { value: 7 }");
}

#[test]
fn shared_types_are_send_and_sync_and_fit_in_statics() {
    // The README's claim: every type is `Send + Sync`, `Default` and `Debug`, and has a
    // `const fn new()` (the statics below and in `every_type_fits_in_a_static`).
    fn send_sync<T: Send + Sync + Default + std::fmt::Debug + 'static>() {}
    send_sync::<Counter>();
    send_sync::<UpDownCounter>();
    send_sync::<Max>();
    send_sync::<Min>();
    send_sync::<Gauge>();
    send_sync::<crate::Histogram>();
    send_sync::<crate::ApproxCounter>();
    send_sync::<crate::ApproxUpDownCounter<64>>();
    send_sync::<crate::percpu::Counter>();
    send_sync::<crate::percpu::UpDownCounter>();
    send_sync::<crate::percpu::Max>();
    send_sync::<crate::percpu::Min>();
    send_sync::<crate::migration::MigrationStats>();
    send_sync::<crate::LazyCounter>();
    static L: crate::LazyCounter = crate::LazyCounter::new();
    L.add(2);
    assert_eq!(L.get(), 2);
    static H: crate::Histogram = crate::Histogram::new();
    static A: crate::ApproxCounter = crate::ApproxCounter::new();
    static AU: crate::ApproxUpDownCounter<64> = crate::ApproxUpDownCounter::new();
    static PC: crate::percpu::Counter = crate::percpu::Counter::new();
    static PU: crate::percpu::UpDownCounter = crate::percpu::UpDownCounter::new();
    static PX: crate::percpu::Max = crate::percpu::Max::new();
    static PN: crate::percpu::Min = crate::percpu::Min::new();
    static M: crate::migration::MigrationStats = crate::migration::MigrationStats::new();
    H.record(1);
    A.inc();
    AU.add(-1);
    PC.inc();
    PU.add(-1);
    PX.record(1);
    PN.record(1);
    M.zero_pages().inc();
    assert_eq!(
        (
            H.snapshot().count(),
            A.get(),
            AU.get(),
            PC.get(),
            PU.get(),
            PX.get(),
            PN.get()
        ),
        (1, 1, -1, 1, -1, 1, 1)
    );
    static C: Counter = Counter::new();
    static U: UpDownCounter = UpDownCounter::new();
    static X: Max = Max::new();
    static N: Min = Min::new();
    static G: Gauge = Gauge::new();
    C.inc();
    U.dec();
    X.record(1);
    N.record(1);
    G.set(1);
    assert_eq!(
        (C.get(), U.get(), X.get(), N.get(), G.get()),
        (1, -1, 1, 1, 1)
    );
}

#[test]
fn a_counter_takes_its_cell_at_its_first_use_and_is_small() {
    let c = Counter::new();
    assert_eq!(
        c.sharded().current_location(),
        0,
        "no cell before the first use"
    );
    c.inc();
    assert_ne!(c.sharded().current_location(), 0);
    assert_eq!(c.get(), 1);
    let read_only = Counter::new();
    assert_eq!(read_only.get(), 0);
    assert_ne!(
        read_only.sharded().current_location(),
        0,
        "a read is a use: it takes the run (but no shard writes it)"
    );
    assert_eq!(std::mem::size_of::<Counter>(), 24);
    assert_eq!(std::mem::size_of::<Max>(), 32);
}

// ---- 6. a new counter starts at 0 everywhere ----------------------------------------------

/// One round of: `old` written by this thread, by a thread that exits before the drop and
/// by one that lives on; `old` dropped; `new` (created before, without cells) then written
/// for the first time by this thread, the living thread, and a new thread (which may take
/// the exited thread's shard). `first_write` writes `new` once and returns what the calling
/// thread saw of it just before (its shard value): it must be empty. Counters written on
/// either side of `old` must keep their values through the drop. Returns whether `new` took
/// `old`'s cells (other tests running at the same time may take them first), what each of
/// the three threads saw, and `new`. Nothing asserts inside the threads, so a failing check
/// cannot leave a barrier waiting.
fn drop_and_reuse_round<T: Send + Sync, V: Send>(
    make: impl Fn() -> T,
    location: impl Fn(&T) -> u64,
    write: impl Fn(&T) + Sync,
    first_write: impl Fn(&T) -> V + Sync,
) -> (bool, [V; 3], T) {
    let old = std::sync::Arc::new(make());
    let new = make();
    let below = Counter::new();
    below.inc();
    write(&old);
    let above = Counter::new();
    above.inc();
    thread::scope(|s| s.spawn(|| write(&old)).join().unwrap());
    let old_location = location(&old);
    let step = Barrier::new(2);
    let (reused, seen) = thread::scope(|s| {
        let theirs = old.clone();
        let (new, step, write, first_write) = (&new, &step, &write, &first_write);
        let living = s.spawn(move || {
            write(&theirs);
            drop(theirs);
            step.wait(); // the main thread drops the last handle
            step.wait(); // ... and has written `new`
            let seen = first_write(new);
            step.wait(); // has written `new`
            step.wait(); // stays alive while a new thread writes
            seen
        });
        step.wait();
        drop(old); // the last handle: clears the cells in every shard and frees them
        let main_saw = first_write(new);
        let reused = location(new) == old_location;
        step.wait();
        step.wait();
        // A new thread, while the other two live: it may take the exited thread's shard,
        // which wrote `old` but never `new`.
        let new_thread_saw = s.spawn(move || first_write(new)).join().unwrap();
        step.wait();
        (reused, [main_saw, living.join().unwrap(), new_thread_saw])
    });
    assert_eq!(
        (below.get(), above.get()),
        (1, 1),
        "a neighbour lost its count"
    );
    (reused, seen, new)
}

/// Runs `drop_and_reuse_round` until a round reuses the dropped cells (at most 50 rounds),
/// checking that every thread saw `empty` before its first write, and `check` on `new`.
fn until_reused<T: Send + Sync, V: Send + PartialEq + std::fmt::Debug + Copy>(
    make: impl Fn() -> T,
    location: impl Fn(&T) -> u64,
    write: impl Fn(&T) + Sync,
    first_write: impl Fn(&T) -> V + Sync,
    empty: V,
    check: impl Fn(&T),
) {
    for _ in 0..50 {
        let (reused, seen, new) = drop_and_reuse_round(&make, &location, &write, &first_write);
        assert_eq!(
            seen, [empty; 3],
            "what this thread, a living thread and a new thread saw of a new counter \
             before writing it (reusing the dropped one's cells: {reused})"
        );
        check(&new);
        if reused {
            return;
        }
    }
    panic!("no round reused the dropped counter's cells");
}

#[test]
fn a_counter_on_a_dropped_counters_cells_reads_zero_on_every_thread() {
    until_reused(
        Counter::new,
        |c| c.sharded().current_location(),
        |c| c.add(1000),
        |c| {
            let local = c.local();
            let seen = local.shard_value();
            local.inc();
            seen
        },
        0,
        |c| assert_eq!(c.get(), 3),
    );
    until_reused(
        UpDownCounter::new,
        |c| c.sharded().current_location(),
        |c| c.sub(1000),
        |c| {
            let seen = c.local().shard_value();
            c.dec();
            seen
        },
        0,
        |c| assert_eq!(c.get(), -3),
    );
}

#[test]
fn a_max_or_min_on_a_dropped_ones_cells_is_empty_on_every_thread() {
    until_reused(
        Max::new,
        |m| m.sharded().current_location(),
        |m| m.record(1000),
        |m| {
            let seen = m.local().shard_value();
            m.record(7);
            seen
        },
        0,
        |m| assert_eq!(m.get(), 7),
    );
    until_reused(
        Min::new,
        |m| m.sharded().current_location(),
        |m| m.record(1),
        |m| {
            let seen = m.local().shard_value();
            m.record(7);
            seen
        },
        u64::MAX,
        |m| assert_eq!(m.get(), 7),
    );
}

crate::stats! {
    /// A group with every sharded kind, for the reuse test.
    #[snapshot = MixedSnapshot]
    #[local = MixedLocal]
    struct Mixed {
        count: Counter,
        level: UpDownCounter,
        high: Max,
        low: Min,
    }
}

#[test]
fn a_group_on_a_dropped_groups_cells_starts_empty_on_every_thread() {
    until_reused(
        Mixed::new,
        |g| g.__cells.current_location(),
        |g| {
            g.local().update(|l| {
                l.count.add(1000);
                l.level.sub(1000);
                l.high.record(1000);
                l.low.record(1);
            })
        },
        |g| {
            let local = g.local();
            let seen = (
                local.count.shard_value(),
                local.level.shard_value(),
                local.high.shard_value(),
                local.low.shard_value(),
            );
            local.update(|l| {
                l.count.inc();
                l.level.dec();
                l.high.record(5);
                l.low.record(5);
            });
            seen
        },
        (0, 0, 0, u64::MAX),
        |g| {
            assert_eq!(
                g.snapshot(),
                MixedSnapshot {
                    count: 3,
                    level: -3,
                    high: 5,
                    low: 5
                }
            )
        },
    );
}

#[test]
fn counters_created_and_dropped_in_a_loop_reuse_the_same_cells() {
    let keep = Counter::new();
    keep.inc();
    let mut seen = std::collections::HashSet::new();
    for i in 0..scaled(2_000) {
        let c = Counter::new();
        c.add(i);
        assert_eq!(c.get(), i);
        seen.insert(c.sharded().current_location());
    }
    // Other tests allocate at the same time, so a few different cells may be handed out,
    // but not one per counter.
    assert!(
        seen.len() < 64,
        "{} different cells for 2,000 short-lived counters",
        seen.len()
    );
}

// ---- litmus tests: small races for Miri's weak-memory emulation -------------------------------
//
// Loom cannot produce every reordering the memory model allows (it tracks only the last access
// to each atomic, and lets a relaxed load read an older value only in some schedules). These
// tests race two threads on fresh objects; under Miri (`.ci/miri.sh`, and the ordering-mutation
// check with `-Zmiri-many-seeds`) each run explores another schedule and other store orders, and
// Miri's data-race detector sees a cell read that is not ordered after the cell's zeroing.

/// A snapshot taken after a thread's step, but ordered after it by nothing (a relaxed flag
/// only makes the reader wait), sees the step whole — in particular when its first load of
/// the sequence word reads the step's *closing* store: only that load's `Acquire` then orders
/// the step's cell stores before the snapshot's loads.
#[test]
fn litmus_a_snapshot_after_a_step_sees_it_whole() {
    for _ in 0..scaled(2_000).min(20) {
        let g = Mixed::new();
        let _ = g.snapshot(); // the run is assigned before the race
        let stepped = AtomicBool::new(false);
        thread::scope(|s| {
            s.spawn(|| {
                g.local().update(|l| {
                    l.count.inc();
                    l.level.inc();
                });
                stepped.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            s.spawn(|| {
                while !stepped.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
                let seen = g.snapshot();
                assert_eq!(seen.count as i64, seen.level, "half a step: {seen:?}");
            });
        });
    }
}

/// A reader walks a chunk copy that another thread has just made, with nothing but the copy
/// table's entry between them: the entry's `Release`/`Acquire` pair orders the block's zeroing
/// (a plain write, for Miri's race detector) before the reader's loads.
#[test]
fn litmus_a_new_copy_is_published_before_a_reader_loads_its_cells() {
    for _ in 0..scaled(2_000).min(20) {
        let c = Counter::new();
        let _ = c.get(); // the run is assigned before the race
        thread::scope(|s| {
            s.spawn(|| c.inc());
            s.spawn(|| assert!(c.get() <= 1));
        });
    }
}
