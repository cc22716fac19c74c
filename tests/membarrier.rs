//! A thread whose seccomp filter refuses `membarrier(2)` (issue 23).
//!
//! The approximate counters' exclusive sections order themselves against other threads'
//! lock-free limited adds with `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, registered
//! once per process. A seccomp filter is per thread: a thread with one of its own can be
//! refused the call after another thread registered it. Nothing can order the other
//! threads' adds after the fact, so that thread's exclusive section stops with a message
//! naming the cause and the way out, `SHARDSTAT_MEMBARRIER=off` (full fences on both
//! sides), under which the same thread works. Each scenario runs in a child process (this
//! binary again): the membarrier state is process-wide.
#![cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]

use shardstat::ApproxCounter;
use std::time::Duration;

#[path = "support/child.rs"]
mod child;

const CHILD: &str = "SHARDSTAT_MEMBARRIER_CHILD";
const TEST_NAME: &str = "a_thread_refused_membarrier_stops_with_a_message_or_works_with_fences";

/// Installs, on the calling thread only, a seccomp filter that makes `membarrier` fail with
/// `EPERM` and allows every other system call.
fn refuse_membarrier_on_this_thread() {
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    let filter = [
        // Load the system call number (`seccomp_data.nr`, offset 0).
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_membarrier as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ALLOW,
        },
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prctl` with these commands only sets this thread's no-new-privileges bit and
    // installs the filter program, which the kernel copies before returning.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program),
            0,
            "seccomp filter refused"
        );
    }
}

fn child() {
    static QUOTA: ApproxCounter<64> = ApproxCounter::new();
    // This thread registers the process (a `set` is an exclusive section).
    QUOTA.set(0);
    std::thread::scope(|s| {
        // Lock-free limited adds on other threads...
        for _ in 0..2 {
            s.spawn(|| while QUOTA.limited_add(1, 100_000) {});
        }
        // ...while a filtered thread runs exclusive sections.
        s.spawn(|| {
            refuse_membarrier_on_this_thread();
            for _ in 0..100 {
                // A limit above the approximate range's top: always the exclusive path.
                assert!(QUOTA.limited_add(0, u64::MAX));
                let _ = QUOTA.compare(50_000);
            }
        });
    });
    assert_eq!(QUOTA.get(), 100_000, "filled to the limit, never past it");
    println!("filled to the limit");
}

#[test]
fn a_thread_refused_membarrier_stops_with_a_message_or_works_with_fences() {
    if std::env::var(CHILD).is_ok() {
        return child();
    }
    let refused = child::run(TEST_NAME, &[(CHILD, "1")], Duration::from_secs(120));
    assert!(!refused.succeeded(), "{}", refused.output);
    assert!(
        refused.output.contains("SHARDSTAT_MEMBARRIER=off"),
        "the message names the way out:\n{}",
        refused.output
    );
    let fenced = child::run(
        TEST_NAME,
        &[(CHILD, "1"), ("SHARDSTAT_MEMBARRIER", "off")],
        Duration::from_secs(120),
    );
    assert!(fenced.succeeded(), "{}", fenced.output);
    assert!(fenced.output.contains("filled to the limit"));
}
