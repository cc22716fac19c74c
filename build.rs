//! One name for one platform predicate. `cfg(shardstat_split_word)` is set where this build's
//! 64-bit cells and words are two 32-bit halves under a sequence count (`src/sync/split.rs`,
//! `docs/design.md` §15): targets without 64-bit atomics, and any build with `--cfg
//! shardstat_split64` (which tests the split word on hardware that has 64-bit atomics). The
//! code names the alias, never the predicate, so the two cannot drift apart.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shardstat_split_word)");
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
}
