//! Signal handlers that count (issue 22, bug 4).
//!
//! A per-CPU add creates its CPU's cells the first time it runs there, under the engine's
//! mutex and with the allocator. A signal handler that adds while its own thread is inside
//! such a first write deadlocks on that mutex — and a user cannot know when a migration or a
//! new concurrency ID makes one. The documented rule: a handler may add to (or record into)
//! a per-CPU counter whose `reserve_all_cpus()` returned `true`.
//!
//! Each scenario runs in a child process (this test binary again) whose global allocator
//! raises SIGUSR1 on the allocating thread at every zeroed allocation while armed — the
//! engine's blocks are zeroed allocations, made under its mutex — so the handler runs exactly
//! while the interrupted thread holds the engine's mutex:
//! - `reserved`: the handler adds to a reserved counter; the child must finish, with every
//!   handler's add counted (where restartable sequences run: elsewhere nothing can be
//!   reserved, and the rule says so);
//! - `unreserved`, the negative control: the same handler adding to a counter that was never
//!   reserved deadlocks, as documented; the parent asserts the child is stuck, then kills it.
#![cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]

use shardstat::percpu::{self, Mode};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

#[path = "support/child.rs"]
mod child;

const CHILD: &str = "SHARDSTAT_SIGNALS_CHILD";
const TEST_NAME: &str = "a_handler_adding_to_a_reserved_counter_never_waits_for_its_own_thread";

/// Raises SIGUSR1 on the allocating thread before each zeroed allocation, while armed.
struct Trap;

static ARMED: AtomicBool = AtomicBool::new(false);
/// The thread the trap fires on (`pthread_self`), so that other threads allocate freely.
static TRAPPED_THREAD: AtomicUsize = AtomicUsize::new(0);
static TRAPS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to `System` unchanged; only raises a signal first (`raise` is
// async-signal-safe and allocates nothing).
unsafe impl GlobalAlloc for Trap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's obligations are passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `pthread_self` has no preconditions.
        let this_thread = unsafe { libc::pthread_self() } as usize;
        if ARMED.load(SeqCst) && TRAPPED_THREAD.load(SeqCst) == this_thread {
            TRAPS.fetch_add(1, SeqCst);
            // SAFETY: raises a signal whose handler is installed before arming.
            unsafe { libc::raise(libc::SIGUSR1) };
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Trap = Trap;

static IN_HANDLER: percpu::Counter = percpu::Counter::new();
static LARGEST_IN_HANDLER: percpu::Max = percpu::Max::new();
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    let n = HANDLED.fetch_add(1, SeqCst) + 1;
    if n == 1 {
        // The parent waits for this line (`write` is async-signal-safe; `println!` is not).
        let line = b"handler entered\n";
        // SAFETY: writes a static buffer to stdout.
        unsafe { libc::write(1, line.as_ptr().cast(), line.len()) };
    }
    IN_HANDLER.inc();
    LARGEST_IN_HANDLER.record(n);
}

fn child(scenario: &str) {
    let rseq = matches!(percpu::mode(), Mode::ConcurrencyId | Mode::CpuId);
    if scenario == "reserved" {
        assert!(rseq, "the parent runs this scenario only where rseq runs");
        assert!(IN_HANDLER.reserve_all_cpus());
        assert!(LARGEST_IN_HANDLER.reserve_all_cpus());
    }
    // SAFETY: installs the handler above; it touches only atomics and per-CPU counters.
    unsafe {
        libc::signal(
            libc::SIGUSR1,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        TRAPPED_THREAD.store(libc::pthread_self() as usize, SeqCst);
    }
    ARMED.store(true, SeqCst);
    // First writes that carve new blocks under the engines' mutexes: per-CPU counters
    // reaching new chunks (reads take runs without copies, so the write carves a large
    // copy), and this thread's first per-thread writes.
    let many: Vec<percpu::Counter> = (0..5000).map(|_| percpu::Counter::new()).collect();
    for c in &many {
        c.get();
    }
    many[4999].inc();
    let per_thread: Vec<shardstat::Counter> =
        (0..5000).map(|_| shardstat::Counter::new()).collect();
    for c in per_thread.iter().step_by(1000) {
        c.inc();
    }
    ARMED.store(false, SeqCst);
    let traps = TRAPS.load(SeqCst);
    assert!(
        traps >= 2,
        "the trap fired inside the engine's first writes ({traps})"
    );
    assert_eq!(HANDLED.load(SeqCst), traps);
    assert_eq!(IN_HANDLER.get(), traps, "every handler's add counted");
    assert_eq!(LARGEST_IN_HANDLER.get(), traps);
    println!("{scenario}: {traps} handlers ran inside the engine's allocations, all counted");
}

#[test]
fn a_handler_adding_to_a_reserved_counter_never_waits_for_its_own_thread() {
    if let Ok(scenario) = std::env::var(CHILD) {
        return child(&scenario);
    }
    if matches!(percpu::mode(), Mode::ConcurrencyId | Mode::CpuId) {
        let child = child::run(TEST_NAME, &[(CHILD, "reserved")], Duration::from_secs(120));
        println!("{}", child.output);
        assert!(
            child.succeeded(),
            "a handler adding to a reserved counter hung or failed: {:?}",
            child.status
        );
    } else {
        let mode = percpu::mode();
        println!("{mode:?}: nothing can be reserved; only the negative control runs");
    }

    // The negative control: an unreserved counter's first add inside the handler waits for
    // the mutex its own thread holds.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, "unreserved")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let entered = lines.any(|line| line.is_ok_and(|l| l.ends_with("handler entered")));
    assert!(entered, "the trap fired");
    std::thread::sleep(Duration::from_secs(3));
    let status = child.try_wait().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        status.is_none(),
        "the negative control finished ({status:?}): a handler's first add no longer waits for \
         its own thread's lock, and the documented rule can be relaxed"
    );
}
