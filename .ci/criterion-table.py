#!/usr/bin/env python3
"""Tables from criterion's saved samples (target/criterion), for docs/performance.md.

  .ci/criterion-table.py read     # ns per read (benches/read.rs), every group
  .ci/criterion-table.py lookup   # ns per first add / add (benches/lookup.rs)
  .ci/criterion-table.py rate_check   # any group-name prefix
  .ci/criterion-table.py --dir target/split-bench/criterion read   # another target dir

Criterion is used only for single-threaded costs (ns per call); the multi-threaded
benchmarks use the thread-timed harness (benches/harness/mod.rs). The estimator is the
same in both: the median, here of criterion's samples (each sample's time divided by its
iterations), printed with the samples' min–max.
"""
import json, os, statistics, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")


def per_iteration(sample_path):
    s = json.load(open(sample_path))
    return [t / n for t, n in zip(s["times"], s["iters"])]


def fmt(ns):
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}" if ns >= 10 else f"{ns:.2f}"


args = sys.argv[1:]
if len(args) == 3 and args[0] == "--dir":
    root, args = args[1], args[2:]
if len(args) != 1:
    sys.exit(__doc__)
prefix = args[0]
if not os.path.isdir(root):
    sys.exit(f"criterion-table: no {root}: run `cargo bench --bench {prefix}` first")
rows = []
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) == "new" and {"sample.json", "benchmark.json"} <= set(files):
        meta = json.load(open(os.path.join(dirpath, "benchmark.json")))
        if meta["full_id"].startswith(prefix) or meta["group_id"].startswith(prefix):
            ns = per_iteration(os.path.join(dirpath, "sample.json"))
            rows.append((meta["full_id"], statistics.median(ns), min(ns), max(ns)))
if not rows:
    sys.exit(f"criterion-table: no saved benchmark starts with {prefix!r}")
print("| benchmark | ns: median (min–max) of the samples |")
print("|---|---:|")
for full_id, med, lo, hi in sorted(rows):
    print(f"| {full_id} | {fmt(med)} ({fmt(lo)}–{fmt(hi)}) |")
