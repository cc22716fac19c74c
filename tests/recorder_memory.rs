//! The `metrics` recorder's memory per key, measured with a counting global allocator: a
//! key's identity is stored once (in the registry's copy of the key), so a cold counter key
//! costs about what `metrics-util`'s one-atomic storage costs, plus its lazy counter's two
//! words beyond the atomic (`docs/performance.md`, "Memory": 180 bytes against 164).
//!
//! One test function, alone in its own binary, so that no other test allocates while it
//! measures. `cargo test --features metrics --test recorder_memory -- --nocapture` prints the
//! figures.
#![cfg(feature = "metrics")]

use metrics::{Key, Label, Metadata, Recorder};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const KEYS: usize = 10_000;

/// Heap bytes per key that `register` holds for `KEYS` keys, each registered and
/// incremented once by this thread.
fn per_key<R>(make: impl Fn() -> R, register: impl Fn(&R, &Key)) -> f64 {
    let keys: Vec<Key> = (0..KEYS)
        .map(|i| Key::from_parts("requests", vec![Label::new("route", format!("/r{i}"))]))
        .collect();
    // The thread's cache and first chunk, allocated on first use, are not the keys' cost.
    let warm = make();
    register(&warm, &Key::from_name("warm_up"));
    let before = live();
    let recorder = make();
    keys.iter().for_each(|key| register(&recorder, key));
    let bytes = live() - before;
    drop((recorder, warm));
    bytes as f64 / KEYS as f64
}

/// A cold counter key costs at most 24 bytes more than `metrics-util`'s atomic storage: the
/// registry's copy of the key is in both, then the cell (an `Arc` of a `LazyCounter`, 40
/// bytes, against an `Arc<AtomicU64>`, 24) and the thread's cache slots, which the last 256
/// keys fill (a key's clone and a handle each: about 2 bytes per key over 10,000). Before the
/// identity was stored once, a key cost 315 bytes more; the bound fails for a second copy of
/// it.
#[test]
fn a_cold_counter_key_costs_its_registry_entry_and_its_cell() {
    let meta = Metadata::new("memory", metrics::Level::INFO, None);
    let shardstat = per_key(
        || {
            shardstat::metrics::ShardstatRecorder::builder()
                .cardinality_limit(KEYS)
                .expect("a limit above 0")
                .build()
        },
        |r, key| r.register_counter(key, &meta).increment(1),
    );
    let atomic = per_key(
        metrics_util::registry::Registry::<Key, _>::atomic,
        |r, key| {
            r.get_or_create_counter(key, |c| {
                c.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            });
        },
    );
    println!("bytes per counter key: shardstat {shardstat:.1}, metrics-util atomic {atomic:.1}");
    assert!(
        shardstat <= atomic + 24.0,
        "a recorder key holds {shardstat:.1} bytes, the atomic storage's {atomic:.1}: more \
         than its cell's 16 bytes and its share of the thread's cache more"
    );
}
