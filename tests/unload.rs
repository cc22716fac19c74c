//! Unloading a library that counted (issue 22, bug 3).
//!
//! After a restartable sequence, a thread's rseq area still pointed at the section's
//! descriptor, which lives in the library's `__rseq_cs` section. Once the library was
//! `dlclose`d, the kernel's next look at that thread (a preemption, a migration, a signal)
//! read an unmapped descriptor and killed the process with SIGSEGV. Each scenario here runs in
//! a child process (this test binary again), which loads `examples/unload_fixture.rs` (a
//! `cdylib`), adds through it, unloads it, gets preempted and signalled, and exits: the parent
//! asserts that it exited normally. One scenario also forks after the unload: the library's
//! `fork` handlers must have gone with it.
//!
//! x86-64 Linux with glibc only: restartable sequences run nowhere else (elsewhere the fixture
//! would count per thread, which glibc keeps loaded until the thread exits).
#![cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]

use std::ffi::CString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

#[path = "support/child.rs"]
mod child;

const CHILD: &str = "SHARDSTAT_UNLOAD_CHILD";
const LIBRARY: &str = "SHARDSTAT_UNLOAD_LIBRARY";
const TEST_NAME: &str = "unloading_a_library_that_counted_leaves_the_process_running";

/// Builds the fixture (the same profile as this test) and returns the shared library's path.
fn build_fixture() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args([
        "build",
        "--example",
        "unload_fixture",
        "--message-format=json",
    ]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let out = build.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building the fixture failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout
        .lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\""))
        .find(|line| line.contains("\"unload_fixture\""))
        .expect("cargo reports the fixture's artifact");
    let start = line.find(".so\"").expect("a shared library");
    let open = line[..start].rfind('"').unwrap();
    PathBuf::from(&line[open + 1..start + 3])
}

#[test]
fn unloading_a_library_that_counted_leaves_the_process_running() {
    if let Ok(mode) = std::env::var(CHILD) {
        return child(&mode, &std::env::var(LIBRARY).unwrap());
    }
    let library = build_fixture();
    let library = library.to_str().unwrap();
    for mode in ["this-thread", "blocked-thread", "per-thread-counter"] {
        let child = child::run(
            TEST_NAME,
            &[(CHILD, mode), (LIBRARY, library)],
            Duration::from_secs(120),
        );
        println!("{mode}: {:?}", child.status);
        assert!(
            child.succeeded(),
            "scenario {mode}: the child exited with {:?} (a SIGSEGV is the kernel reading an \
             unloaded section descriptor):\n{}",
            child.status,
            child.output
        );
    }
}

type Add = extern "C" fn(u64, u32);
type Get = extern "C" fn() -> u64;

/// The library's two functions.
struct Plugin {
    handle: *mut libc::c_void,
    add: Add,
    get: Get,
}

fn load(path: &str) -> Plugin {
    let path = CString::new(path).unwrap();
    // SAFETY: `dlopen` with a NUL-terminated path; the fixture's initialisers only set up
    // Rust's runtime pieces.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!handle.is_null(), "dlopen failed");
    let symbol = |name: &std::ffi::CStr| {
        // SAFETY: `dlsym` on a live handle with a NUL-terminated name.
        let f = unsafe { libc::dlsym(handle, name.as_ptr()) };
        assert!(!f.is_null(), "{name:?} missing");
        f
    };
    // SAFETY: the fixture defines both with exactly these C signatures.
    let (add, get) = unsafe {
        (
            std::mem::transmute::<*mut libc::c_void, Add>(symbol(c"shardstat_fixture_add")),
            std::mem::transmute::<*mut libc::c_void, Get>(symbol(c"shardstat_fixture_get")),
        )
    };
    Plugin { handle, add, get }
}

/// Unloads the library; whether it is gone from the process (glibc keeps a library loaded
/// while a thread holds one of its thread-local destructors).
fn unload(plugin: Plugin, path: &str) -> bool {
    // SAFETY: the handle is live and nothing of the library is used after this.
    assert_eq!(unsafe { libc::dlclose(plugin.handle) }, 0);
    let path = CString::new(path).unwrap();
    // SAFETY: `RTLD_NOLOAD` only looks the library up; it loads nothing.
    let still = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
    if still.is_null() {
        return true;
    }
    // SAFETY: the reference `RTLD_NOLOAD` just took.
    unsafe { libc::dlclose(still) };
    false
}

extern "C" fn on_signal(_: libc::c_int) {}

/// What makes the kernel look at the calling thread's rseq area: being switched out and back
/// (sleeps, yields) and a signal delivered.
fn get_preempted_and_signalled() {
    // SAFETY: installs an empty handler for SIGUSR2, then raises it on this thread.
    unsafe {
        libc::signal(
            libc::SIGUSR2,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::raise(libc::SIGUSR2);
    }
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(1));
        std::thread::yield_now();
    }
}

/// Forks, and waits for the child, which exits at once: the unloaded library's `fork`
/// handlers (the engine installs some when it is loaded) must be gone with it.
fn fork_and_wait() {
    // SAFETY: the child only calls `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}

fn child(mode: &str, path: &str) {
    let plugin = load(path);
    let rseq = matches!(
        shardstat::percpu::mode(),
        shardstat::percpu::Mode::ConcurrencyId | shardstat::percpu::Mode::CpuId
    );
    match mode {
        "this-thread" => {
            (plugin.add)(1, 0);
            assert_eq!((plugin.get)(), 1);
            let gone = unload(plugin, path);
            assert!(
                gone || !rseq,
                "with rseq the library counted with no thread-local"
            );
            get_preempted_and_signalled();
            fork_and_wait();
        }
        "blocked-thread" => {
            let (added, wait_added) = mpsc::channel();
            let (wake, blocked) = mpsc::channel::<()>();
            let add = plugin.add;
            let other = std::thread::spawn(move || {
                add(2, 0);
                added.send(()).unwrap();
                // Blocks in the kernel until woken after the unload; returning to user space
                // is when the kernel looks at this thread's area.
                blocked.recv().unwrap();
                get_preempted_and_signalled();
            });
            wait_added.recv().unwrap();
            (plugin.add)(1, 0);
            assert_eq!((plugin.get)(), 3);
            let gone = unload(plugin, path);
            assert!(gone || !rseq);
            get_preempted_and_signalled();
            wake.send(()).unwrap();
            other.join().unwrap();
        }
        "per-thread-counter" => {
            // The fixture's per-thread counter takes a shard, whose thread-local guard keeps
            // the library loaded until this thread exits: unloading must still be safe.
            let add = plugin.add;
            std::thread::spawn(move || add(5, 1)).join().unwrap();
            (plugin.add)(1, 1);
            assert_eq!((plugin.get)(), 6);
            unload(plugin, path);
            get_preempted_and_signalled();
        }
        other => panic!("unknown scenario {other}"),
    }
    println!("{mode}: survived the unload");
}
