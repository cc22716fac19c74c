//! Loom models of `Counter`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::Counter;

/// Two threads add, the main thread reads after joining: the sum is exact.
#[test]
fn add_add_then_get_is_exact() {
    loom::model(|| {
        let c = Arc::new(Counter::new());
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
        assert_eq!(c.get(), 22);
    });
}
