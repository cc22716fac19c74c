//! Property tests: random sequences of operations from several threads, checked against a
//! sequential model after every phase.
//!
//! A phase runs 1–3 threads, each with its own random list of operations, then one random
//! operation on the main thread (a set, a reset, or nothing). Joining the threads orders each
//! phase before the next, so the model is exact: sums wrap like `wrapping_add`, `Max`/`Min`
//! keep the extreme since their last reset, `set`/`reset` replace the value.

use proptest::prelude::*;
use shardstat::{stats, Counter, Max, Min, UpDownCounter};

stats! {
    /// A group with every sharded kind.
    #[snapshot = GroupSnapshot]
    #[local = GroupLocal]
    pub struct Group {
        /// Moved with `b` in one step.
        pub a: Counter,
        /// Moved with `a` in one step.
        pub b: Counter,
        /// A signed field.
        pub net: UpDownCounter,
        /// The largest step seen.
        pub peak: Max,
        /// The smallest step seen.
        pub low: Min,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(u64),
    AddLocal(u64, u8),
    UpDown(i64),
    RecordMax(u64),
    RecordMin(u64),
    Step(u64, i64),
}

#[derive(Clone, Debug)]
enum MainOp {
    Nothing,
    SetCounter(u64),
    ResetCounter,
    SetUpDown(i64),
    ResetMax,
    ResetMin,
    ResetGroup,
    SetGroupA(u64),
    ResetGroupPeak,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u64>().prop_map(Op::Add),
        (0..1000u64, 1..20u8).prop_map(|(n, k)| Op::AddLocal(n, k)),
        any::<i64>().prop_map(Op::UpDown),
        any::<u64>().prop_map(Op::RecordMax),
        any::<u64>().prop_map(Op::RecordMin),
        (0..1u64 << 40, any::<i64>()).prop_map(|(n, d)| Op::Step(n, d)),
    ]
}

fn main_op() -> impl Strategy<Value = MainOp> {
    prop_oneof![
        3 => Just(MainOp::Nothing),
        1 => any::<u64>().prop_map(MainOp::SetCounter),
        1 => Just(MainOp::ResetCounter),
        1 => any::<i64>().prop_map(MainOp::SetUpDown),
        1 => Just(MainOp::ResetMax),
        1 => Just(MainOp::ResetMin),
        1 => Just(MainOp::ResetGroup),
        1 => any::<u64>().prop_map(MainOp::SetGroupA),
        1 => Just(MainOp::ResetGroupPeak),
    ]
}

type Phase = (Vec<Vec<Op>>, MainOp);

fn phases() -> impl Strategy<Value = Vec<Phase>> {
    prop::collection::vec(
        (
            prop::collection::vec(prop::collection::vec(op(), 0..30), 1..=3),
            main_op(),
        ),
        1..6,
    )
}

/// The sequential model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Model {
    counter: u64,
    up_down: i64,
    max: u64,
    min: u64,
    group: (u64, u64, i64, u64, u64),
}

struct Real {
    counter: Counter,
    up_down: UpDownCounter,
    max: Max,
    min: Min,
    group: Group,
}

impl Real {
    fn apply(&self, op: &Op) {
        match *op {
            Op::Add(n) => self.counter.add(n),
            Op::AddLocal(n, k) => {
                let local = self.counter.local();
                (0..k).for_each(|_| local.add(n));
            }
            Op::UpDown(n) => self.up_down.add(n),
            Op::RecordMax(v) => self.max.record(v),
            Op::RecordMin(v) => self.min.record(v),
            Op::Step(n, d) => self.group.local().update(|l| {
                l.a.add(n);
                l.net.add(d);
                l.peak.record(n);
                l.low.record(n);
                l.b.add(n);
            }),
        }
    }

    fn read(&self) -> Model {
        let g = self.group.snapshot();
        Model {
            counter: self.counter.get(),
            up_down: self.up_down.get(),
            max: self.max.get(),
            min: self.min.get(),
            group: (g.a, g.b, g.net, g.peak, g.low),
        }
    }
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Add(n) => self.counter = self.counter.wrapping_add(n),
            Op::AddLocal(n, k) => self.counter = self.counter.wrapping_add(n * k as u64),
            Op::UpDown(n) => self.up_down = self.up_down.wrapping_add(n),
            Op::RecordMax(v) => self.max = self.max.max(v),
            Op::RecordMin(v) => self.min = self.min.min(v),
            Op::Step(n, d) => {
                let g = &mut self.group;
                g.0 = g.0.wrapping_add(n);
                g.1 = g.1.wrapping_add(n);
                g.2 = g.2.wrapping_add(d);
                g.3 = g.3.max(n);
                g.4 = g.4.min(n);
            }
        }
    }
}

fn run(phases: Vec<Phase>) -> Result<(), TestCaseError> {
    let real = Real {
        counter: Counter::new(),
        up_down: UpDownCounter::new(),
        max: Max::new(),
        min: Min::new(),
        group: Group::new(),
    };
    let mut model = Model {
        min: u64::MAX,
        group: (0, 0, 0, 0, u64::MAX),
        ..Model::default()
    };
    for (i, (threads, main)) in phases.iter().enumerate() {
        std::thread::scope(|s| {
            for ops in threads {
                let real = &real;
                s.spawn(move || ops.iter().for_each(|op| real.apply(op)));
            }
        });
        threads.iter().flatten().for_each(|op| model.apply(op));
        match *main {
            MainOp::Nothing => {}
            MainOp::SetCounter(v) => {
                real.counter.set(v);
                model.counter = v;
            }
            MainOp::ResetCounter => {
                real.counter.reset();
                model.counter = 0;
            }
            MainOp::SetUpDown(v) => {
                real.up_down.set(v);
                model.up_down = v;
            }
            MainOp::ResetMax => {
                real.max.reset();
                model.max = 0;
            }
            MainOp::ResetMin => {
                real.min.reset();
                model.min = u64::MAX;
            }
            MainOp::ResetGroup => {
                real.group.reset();
                model.group = (0, 0, 0, 0, u64::MAX);
            }
            MainOp::SetGroupA(v) => {
                real.group.a().set(v);
                model.group.0 = v;
            }
            MainOp::ResetGroupPeak => {
                real.group.peak().reset();
                model.group.3 = 0;
            }
        }
        prop_assert_eq!(real.read(), model, "after phase {}", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_operations_match_the_sequential_model(phases in phases()) {
        run(phases)?;
    }
}
