//! Loom models of shardstat's concurrent semantics live in `tests/`; run them with
//! `loom-tests/run.sh`. Without `--cfg loom` this crate is empty.
