//! Instructions per add, for `valgrind --tool=callgrind` (which counts instructions exactly,
//! whatever else the machine is doing). Runs 1,000,000 adds of one implementation inside
//! `measured_loop`; `.ci/instructions.sh` runs it under callgrind for each implementation
//! and divides.
//!
//! ```text
//! cargo build --release --example instructions
//! valgrind --tool=callgrind --toggle-collect=measured_loop target/release/examples/instructions "hytra TrAdder"
//! ```

#[path = "../benches/harness/mod.rs"]
mod harness;
#[path = "../benches/impls/mod.rs"]
mod impls;

/// The region callgrind counts.
#[no_mangle]
#[inline(never)]
pub fn measured_loop(imp: &dyn impls::Impl, n: u64) {
    imp.run(n);
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let mut all = impls::all(1);
    all.extend(impls::many());
    let Some(imp) = all.iter().find(|i| i.name() == name) else {
        eprintln!("instructions: name one of:");
        for i in &all {
            eprintln!("  {}", i.name());
        }
        std::process::exit(2);
    };
    imp.run(1); // the first add on this thread takes the slow path (cells, shard, chunk): not counted
    measured_loop(&**imp, 1_000_000);
    assert_eq!(imp.total(), 1_000_001);
}
