//! One name for each platform predicate; the code names the alias, never the predicate, so
//! that the places that must agree cannot drift apart.
//!
//! - `shardstat_split_word`: this build's 64-bit cells and words are two 32-bit halves under
//!   a sequence count (`src/sync/split.rs`, `docs/design.md` §15): targets without 64-bit
//!   atomics, and any build with `--cfg shardstat_split64` (which tests the split word on
//!   hardware that has 64-bit atomics).
//! - `shardstat_linux`: Linux's system calls and ELF hooks (`membarrier`, `sysconf`,
//!   `pthread_atfork`, `.init_array`), outside Miri, which runs none of them.
//! - `shardstat_glibc`: glibc's thread-exit hook (`__cxa_thread_atexit_impl`) as well.
//! - `shardstat_x86_64_asm`: x86-64 inline assembly, outside Miri.
//! - `shardstat_rseq_asm`: restartable sequences in x86-64 assembly on glibc's registered
//!   rseq area (`src/sync/rseq.rs`, §13): all three of the above.
//!
//! Miri sets `cfg(miri)` for the crate, and `CARGO_CFG_MIRI` for this script.

fn main() {
    for alias in [
        "shardstat_split_word",
        "shardstat_linux",
        "shardstat_glibc",
        "shardstat_x86_64_asm",
        "shardstat_rseq_asm",
    ] {
        println!("cargo::rustc-check-cfg=cfg({alias})");
    }
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTFLAGS");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    // The target's atomic widths, as `cfg(target_has_atomic = "…")` sees them.
    let has_atomic_64 = std::env::var("CARGO_CFG_TARGET_HAS_ATOMIC")
        .is_ok_and(|widths| widths.split(',').any(|w| w == "64"));
    // `--cfg shardstat_split64`: cargo lists the flags' cfgs as `CARGO_CFG_*`; the encoded
    // flags are checked too, for a cargo that does not.
    let split64 = std::env::var_os("CARGO_CFG_SHARDSTAT_SPLIT64").is_some()
        || std::env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|flags| {
            let flags: Vec<&str> = flags.split('\x1f').collect();
            flags
                .windows(2)
                .any(|w| w == ["--cfg", "shardstat_split64"])
                || flags.contains(&"--cfg=shardstat_split64")
        });
    if !has_atomic_64 || split64 {
        println!("cargo::rustc-cfg=shardstat_split_word");
    }
    let cfg = |name: &str| std::env::var(format!("CARGO_CFG_{name}")).unwrap_or_default();
    let miri = std::env::var_os("CARGO_CFG_MIRI").is_some();
    let linux = cfg("TARGET_OS") == "linux" && !miri;
    let glibc = linux && cfg("TARGET_ENV") == "gnu";
    let x86_64_asm = cfg("TARGET_ARCH") == "x86_64" && !miri;
    for (alias, set) in [
        ("shardstat_linux", linux),
        ("shardstat_glibc", glibc),
        ("shardstat_x86_64_asm", x86_64_asm),
        ("shardstat_rseq_asm", glibc && x86_64_asm),
    ] {
        if set {
            println!("cargo::rustc-cfg={alias}");
        }
    }
}
