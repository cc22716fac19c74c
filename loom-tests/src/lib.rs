//! Loom models of shardstat's concurrent semantics. The models live in `tests/`, one file
//! per type; run them with `loom-tests/run.sh`. Without `--cfg loom` this crate is empty.
//!
//! Each model uses 2–3 threads and a handful of operations, and states its promise in its
//! assertion. `tests/controls.rs` holds the negative controls: deliberately broken variants
//! ([`controls`], built here from shardstat's internals) that the same models must reject.
#![cfg(loom)]

pub mod controls;

use loom::sync::atomic::{AtomicBool, Ordering};

shardstat::stats! {
    /// Two counters a step keeps equal, and a max: 5 cells with the sequence word (so, under
    /// loom, a run in the engine's second chunk).
    #[snapshot = PairSnapshot]
    #[local = PairLocal]
    pub struct Pair {
        /// Incremented first in each step.
        pub a: shardstat::Counter,
        /// Incremented last in each step.
        pub b: shardstat::Counter,
        /// The largest step number.
        pub last: shardstat::Max,
    }
}

/// Asserts that `value` is one of `allowed`.
#[track_caller]
pub fn assert_one_of<T: PartialEq + std::fmt::Debug>(value: T, allowed: &[T], what: &str) {
    assert!(
        allowed.contains(&value),
        "{what}: read {value:?}, but only {allowed:?} are allowed"
    );
}

/// A one-shot signal between model threads: `raise` happens-before a `wait` that returns.
#[derive(Default)]
pub struct Signal(AtomicBool);

impl Signal {
    /// A signal not yet raised.
    pub fn new() -> Self {
        Self::default()
    }
    /// Raises the signal (Release).
    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Waits until the signal is raised (Acquire), yielding to the model checker meanwhile.
    pub fn wait(&self) {
        while !self.0.load(Ordering::Acquire) {
            loom::thread::yield_now();
        }
    }
}

/// A flag with no synchronization (both sides `Relaxed`): waiting for it orders when a
/// thread runs, but creates no happens-before edge. A model uses it to make the model
/// checker run a thread's step after another thread's, while checking that the step is
/// correct without anything ordering the two.
#[derive(Default)]
pub struct Flag(AtomicBool);

impl Flag {
    /// A flag not yet raised.
    pub fn new() -> Self {
        Self::default()
    }
    /// Raises the flag (Relaxed).
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Waits until the flag is raised (Relaxed), yielding to the model checker meanwhile.
    pub fn wait(&self) {
        while !self.0.load(Ordering::Relaxed) {
            loom::thread::yield_now();
        }
    }
}

/// What the shared counter models need from a counter. `shardstat::Counter` implements it,
/// and so do the negative controls, so that a control runs **the same model** as the real
/// type (see `tests/controls.rs`).
pub trait ModelCounter: Send + Sync + 'static {
    /// An empty counter.
    fn fresh() -> Self;
    /// Adds `n` from the calling thread.
    fn add(&self, n: u64);
    /// The sum.
    fn get(&self) -> u64;
}

/// A counter with `set`.
pub trait ModelSet: ModelCounter {
    /// Makes the counter read `v`.
    fn set(&self, v: u64);
}

/// A counter with a limited add.
pub trait ModelLimited: ModelCounter {
    /// Adds `n` only if the total stays `≤ limit`; whether it added.
    fn limited_add(&self, n: u64, limit: u64) -> bool;
}

impl<const BATCH: u64> ModelCounter for shardstat::ApproxCounter<BATCH> {
    fn fresh() -> Self {
        shardstat::ApproxCounter::new()
    }
    fn add(&self, n: u64) {
        shardstat::ApproxCounter::add(self, n)
    }
    fn get(&self) -> u64 {
        shardstat::ApproxCounter::get(self)
    }
}

impl<const BATCH: u64> ModelLimited for shardstat::ApproxCounter<BATCH> {
    fn limited_add(&self, n: u64, limit: u64) -> bool {
        shardstat::ApproxCounter::limited_add(self, n, limit)
    }
}

/// A counter with `reset`.
pub trait ModelReset: ModelCounter {
    /// Makes the counter read 0.
    fn reset(&self);
}

impl ModelCounter for shardstat::percpu::Counter {
    fn fresh() -> Self {
        shardstat::percpu::Counter::new()
    }
    fn add(&self, n: u64) {
        shardstat::percpu::Counter::add(self, n)
    }
    fn get(&self) -> u64 {
        shardstat::percpu::Counter::get(self)
    }
}

