//! `ApproxCounter` and `ApproxUpDownCounter`: property tests against a sequential model
//! (operations from several live threads, one at a time, so that every answer is determined),
//! stress tests of racing limited adds, and the refusals a misuse gets.

use proptest::prelude::*;
use shardstat::{stats, ApproxCounter, ApproxUpDownCounter, Counter};
use std::cmp::Ordering;
use std::sync::mpsc;
use std::thread;

stats! {
    /// Approximate fields beside a plain one.
    #[snapshot = BudgetSnapshot]
    #[local = BudgetLocal]
    pub struct Budget {
        /// Moved with `spent` in steps.
        pub requests: Counter,
        /// Bytes spent.
        pub spent: ApproxCounter<256>,
        /// Bytes free.
        pub free: ApproxUpDownCounter<64>,
    }
}

/// Which counter an operation acts on.
#[derive(Clone, Copy, Debug)]
enum Target {
    Standalone,
    Field,
}

#[derive(Clone, Debug)]
enum Op {
    /// Adds to the unsigned counter.
    Add(u64),
    /// A limited add with the limit at `model + offset`.
    Limited(u64, i64),
    /// A compare with `model + offset`.
    Compare(i64),
    /// Checks `approx ≤ exact ≤ approx + bound`.
    Approx,
    /// Sets the unsigned counter.
    Set(u64),
    /// Adds to the signed counter.
    AddSigned(i64),
    /// A limited add on the signed counter, the maximum at `model + offset`.
    LimitedSigned(u64, i64),
    /// A limited subtract on the signed counter, the minimum at `model + offset`.
    LimitedSub(u64, i64),
    /// A compare on the signed counter with `model + offset`.
    CompareSigned(i64),
    /// Sets the signed counter.
    SetSigned(i64),
    /// Adds through a local handle `k` times.
    AddLocal(u64, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..3000u64;
    let offset = -4000..4000i64;
    prop_oneof![
        n.clone().prop_map(Op::Add),
        (n.clone(), offset.clone()).prop_map(|(n, o)| Op::Limited(n, o)),
        offset.clone().prop_map(Op::Compare),
        Just(Op::Approx),
        (0..100_000u64).prop_map(Op::Set),
        (-3000..3000i64).prop_map(Op::AddSigned),
        (n.clone(), offset.clone()).prop_map(|(n, o)| Op::LimitedSigned(n, o)),
        (n.clone(), offset.clone()).prop_map(|(n, o)| Op::LimitedSub(n, o)),
        offset.prop_map(Op::CompareSigned),
        (-100_000..100_000i64).prop_map(Op::SetSigned),
        (0..300u64, 1..20u8).prop_map(|(n, k)| Op::AddLocal(n, k)),
    ]
}

/// The counters under test: a standalone pair and a group's pair.
struct Real {
    unsigned: ApproxCounter<256>,
    signed: ApproxUpDownCounter<64>,
    group: Budget,
}

/// The sequential model.
#[derive(Default)]
struct Model {
    unsigned: i128,
    signed: i128,
}

/// Applies `op` to `real` on the calling thread and checks every answer against `model`.
fn apply(real: &Real, target: Target, model: &mut Model, op: &Op) -> Result<(), String> {
    macro_rules! check {
        ($cond:expr, $($fmt:tt)*) => {
            if !$cond {
                return Err(format!($($fmt)*));
            }
        };
    }
    let g = &real.group;
    match *op {
        Op::Add(n) => {
            match target {
                Target::Standalone => real.unsigned.add(n),
                Target::Field => g.local().update(|l| {
                    l.requests.inc();
                    l.spent.add(n);
                }),
            }
            model.unsigned += i128::from(n);
        }
        Op::AddLocal(n, k) => {
            match target {
                Target::Standalone => {
                    let local = real.unsigned.local();
                    (0..k).for_each(|_| local.add(n));
                }
                Target::Field => {
                    let local = g.spent().local();
                    (0..k).for_each(|_| local.add(n));
                }
            }
            model.unsigned += i128::from(n) * i128::from(k);
        }
        Op::Limited(n, offset) => {
            let limit = u64::try_from((model.unsigned + i128::from(offset)).max(0)).unwrap();
            let added = match target {
                Target::Standalone => real.unsigned.limited_add(n, limit),
                Target::Field => g.spent().limited_add(n, limit),
            };
            let fits = model.unsigned + i128::from(n) <= i128::from(limit);
            check!(
                added == fits,
                "limited_add({n}, {limit}) = {added} at {}",
                model.unsigned
            );
            if added {
                model.unsigned += i128::from(n);
            }
        }
        Op::Compare(offset) => {
            let v = u64::try_from((model.unsigned + i128::from(offset)).max(0)).unwrap();
            let answer = match target {
                Target::Standalone => real.unsigned.compare(v),
                Target::Field => g.spent().compare(v),
            };
            check!(
                answer == model.unsigned.cmp(&i128::from(v)),
                "compare({v}) = {answer:?} at {}",
                model.unsigned
            );
        }
        Op::Approx => {
            let (a, bound) = match target {
                Target::Standalone => (real.unsigned.approx(), real.unsigned.error_bound()),
                Target::Field => (g.spent().approx(), g.spent().error_bound()),
            };
            let (a, bound) = (i128::from(a), i128::from(bound));
            check!(
                a <= model.unsigned && model.unsigned <= a + bound,
                "approx {a}, bound {bound}, exact {}",
                model.unsigned
            );
            let (s, sb) = match target {
                Target::Standalone => (real.signed.approx(), real.signed.error_bound()),
                Target::Field => (g.free().approx(), g.free().error_bound()),
            };
            let (s, sb) = (i128::from(s), i128::from(sb));
            check!(
                s <= model.signed && model.signed <= s + sb,
                "signed: approx {s}, bound {sb}, exact {}",
                model.signed
            );
        }
        Op::Set(v) => {
            match target {
                Target::Standalone => real.unsigned.set(v),
                Target::Field => g.spent().set(v),
            }
            model.unsigned = i128::from(v);
        }
        Op::AddSigned(n) => {
            match target {
                Target::Standalone => real.signed.add(n),
                Target::Field => g.free().add(n),
            }
            model.signed += i128::from(n);
        }
        Op::LimitedSigned(n, offset) => {
            let max = i64::try_from(model.signed + i128::from(offset)).unwrap();
            let added = match target {
                Target::Standalone => real.signed.limited_add(n, max),
                Target::Field => g.free().limited_add(n, max),
            };
            let fits = model.signed + i128::from(n) <= i128::from(max);
            check!(
                added == fits,
                "signed limited_add({n}, {max}) = {added} at {}",
                model.signed
            );
            if added {
                model.signed += i128::from(n);
            }
        }
        Op::LimitedSub(n, offset) => {
            let min = i64::try_from(model.signed + i128::from(offset)).unwrap();
            let done = match target {
                Target::Standalone => real.signed.limited_sub(n, min),
                Target::Field => g.free().limited_sub(n, min),
            };
            let fits = model.signed - i128::from(n) >= i128::from(min);
            check!(
                done == fits,
                "limited_sub({n}, {min}) = {done} at {}",
                model.signed
            );
            if done {
                model.signed -= i128::from(n);
            }
        }
        Op::CompareSigned(offset) => {
            let v = i64::try_from(model.signed + i128::from(offset)).unwrap();
            let answer = match target {
                Target::Standalone => real.signed.compare(v),
                Target::Field => g.free().compare(v),
            };
            check!(
                answer == model.signed.cmp(&i128::from(v)),
                "signed compare({v}) = {answer:?} at {}",
                model.signed
            );
        }
        Op::SetSigned(v) => {
            match target {
                Target::Standalone => real.signed.set(v),
                Target::Field => g.free().set(v),
            }
            model.signed = i128::from(v);
        }
    }
    // The exact reads agree with the model after every operation.
    let (exact, signed) = match target {
        Target::Standalone => (real.unsigned.get(), real.signed.get()),
        Target::Field => (g.spent().get(), g.free().get()),
    };
    check!(
        i128::from(exact) == model.unsigned,
        "get {exact}, model {}",
        model.unsigned
    );
    check!(
        i128::from(signed) == model.signed,
        "signed get {signed}, model {}",
        model.signed
    );
    Ok(())
}

/// Runs `ops`, each on the thread it names (0–2: three worker threads that live through the
/// whole run, so three shards hold remainders; 3: the main thread), one at a time.
fn run(ops: Vec<(u8, Target, Op)>) -> Result<(), TestCaseError> {
    let real = Real {
        unsigned: ApproxCounter::new(),
        signed: ApproxUpDownCounter::new(),
        group: Budget::new(),
    };
    let mut models = [Model::default(), Model::default()];
    let index = |t: Target| match t {
        Target::Standalone => 0,
        Target::Field => 1,
    };
    thread::scope(|s| {
        type Job = (Target, Op, Model, mpsc::Sender<(Model, Result<(), String>)>);
        let workers: Vec<mpsc::Sender<Job>> = (0..3)
            .map(|_| {
                let (tx, rx) = mpsc::channel::<Job>();
                let real = &real;
                s.spawn(move || {
                    for (target, op, mut model, reply) in rx {
                        let result = apply(real, target, &mut model, &op);
                        reply.send((model, result)).unwrap();
                    }
                });
                tx
            })
            .collect();
        for (thread, target, op) in ops {
            let model = &mut models[index(target)];
            let result = if thread == 3 {
                apply(&real, target, model, &op)
            } else {
                let (tx, rx) = mpsc::channel();
                let taken = std::mem::take(model);
                workers[usize::from(thread)]
                    .send((target, op.clone(), taken, tx))
                    .unwrap();
                let (back, result) = rx.recv().unwrap();
                *model = back;
                result
            };
            if let Err(e) = result {
                return Err(TestCaseError::fail(format!(
                    "{op:?} on thread {thread}: {e}"
                )));
            }
        }
        Ok(())
    })
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![Just(Target::Standalone), Just(Target::Field)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every answer — limited adds and subtracts, compares, approximate reads with their
    /// bound, exact reads — matches a sequential model, for standalone counters and group
    /// fields, with operations spread over four threads' shards.
    #[test]
    fn operations_match_the_sequential_model(
        ops in prop::collection::vec((0..4u8, target(), op()), 1..120)
    ) {
        run(ops)?;
    }
}

/// Threads race limited adds until each is refused: the total never passes the limit, and
/// every refusal was right (no room even at the end, when the total is largest).
#[test]
fn racing_limited_adds_fill_to_the_limit_and_never_past_it() {
    for (limit, batch_is_small) in [(1_000_000u64, true), (5_000_000, false)] {
        let small = ApproxCounter::<64>::new();
        let large = ApproxCounter::<65536>::new();
        let refused: Vec<u64> = thread::scope(|s| {
            let handles: Vec<_> = (0..4u64)
                .map(|t| {
                    let (small, large) = (&small, &large);
                    s.spawn(move || {
                        let mut i = 0u64;
                        loop {
                            let n = 1 + (i * 7919 + t * 31) % 5000;
                            let added = if batch_is_small {
                                small.limited_add(n, limit)
                            } else {
                                large.limited_add(n, limit)
                            };
                            if !added {
                                return n;
                            }
                            i += 1;
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total = if batch_is_small {
            small.get()
        } else {
            large.get()
        };
        assert!(total <= limit, "overshot: {total} > {limit}");
        for n in refused {
            assert!(
                total + n > limit,
                "{n} refused with {total} of {limit} used"
            );
        }
    }
}

/// Threads race limited subtracts down to a floor while others add: never below it.
#[test]
fn racing_limited_subs_never_go_below_the_floor() {
    let free = ApproxUpDownCounter::<128>::new();
    free.set(2_000_000);
    let taken: i64 = thread::scope(|s| {
        let handles: Vec<_> = (0..4i64)
            .map(|t| {
                let free = &free;
                s.spawn(move || {
                    let mut taken = 0;
                    for i in 0..200_000i64 {
                        let n = 1 + (i * 31 + t) % 700;
                        if free.limited_sub(n as u64, 0) {
                            taken += n;
                        }
                    }
                    taken
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(free.get() >= 0);
    assert_eq!(free.get(), 2_000_000 - taken);
}

/// While threads add, `compare` answers as an exact read at some moment during the call:
/// sandwiched between exact reads before and after it.
#[test]
fn compare_under_concurrent_adds_matches_exact_reads_around_it() {
    let c = ApproxCounter::<16>::new();
    let done = std::sync::atomic::AtomicBool::new(false);
    thread::scope(|s| {
        for t in 0..2u64 {
            let (c, done) = (&c, &done);
            s.spawn(move || {
                let mut i = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    c.add(1 + (i + t) % 40);
                    i += 1;
                }
            });
        }
        for round in 0..20_000u64 {
            let before = c.get();
            let v = before + round % 64;
            let answer = c.compare(v);
            let after = c.get();
            assert!(
                (before..=after).any(|x| x.cmp(&v) == answer),
                "compare({v}) = {answer:?} between reads {before} and {after}"
            );
            let a = c.approx();
            assert!(a <= c.get(), "approx {a} above a later exact read");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

/// The approximate value follows `set` and group resets, and the bound covers every shard's
/// remainder, including the shards of threads that exited.
#[test]
fn approx_follows_set_and_reset_and_covers_exited_threads() {
    let c = ApproxCounter::<1024>::new();
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| c.add(1023 + 1023));
        }
    });
    let (a, bound, exact) = (c.approx(), c.error_bound(), c.get());
    assert_eq!(exact, 3 * 2046);
    assert!(a <= exact && exact <= a + bound, "{a} {bound} {exact}");
    c.set(5);
    assert!(c.approx() <= 5 && 5 <= c.approx() + c.error_bound());
    assert_eq!(c.compare(5), Ordering::Equal);
    let budget = Budget::new();
    budget.spent().add(10_000);
    budget.free().add(-10_000);
    budget.reset();
    assert_eq!(budget.snapshot(), BudgetSnapshot::default());
    assert!(budget.spent().approx() == 0 && !budget.spent().exceeds(0));
    assert_eq!(budget.free().compare(0), Ordering::Equal);
}

/// Limited adds and `set` on an approximate field inside the group's `update` would wait
/// for that very update: they panic with a message that says so.
#[test]
fn limited_add_inside_update_panics_with_a_clear_message() {
    let budget = Budget::new();
    for (what, f) in [
        (
            "limited_add",
            &(|b: &Budget| {
                b.spent().limited_add(1, 10);
            }) as &dyn Fn(&Budget),
        ),
        ("set", &|b: &Budget| b.spent().set(3)),
        ("limited_sub", &|b: &Budget| {
            b.free().limited_sub(1, -10);
        }),
    ] {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            budget.local().update(|_| f(&budget));
        }))
        .expect_err(what);
        let message = err
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(
            message.contains("inside its group's update()"),
            "{what}: {message}"
        );
    }
    // The update bracket was closed by the panic: the group still works.
    assert!(budget.spent().limited_add(5, 5));
    assert_eq!(budget.snapshot().spent, 5);
}
