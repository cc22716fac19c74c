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
        let from_a_thread = std::thread::spawn(|| {
            let c = Counter::new();
            c.inc();
            c.get()
        })
        .join()
        .unwrap();
        fresh.iter().enumerate().all(|(i, c)| c.get() == i as u64)
            && per_cpu.get() == 5
            && max.get() == 9
            && from_a_thread == 1
    });
    // SAFETY: ends the child without running the parent's exit handlers.
    unsafe { libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) }
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
