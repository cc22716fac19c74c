//! The add paths, compiled as standalone functions so that `.ci/check-add-path.sh` can read
//! their machine code and check that none contains a locked (read-modify-write) instruction.
//! `probe_atomic_fetch_add` is the negative control: it must contain one.
//!
//! Run `.ci/check-add-path.sh` (x86-64) to see the check; running this example only calls
//! each probe once.

use shardstat::{stats, Counter, LocalCounter, LocalMax, Max, Min, UpDownCounter};

stats! {
    /// A two-field group, for the group add paths.
    #[snapshot = PairSnapshot]
    #[local = PairLocal]
    pub struct Pair {
        /// A counter field.
        pub pages: Counter,
        /// Another.
        pub bytes: Counter,
    }
}
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

/// `Counter::add`: the location, the thread's cached chunk, the cell's load, add, store.
#[no_mangle]
#[inline(never)]
pub fn probe_counter_add(c: &Counter, n: u64) {
    c.add(n);
}

/// `ApproxCounter::add`: `Counter::add` plus the carry test (the carry itself is an
/// out-of-line call, once per batch).
#[no_mangle]
#[inline(never)]
pub fn probe_approx_add(c: &shardstat::ApproxCounter<1024>, n: u64) {
    c.add(n);
}

/// `ApproxCounter::limited_add` far from the limit: the bracket, the checks and one store
/// (carrying and exclusive paths are out-of-line calls).
#[no_mangle]
#[inline(never)]
pub fn probe_approx_limited_add(c: &shardstat::ApproxCounter<1024>, n: u64) -> bool {
    c.limited_add(n, 1 << 62)
}

/// `LocalCounter::add`: shard load, add, store.
#[no_mangle]
#[inline(never)]
pub fn probe_local_counter_add(c: &LocalCounter<'_>, n: u64) {
    c.add(n);
}

/// `percpu::Counter::add`: the location, the CPU's index from the rseq area, its copy
/// from the copy table, and the restartable section (index check, load, add, store).
#[no_mangle]
#[inline(never)]
pub fn probe_percpu_add(c: &shardstat::percpu::Counter, n: u64) {
    c.add(n);
}

/// `percpu::Max::record`: the record protocol's one-store sections.
#[no_mangle]
#[inline(never)]
pub fn probe_percpu_max_record(m: &shardstat::percpu::Max, v: u64) {
    m.record(v);
}

/// `Histogram::record`: the page bit test, the header and page lookups, the bracket and
/// three adds (the first record into a page sets its bit out of line).
#[no_mangle]
#[inline(never)]
pub fn probe_histogram_record(h: &shardstat::Histogram, v: u64) {
    h.record(v);
}

/// `UpDownCounter::add`.
#[no_mangle]
#[inline(never)]
pub fn probe_up_down_add(c: &UpDownCounter, n: i64) {
    c.add(n);
}

/// `Max::record` (the first record after a reset is an out-of-line call).
#[no_mangle]
#[inline(never)]
pub fn probe_max_record(m: &Max, v: u64) {
    m.record(v);
}

/// `LocalMax::record`.
#[no_mangle]
#[inline(never)]
pub fn probe_local_max_record(m: &LocalMax<'_>, v: u64) {
    m.record(v);
}

/// `Min::record`.
#[no_mangle]
#[inline(never)]
pub fn probe_min_record(m: &Min, v: u64) {
    m.record(v);
}

/// A group field's add (`group.field().add(n)`).
#[no_mangle]
#[inline(never)]
pub fn probe_group_field_add(g: &Pair, n: u64) {
    g.bytes().add(n);
}

/// A consistent two-field step through a group's local handle: the sequence-count bracket
/// is plain stores too.
#[no_mangle]
#[inline(never)]
pub fn probe_group_update(l: &PairLocal<'_>, n: u64) {
    l.update(|l| {
        l.pages.inc();
        l.bytes.add(n);
    });
}

/// The negative control: one shared atomic's `fetch_add` is a `lock xadd`.
#[no_mangle]
#[inline(never)]
pub fn probe_atomic_fetch_add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

fn main() {
    let (c, u, m, n, a) = (
        Counter::new(),
        UpDownCounter::new(),
        Max::new(),
        Min::new(),
        AtomicU64::new(0),
    );
    probe_counter_add(black_box(&c), 1);
    let approx = shardstat::ApproxCounter::<1024>::new();
    probe_approx_add(black_box(&approx), 1);
    assert!(probe_approx_limited_add(black_box(&approx), 1));
    assert_eq!(approx.get(), 2);
    assert_eq!(
        probe_approx_compare(black_box(&approx), 1 << 40),
        std::cmp::Ordering::Less
    );
    probe_local_counter_add(black_box(&c.local()), 1);
    probe_up_down_add(black_box(&u), -1);
    let (pc, pm) = (
        shardstat::percpu::Counter::new(),
        shardstat::percpu::Max::new(),
    );
    probe_percpu_add(black_box(&pc), 5);
    probe_percpu_max_record(black_box(&pm), 9);
    assert_eq!((pc.get(), pm.get()), (5, 9));
    let h = shardstat::Histogram::new();
    probe_histogram_record(black_box(&h), 4096);
    assert_eq!(h.snapshot().count(), 1);
    probe_max_record(black_box(&m), 7);
    probe_local_max_record(black_box(&m.local()), 8);
    probe_min_record(black_box(&n), 3);
    probe_atomic_fetch_add(black_box(&a), 1);
    let pair = Pair::new();
    probe_group_field_add(black_box(&pair), 4096);
    probe_group_update(black_box(&pair.local()), 4096);
    println!(
        "counter {}, up-down {}, max {}, min {}, atomic {}, group {:?}",
        c.get(),
        u.get(),
        m.get(),
        n.get(),
        a.load(Ordering::Relaxed),
        pair.snapshot()
    );
}

/// `ApproxCounter::compare` far from the value (not a write path; read here for its cost).
#[no_mangle]
#[inline(never)]
pub fn probe_approx_compare(c: &shardstat::ApproxCounter<1024>, v: u64) -> std::cmp::Ordering {
    c.compare(v)
}

/// `percpu::Counter::get` (a read, not a write path; here for its machine code).
#[no_mangle]
#[inline(never)]
pub fn probe_percpu_get(c: &shardstat::percpu::Counter) -> u64 {
    c.get()
}
