//! Loom models of `UpDownCounter`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use shardstat::UpDownCounter;
use shardstat_loom_tests::assert_one_of;

/// Concurrent add and sub on different threads: reads see a subset, the end is exact.
#[test]
fn add_and_sub_on_different_threads() {
    loom::model(|| {
        let c = Arc::new(UpDownCounter::new());
        let up = {
            let c = c.clone();
            thread::spawn(move || c.add(5))
        };
        let down = {
            let c = c.clone();
            thread::spawn(move || {
                let local = c.local();
                local.sub(3);
            })
        };
        assert_one_of(c.get(), &[0, 5, -3, 2], "concurrent read");
        up.join().unwrap();
        down.join().unwrap();
        assert_eq!(c.get(), 2);
    });
}

/// `set` to a negative value racing with a subtract: counted once or not at all.
#[test]
fn set_concurrent_with_sub() {
    loom::model(|| {
        let c = Arc::new(UpDownCounter::new());
        let down = {
            let c = c.clone();
            thread::spawn(move || {
                c.sub(1);
                c.sub(2);
            })
        };
        c.set(-10);
        down.join().unwrap();
        assert_one_of(c.get(), &[-13, -12, -10], "after set and join");
    });
}
