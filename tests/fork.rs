//! `fork` in a multi-threaded program (issue 22, bug 4).
//!
//! `fork(2)` copies only the forking thread. If another thread held one of the engine's
//! mutexes at that moment (creating a counter, taking a shard, creating a copy), the child
//! inherited it held by a thread that does not exist there, and its first slow path — a new
//! counter, a first write — waited forever. The engine now takes its mutexes before a fork
//! and releases them after it in both processes (as glibc does for `malloc`), so the child
//! may create and write counters. What it cannot finish is a `set`, `reset` or group
//! `update` that *another* thread was inside at the fork (documented in the README).
//!
//! Each child here forks while another thread loops through every slow path, then uses
//! counters of every engine and exits; the parent waits for each with a deadline.
//!
//! The child's own thread is made with `pthread_create`, not `std::thread::spawn`: std's
//! spawn takes a mutex of its own (the stack-overflow handler's thread table, in the new
//! thread's start), which a parent thread that was spawning at the fork leaves held in the
//! child — 3 of 6,000 children hung there, in std, never in the engine. POSIX allows the
//! child of a multi-threaded process only async-signal-safe calls; what this test holds the
//! engine to is its own mutexes, not std's.
//!
//! x86-64 only: CI runs the other targets under QEMU user mode, whose `fork` of a
//! multi-threaded process crashes the emulator in the child.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use shardstat::{percpu, Counter, Max};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const FORKS: usize = 200;

/// What a child does: every slow path of both engines, then exits with 0 if every value is
/// right. Only `_exit`, never unwinding into the parent's test harness.
fn in_child() -> ! {
    let ok = std::panic::catch_unwind(|| {
        let fresh: Vec<Counter> = (0..64).map(|_| Counter::new()).collect();
        for (i, c) in fresh.iter().enumerate() {
            c.add(i as u64);
        }
        let per_cpu = percpu::Counter::new();
        per_cpu.add(5);
        let max = Max::new();
        max.record(9);
        let from_a_thread = on_a_new_thread();
        fresh.iter().enumerate().all(|(i, c)| c.get() == i as u64)
            && per_cpu.get() == 5
            && max.get() == 9
            && from_a_thread == 1
    });
    // SAFETY: ends the child without running the parent's exit handlers.
    unsafe { libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) }
}

/// A thread of the child's own (a new shard there): creates, increments and reads a counter,
/// made with `pthread_create` (see the module docs for why not `std::thread::spawn`).
fn on_a_new_thread() -> u64 {
    extern "C" fn start(result: *mut libc::c_void) -> *mut libc::c_void {
        let c = Counter::new();
        c.inc();
        // SAFETY: `result` is the `u64` that `on_a_new_thread` lends until it has joined.
        unsafe { *result.cast::<u64>() = c.get() };
        std::ptr::null_mut()
    }
    let mut result = 0u64;
    // SAFETY: zeroed memory is a valid `pthread_t` to be written by `pthread_create`.
    let mut thread: libc::pthread_t = unsafe { std::mem::zeroed() };
    // SAFETY: `start` is an `extern "C"` function that only touches `result`, which lives
    // until the join below.
    let created = unsafe {
        libc::pthread_create(
            &mut thread,
            std::ptr::null(),
            start,
            std::ptr::addr_of_mut!(result).cast(),
        )
    };
    assert_eq!(created, 0, "pthread_create");
    // SAFETY: joins the thread created above, once.
    let joined = unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
    assert_eq!(joined, 0, "pthread_join");
    result
}

#[test]
fn a_child_forked_while_another_thread_creates_counters_can_create_and_count() {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Busy threads, in the engines' mutexes most of the time: counters created, given a
        // run and dropped (a run returned), in both engines; new threads (shards) and new
        // chunks (copies) now and then.
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..1000 {
                        Counter::new().get();
                        percpu::Counter::new().get();
                    }
                    let many: Vec<percpu::Counter> =
                        (0..300).map(|_| percpu::Counter::new()).collect();
                    many.iter().for_each(percpu::Counter::inc);
                    std::thread::spawn(|| Counter::new().inc()).join().unwrap();
                }
            });
        }
        let mut hung = 0;
        let mut failed = 0;
        for _ in 0..FORKS {
            // SAFETY: the child only runs `in_child`, which ends in `_exit`.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                in_child();
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut status = 0;
            loop {
                // SAFETY: waits for our own child, without blocking.
                let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if done == pid {
                    let exited = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
                    failed += usize::from(!exited);
                    break;
                }
                if Instant::now() > deadline {
                    hung += 1;
                    // SAFETY: kills and reaps our own stuck child.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut status, 0);
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        stop.store(true, Ordering::Relaxed);
        println!("{FORKS} forks: {hung} children hung, {failed} failed");
        assert_eq!((hung, failed), (0, 0), "every child created and counted");
    });
}