impl ModelSet for shardstat::percpu::Counter {
    fn set(&self, v: u64) {
        shardstat::percpu::Counter::set(self, v)
    }
}

impl ModelReset for shardstat::percpu::Counter {
    fn reset(&self) {
        shardstat::percpu::Counter::reset(self)
    }
}

impl ModelCounter for shardstat::LazyCounter {
    fn fresh() -> Self {
        shardstat::LazyCounter::new()
    }
    fn add(&self, n: u64) {
        shardstat::LazyCounter::add(self, n)
    }
    fn get(&self) -> u64 {
        shardstat::LazyCounter::get(self)
    }
}

impl ModelSet for shardstat::LazyCounter {
    fn set(&self, v: u64) {
        shardstat::LazyCounter::set(self, v)
    }
}

impl ModelCounter for shardstat::Counter {
    fn fresh() -> Self {
        shardstat::Counter::new()
    }
    fn add(&self, n: u64) {
        shardstat::Counter::add(self, n)
    }
    fn get(&self) -> u64 {
        shardstat::Counter::get(self)
    }
}

impl ModelSet for shardstat::Counter {
    fn set(&self, v: u64) {
        shardstat::Counter::set(self, v)
    }
}

impl ModelReset for shardstat::Counter {
    fn reset(&self) {
        shardstat::Counter::reset(self)
    }
}

impl ModelCounter for shardstat::UpDownCounter {
    fn fresh() -> Self {
        shardstat::UpDownCounter::new()
    }
    fn add(&self, n: u64) {
        shardstat::UpDownCounter::add(self, n as i64)
    }
    fn get(&self) -> u64 {
        shardstat::UpDownCounter::get(self) as u64
    }
}

/// The models that the negative controls also run. Each takes the counter type as a
/// parameter; `tests/counter.rs` runs them on `shardstat::Counter`, `tests/controls.rs` on
/// the broken variants.
pub mod models {
    use super::{assert_one_of, Flag, ModelCounter, ModelLimited, ModelReset, ModelSet, Signal};
    use loom::sync::Arc;
    use loom::thread;

