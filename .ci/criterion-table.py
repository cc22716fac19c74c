#!/usr/bin/env python3
"""Tables from criterion's saved estimates (target/criterion), for docs/performance.md.

  .ci/criterion-table.py add     # M adds/s per implementation and thread count
  .ci/criterion-table.py read    # ns per read
  .ci/criterion-table.py lookup  # ns per first add / add
"""
import json, os, re, sys

root = os.path.join(os.path.dirname(__file__), "..", "target", "criterion")

def estimates(group_dir):
    out = {}
    for bench in sorted(os.listdir(group_dir)):
        path = os.path.join(group_dir, bench)
        for dirpath, _, files in os.walk(path):
            if dirpath.endswith(os.path.join("new")) and "estimates.json" in files and "benchmark.json" in files:
                meta = json.load(open(os.path.join(dirpath, "benchmark.json")))
                est = json.load(open(os.path.join(dirpath, "estimates.json")))
                out[meta["full_id"]] = est["mean"]["point_estimate"]  # ns per iteration
    return out

what = sys.argv[1] if len(sys.argv) > 1 else "add"
if what == "add":
    rows, counts = {}, set()
    for g in os.listdir(root):
        m = re.match(r"add_(\d+)-threads$", g)
        if not m:
            continue
        t = int(m.group(1))
        counts.add(t)
        for full_id, ns in estimates(os.path.join(root, g)).items():
            name = full_id.split("/", 2)[2]
            rows.setdefault(name, {})[t] = t / ns * 1e3  # M adds/s
    counts = sorted(counts)
    print("| implementation | " + " | ".join(f"{t} thr" for t in counts) + " |")
    print("|---|" + "---:|" * len(counts))
    order = ["AtomicU64::fetch_add", "Mutex<u64>", "striped CAS (LongAdder)", "fast-counter",
             "contatori Monotone", "hytra TrAdder", "shardstat Counter::add",
             "shardstat group field add", "shardstat Max::record", "shardstat LocalCounter::add",
             "thread-local Cell, in memory", "thread-local Cell, in a register"]
    for name in order + sorted(set(rows) - set(order)):
        if name in rows:
            print(f"| {name} | " + " | ".join(f"{rows[name].get(t, float('nan')):.0f}" for t in counts) + " |")
else:
    for g in sorted(os.listdir(root)):
        if g.startswith(what):
            for full_id, ns in estimates(os.path.join(root, g)).items():
                print(f"| {full_id} | {ns:.1f} ns |")
