//! A misuse panics at the user's line, not inside shardstat (`#[track_caller]` on every
//! public panicking path, down to the panic): each case below must report this file and the
//! line of the call that was wrong. Its own test binary, because it replaces the process's
//! panic hook.

use shardstat::{stats, ApproxCounter, Counter, Histogram, Max};
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::Mutex;

stats! {
    /// A group to misuse.
    #[snapshot = PairSnapshot]
    #[local = PairLocal]
    pub struct Pair {
        /// A counter field.
        pub count: Counter,
        /// An approximate field.
        pub quota: ApproxCounter<64>,
        /// An extremum field.
        pub worst: Max,
    }
}

static LAST: Mutex<Option<(String, u32)>> = Mutex::new(None);

/// Runs `misuse`, which must panic, and returns where the panic says it happened.
fn panic_location(misuse: impl FnOnce()) -> (String, u32) {
    *LAST.lock().unwrap() = None;
    let result = panic::catch_unwind(AssertUnwindSafe(misuse));
    assert!(result.is_err(), "the misuse did not panic");
    LAST.lock().unwrap().take().expect("the hook saw no panic")
}

/// `(file, line)` of the caller: where the next line's call is.
#[track_caller]
fn here() -> (String, u32) {
    let at = Location::caller();
    (at.file().to_string(), at.line() + 1)
}

#[test]
fn every_misuse_panics_at_the_callers_line() {
    panic::set_hook(Box::new(|info| {
        let at = info.location().unwrap();
        *LAST.lock().unwrap() = Some((at.file().to_string(), at.line()));
    }));
    let pair = Pair::new();
    let local = pair.local();
    let histogram = Histogram::new();
    histogram.record(1);

    let expected = here();
    let got = panic_location(|| {
        let _ = histogram.snapshot().quantile(99.0);
    });
    assert_eq!(
        got,
        (expected.0, expected.1 + 1),
        "Histogram quantile out of range"
    );

    let (file, line) = here();
    let got = panic_location(|| {
        local.update(|_| {
            let _ = pair.snapshot();
        });
    });
    assert_eq!(got, (file, line + 2), "a group snapshot inside update");

    let (file, line) = here();
    let got = panic_location(|| {
        local.update(|_| pair.reset());
    });
    assert_eq!(got, (file, line + 1), "a group reset inside update");

    let (file, line) = here();
    let got = panic_location(|| {
        local.update(|_| pair.count().set(3));
    });
    assert_eq!(got, (file, line + 1), "a field's set inside update");

    let (file, line) = here();
    let got = panic_location(|| {
        local.update(|_| pair.worst().reset());
    });
    assert_eq!(
        got,
        (file, line + 1),
        "an extremum field's reset inside update"
    );

    let (file, line) = here();
    let got = panic_location(|| {
        local.update(|_| pair.quota().limited_add(1, 10));
    });
    assert_eq!(got, (file, line + 1), "a limited add inside update");

    let (file, line) = here();
    let got = panic_location(|| {
        local.update(|_| pair.quota().set(1));
    });
    assert_eq!(
        got,
        (file, line + 1),
        "an approximate field's set inside update"
    );

    static STANDALONE: ApproxCounter = ApproxCounter::new();
    let (file, line) = here();
    let got = panic_location(|| {
        local.update(|_| STANDALONE.limited_add(1, 10));
    });
    assert_eq!(
        got,
        (file, line + 1),
        "a standalone limited add inside update"
    );
    let _ = panic::take_hook();
}