    /// Two threads add, the main thread reads after joining: the sum is exact.
    pub fn add_add_then_get_is_exact<C: ModelCounter>() {
        loom::model(|| {
            let c = Arc::new(C::fresh());
            let handles: Vec<_> = [1u64, 10]
                .into_iter()
                .map(|n| {
                    let c = c.clone();
                    thread::spawn(move || {
                        c.add(n);
                        c.add(n);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(c.get(), 22, "adds lost or counted twice");
        });
    }

    /// Three writers — two spawned, then the main thread — the per-CPU emulation puts the
    /// first and the third on one shard, and whichever of them comes second uses the copy
    /// the other created, found through the copy table alone. Exact after the joins.
    pub fn three_writers_two_sharing_a_shard_are_exact<C: ModelCounter>() {
        loom::model(|| {
            let c = Arc::new(C::fresh());
            let writers: Vec<_> = [1u64, 10]
                .into_iter()
                .map(|n| {
                    let c = c.clone();
                    thread::spawn(move || c.add(n))
                })
                .collect();
            c.add(100);
            for w in writers {
                w.join().unwrap();
            }
            assert_eq!(c.get(), 111, "adds lost or counted twice");
        });
    }

    /// The main thread records 2, then 5 and 9 (two more pages) while a spawned thread takes a
    /// snapshot: it sees the first record, the second, or all three — each with its bucket,
    /// count and sum together.
    /// `record` is the record under test (the real one, or the control's).
    pub fn a_histogram_snapshot_never_sees_half_a_record(record: fn(&shardstat::Histogram, u64)) {
        loom::model(move || {
            let h = Arc::new(shardstat::Histogram::new());
            h.record(2); // this thread's header and chunk copies exist before the race
            let reader = {
                let h = h.clone();
                thread::spawn(move || {
                    let snap = h.snapshot();
                    let buckets: u64 = snap.buckets().map(|b| b.count).sum();
                    (snap.count(), snap.sum(), buckets)
                })
            };
            record(&h, 5);
            record(&h, 9);
            assert_one_of(
                reader.join().unwrap(),
                &[(1, 2, 1), (2, 7, 2), (3, 16, 3)],
                "a snapshot saw half a record",
            );
        });
    }

    /// A read concurrent with `set` sees it wholly or not at all: before the set it reads
    /// the old world (1), after it the new (100, then 110 once the post-set add lands). A
    /// read that combined the old base with the add made after the set returned (11) would
    /// be a value the counter never had.
    pub fn get_concurrent_with_set_sees_it_wholly_or_not_at_all<C: ModelSet>() {
        loom::model(|| {
            let c = Arc::new(C::fresh());
            c.add(1);
            let reader = {
                let c = c.clone();
                thread::spawn(move || c.get())
            };
            c.set(100);
            // Spawned after `set` returned, so its add starts after the set.
            let late_writer = {
                let c = c.clone();
                thread::spawn(move || c.add(10))
            };
            assert_one_of(reader.join().unwrap(), &[1, 100, 110], "read during set");
            late_writer.join().unwrap();
            assert_eq!(c.get(), 110);
        });
    }

    /// `reset` of adds that happened-before it leaves exactly 0; an add racing with it
    /// counts or not; an add after it counts.
    pub fn reset_after_adds_that_happened_before_is_exact<C: ModelReset>() {
        loom::model(|| {
            let c = Arc::new(C::fresh());
            let first_done = Arc::new(Signal::new());
            let reset_done = Arc::new(Signal::new());
            let owner = {
                let (c, first_done, reset_done) =
                    (c.clone(), first_done.clone(), reset_done.clone());
                thread::spawn(move || {
                    c.add(1);
                    first_done.raise();
                    c.add(2); // concurrent with the reset
                    reset_done.wait();
                    c.add(4); // after the reset returned
                })
            };
            first_done.wait();
            c.reset();
            reset_done.raise();
            owner.join().unwrap();
            // add(1) happened-before the reset: gone. add(2) raced: counted or not.
            assert_one_of(c.get(), &[4, 6], "after reset");
        });
    }

    /// A counter is dropped after another thread wrote it; the dropping thread clears the
    /// cells in every shard, while the other thread goes on writing a neighbour in the same
    /// chunk. A new counter, created before the drop, is then first written by the
    /// dropping thread — which may give it the dropped one's cells — and after that by the
    /// other thread, which learns of it through nothing but the counter itself (a relaxed
    /// flag only steers the schedule). The new counter must read exactly what was added to
    /// it — never the dropped counter's counts — and the neighbour loses nothing.
    ///
    /// Only the `Release`/`Acquire` pair on the counter's location word orders the clearing
    /// of the other thread's cell before that thread's first load of it: with a relaxed load
    /// there, the other thread can read its stale count.
    pub fn a_reused_run_reads_only_its_own_adds<C: ModelCounter>() {
        loom::model(|| {
            let old = Arc::new(C::fresh());
            let new = Arc::new(C::fresh());
            let neighbour = Arc::new(C::fresh());
            old.add(1);
            neighbour.add(100);
            let dropped = Arc::new(Signal::new());
            let assigned = Arc::new(Flag::new());
            let other = {
                let (old, new, neighbour, dropped, assigned) = (
                    old.clone(),
                    new.clone(),
                    neighbour.clone(),
                    dropped.clone(),
                    assigned.clone(),
                );
                thread::spawn(move || {
                    old.add(2);
                    drop(old);
                    dropped.raise();
                    neighbour.add(100); // beside the cells being cleared
                    assigned.wait();
                    new.add(4);
                })
            };
            dropped.wait();
            drop(old); // the last handle: clears the cells in every shard, frees them
            new.add(8); // takes cells: the freed ones
            assigned.raise();
            other.join().unwrap();
            assert_eq!(
                new.get(),
                12,
                "a new counter showed a dropped counter's counts"
            );
            assert_eq!(neighbour.get(), 200, "the neighbour lost an add");
        });
    }

    /// A counter written by another thread is dropped (its last handle, here, clears every
    /// shard's cells); a new counter then takes its first use here — and so, possibly, the
    /// dropped one's cells — and a reader thread that learns of it through nothing but the
    /// counter itself (a relaxed flag only steers the schedule) reads it. The read must be 0:
    /// only the `Release`/`Acquire` pair on the counter's location word orders the clearing
    /// before the reader's loads of the cells.
    pub fn a_reused_run_reads_zero_to_a_reader<C: ModelCounter>() {
        a_reused_run_reads_zero::<C, C>(C::fresh, |c| {
            let _ = c.get();
        });
    }

    /// [`a_reused_run_reads_zero_to_a_reader`] with the dropped counter an `Old` and the new
    /// one made by `new` and given its run by `first_use` (a read for most counters; a
    /// `LazyCounter` is read without taking one, so its model makes it sharded).
    pub fn a_reused_run_reads_zero<Old: ModelCounter, New: ModelCounter>(
        new: fn() -> New,
        first_use: fn(&New),
    ) {
        loom::model(move || {
            let old = Arc::new(Old::fresh());
            let new = Arc::new(new());
            let written = Arc::new(Signal::new());
            let assigned = Arc::new(Flag::new());
            let writer = {
                let (old, written) = (old.clone(), written.clone());
                thread::spawn(move || {
                    old.add(5);
                    drop(old);
                    written.raise();
                })
            };
            let reader = {
                let (new, assigned) = (new.clone(), assigned.clone());
                thread::spawn(move || {
                    assigned.wait();
                    new.get()
                })
            };
            written.wait();
            drop(old); // the last handle: clears the writer's cell
            first_use(&new); // the new counter takes its run: maybe those cells
            assigned.raise();
            assert_eq!(
                reader.join().unwrap(),
                0,
                "a new counter showed a dropped counter's counts"
            );
            writer.join().unwrap();
        });
    }

    /// One thread per entry of `adds` races `limited_add(n, limit)` on a fresh counter: the
    /// total never passes `limit`, and each refused add had no room (with reads only
    /// growing, no room at the refusal means no room at the end).
    pub fn limited_adds_never_overshoot<C: ModelLimited>(adds: &'static [u64], limit: u64) {
        loom::model(move || {
            let c = Arc::new(C::fresh());
            let threads: Vec<_> = adds
                .iter()
                .map(|&n| {
                    let c = c.clone();
                    thread::spawn(move || (n, c.limited_add(n, limit)))
                })
                .collect();
            let results: Vec<(u64, bool)> =
                threads.into_iter().map(|t| t.join().unwrap()).collect();
            let total = c.get();
            let added: u64 = results.iter().filter(|r| r.1).map(|r| r.0).sum();
            assert_eq!(total, added, "lost or doubled adds: {results:?}");
            assert!(
                total <= limit,
                "the limited adds {results:?} overshot the limit {limit}: {total}"
            );
            for (n, done) in results {
                assert!(
                    done || total + n > limit,
                    "an add of {n} was refused, but the total is {total} of {limit}"
                );
            }
        });
    }

    /// What a range read returns: `(start, end)`, as `i128`.
    pub type RangeRead<C> = fn(&C) -> (i128, i128);

    /// The main thread adds, carrying (from 1, `steps` move the value by whole batches of
    /// 4 and more), while a spawned reader checks `r1 = range(); g = get(); r2 = range()`:
    /// with the value moving one way, a range that holds the exact value at the moment of its
    /// read has `r1.start ≤ g ≤ r2.end` (rising) or `r2.start ≤ g ≤ r1.end` (falling). The
    /// writer is the main thread and the reader spawned (`docs/design.md` §11), so loom puts
    /// the reader's loads inside the carry: after the cell store, before the second word.
    pub fn a_range_holds_exact_reads_while_a_carry_is_in_flight<C: Send + Sync + 'static>(
        fresh: fn() -> C,
        write: fn(&C, i64),
        get: fn(&C) -> i128,
        range: RangeRead<C>,
        steps: &'static [i64],
    ) {
        loom::model(move || {
            let c = Arc::new(fresh());
            write(&c, if steps[0] > 0 { 1 } else { -1 }); // the main thread's shard
            let rising = steps[0] > 0;
            let reader = {
                let c = c.clone();
                thread::spawn(move || {
                    let first = range(&c);
                    let g = get(&c);
                    let second = range(&c);
                    let (low, high) = if rising {
                        (first.0, second.1)
                    } else {
                        (second.0, first.1)
                    };
                    assert!(
                        low <= g && g <= high,
                        "a range missed an exact read: {low} <= {g} <= {high} failed"
                    );
                })
            };
            for &n in steps {
                write(&c, n);
            }
            reader.join().unwrap();
        });
    }

    /// Two limited adds with different limits race: the main thread's `limited(1, 6)` (after
    /// `limited(0, 6)`, which makes 6 the counter's limit and gives the main thread a shard),
    /// and a spawned thread's `limited(6, 100)`, which carries, followed by a `get`. If that
    /// `get` saw 6 — the spawned add done, the main one not yet landed — the main add landed
    /// on a total of 6 and must have been refused (7 > 6): it lands after an add that
    /// completed before it did.
    pub fn limited_adds_with_different_limits_respect_each(
        limited: fn(&shardstat::ApproxCounter<4>, u64, u64) -> bool,
    ) {
        loom::model(move || {
            let c = Arc::new(shardstat::ApproxCounter::<4>::new());
            assert!(limited(&c, 0, 6));
            let other = {
                let c = c.clone();
                thread::spawn(move || {
                    let added = limited(&c, 6, 100);
                    (added, c.get())
                })
            };
            let small = limited(&c, 1, 6);
            let (large, seen) = other.join().unwrap();
            assert!(large, "6 fits under 100 whatever the order");
            assert!(
                !(small && seen == 6),
                "the add of 1 under 6 landed after the total reached 6: {}",
                c.get()
            );
            assert_eq!(c.get(), 6 + u64::from(small));
        });
    }

    /// The main thread adds 2 while one spawned thread raises the counter to 1 (`raise`) and
    /// another reads it twice: the reads never decrease, and the counter ends at 3 (raised
    /// first, then the add on top) or 2 (added first: the raise found 2 and changed
    /// nothing). The `metrics` facade's `absolute`, as `Counter::raise_to`.
    pub fn raising_never_moves_a_counter_backwards(raise: fn(&shardstat::Counter, u64)) {
        loom::model(move || {
            let c = Arc::new(shardstat::Counter::new());
            c.add(0); // the run and the main thread's shard, before the race
            let raiser = {
                let c = c.clone();
                thread::spawn(move || raise(&c, 1))
            };
            let reader = {
                let c = c.clone();
                thread::spawn(move || {
                    let first = c.get();
                    let second = c.get();
                    assert!(
                        first <= second,
                        "the counter went backwards: {first}, then {second}"
                    );
                })
            };
            c.add(2);
            raiser.join().unwrap();
            reader.join().unwrap();
            let end = c.get();
            assert!(
                end == 3 || end == 2,
                "the counter went backwards: raise_to(1) racing add(2) ended at {end}"
            );
        });
    }

    /// Two threads add (1 then 2, and 10 then 20; each first add creates the thread's copy
    /// while the taker walks) while the main thread takes twice (`take`: the drain under
    /// test): the two takes and the read after the joins hold every add exactly once, and
    /// each take is a sum of a prefix of each thread's adds.
    pub fn every_add_is_taken_exactly_once<C: ModelCounter>(take: fn(&C) -> u64) {
        loom::model(move || {
            let c = Arc::new(C::fresh());
            let writers: Vec<_> = [1u64, 10]
                .into_iter()
                .map(|n| {
                    let c = c.clone();
                    thread::spawn(move || {
                        c.add(n);
                        c.add(2 * n);
                    })
                })
                .collect();
            let first = take(&c);
            let second = take(&c);
            for w in writers {
                w.join().unwrap();
            }
            let rest = c.get();
            assert_eq!(
                first + second + rest,
                33,
                "adds lost or counted twice: took {first} and {second}, then read {rest}"
            );
            for taken in [first, second] {
                assert_one_of(taken % 10, &[0, 1, 2, 3], "a take that split an add");
            }
        });
    }

    /// A thread adds 5 and exits while the main thread takes; a thread started after it may
    /// be given its shard and adds 7 on top of it. The take and the read after hold both
    /// adds exactly once.
    pub fn a_take_racing_a_thread_exit_loses_nothing<C: ModelCounter>(take: fn(&C) -> u64) {
        loom::model(move || {
            let c = Arc::new(C::fresh());
            let exiting = {
                let c = c.clone();
                thread::spawn(move || c.add(5))
            };
            let first = take(&c);
            exiting.join().unwrap();
            let next = {
                let c = c.clone();
                thread::spawn(move || c.add(7))
            };
            let second = take(&c);
            next.join().unwrap();
            let rest = c.get();
            assert_eq!(
                first + second + rest,
                12,
                "adds lost or counted twice: took {first} and {second}, then read {rest}"
            );
        });
    }

    /// A take racing a `set(100)` and a thread that adds 1 then 2: each add is counted at
    /// most once — in the take, or after the set, or cancelled by the set — and the take
    /// holds the set's 100 only if the set came first. `(take, read after the joins)` is one
    /// of the pairs a sequential order of set, take and the two adds gives.
    pub fn a_take_racing_a_set_counts_each_add_at_most_once<C: ModelSet>(take: fn(&C) -> u64) {
        loom::model(move || {
            let c = Arc::new(C::fresh());
            let writer = {
                let c = c.clone();
                thread::spawn(move || {
                    c.add(1);
                    c.add(2);
                })
            };
            let taker = {
                let c = c.clone();
                thread::spawn(move || take(&c))
            };
            c.set(100);
            writer.join().unwrap();
            let taken = taker.join().unwrap();
            let rest = c.get();
            assert_one_of(
                (taken, rest),
                &[
                    // The take first: a prefix of the adds; the set cancels what it did not take.
                    (0, 100),
                    (0, 102),
                    (0, 103),
                    (1, 100),
                    (1, 102),
                    (3, 100),
                    // The set first: the take holds 100 and the adds between the two.
                    (100, 3),
                    (101, 2),
                    (103, 0),
                    (100, 2),
                    (102, 0),
                    (100, 0),
                ],
                "a take racing a set",
            );
        });
    }

    /// The main thread records 2, then 5 and 9 (two more pages) while a spawned thread takes
    /// an interval histogram (`take`); the read after the join holds the rest. Each record is
    /// in exactly one of the two, with its bucket, count and sum together.
    pub fn an_interval_histogram_holds_each_record_exactly_once(
        take: fn(&shardstat::Histogram) -> shardstat::HistogramSnapshot,
    ) {
        loom::model(move || {
            let h = Arc::new(shardstat::Histogram::new());
            h.record(2); // this thread's header and chunk copies exist before the race
            let taker = {
                let h = h.clone();
                thread::spawn(move || {
                    let snap = take(&h);
                    let buckets: u64 = snap.buckets().map(|b| b.count).sum();
                    (snap.count(), snap.sum(), buckets)
                })
            };
            h.record(5);
            h.record(9);
            let taken = taker.join().unwrap();
            let rest = h.snapshot();
            let rest = (
                rest.count(),
                rest.sum(),
                rest.buckets().map(|b| b.count).sum(),
            );
            assert_one_of(
                (taken, rest),
                &[
                    ((1, 2, 1), (2, 14, 2)),
                    ((2, 7, 2), (1, 9, 1)),
                    ((3, 16, 3), (0, 0, 0)),
                ],
                "a record lost, split or counted twice",
            );
        });
    }

    /// A `Max` take racing a thread that records 5, then 1: 5 shows in the take or in the
    /// read after it, never in neither; so does 1 (5 covers it). `record` and `take` are
    /// the type's own, or a negative control's.
    pub fn a_max_take_holds_a_racing_record_or_leaves_it(
        record: fn(&shardstat::Max, u64),
        take: fn(&shardstat::Max) -> u64,
    ) {
        loom::model(move || {
            let m = Arc::new(shardstat::Max::new());
            let recorder = {
                let m = m.clone();
                thread::spawn(move || {
                    record(&m, 5);
                    record(&m, 1);
                })
            };
            let taken = take(&m);
            recorder.join().unwrap();
            let rest = m.get();
            assert_one_of(taken, &[0, 1, 5], "take");
            assert!(
                taken == 5 || rest == 5,
                "a record lost from both sides of a take: took {taken}, then read {rest}"
            );
        });
    }

    /// `Max` takes racing a thread's exit and the reuse of its shard: the exiting thread's 5
    /// shows in a take or the read after them, and the next thread's 2 in the second take or
    /// after it.
    pub fn a_max_take_racing_a_thread_exit_loses_nothing(take: fn(&shardstat::Max) -> u64) {
        loom::model(move || {
            let m = Arc::new(shardstat::Max::new());
            let exiting = {
                let m = m.clone();
                thread::spawn(move || m.record(5))
            };
            let first = take(&m);
            exiting.join().unwrap();
            let next = {
                let m = m.clone();
                thread::spawn(move || m.record(2))
            };
            let second = take(&m);
            next.join().unwrap();
            let rest = m.get();
            assert!(
                [first, second, rest].contains(&5) && (second >= 2 || rest >= 2),
                "a record lost from both sides of a take: took {first} and {second}, then read {rest}"
            );
        });
    }
}
