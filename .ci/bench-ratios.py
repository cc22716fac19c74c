#!/usr/bin/env python3
"""The ratios docs/performance.md quotes across runs of one sitting, computed from the medians
that .ci/bench-all.sh saved in target/bench-all/ (the ratios within one run are printed by the
benchmark itself): per-CPU against per-thread reads, and split cells against native ones.

  .ci/bench-ratios.py [DIR]     # DIR defaults to target/bench-all
"""
import os, re, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "target", "bench-all")


def number(cell):
    return float(re.match(r"\s*\**([\d,.]+)", cell).group(1).replace(",", ""))


def criterion(name):
    """{benchmark id: median ns} from a .ci/criterion-table.py output."""
    rows = {}
    for line in open(os.path.join(out, name)):
        m = re.match(r"\| (\S.*?) \| ([\d,.]+) \(", line)
        if m:
            rows[m.group(1)] = number(m.group(2))
    return rows


def harness(name, group):
    """{(case, threads): median} from a thread-timed benchmark's output, for one group."""
    rows, counts, inside = {}, [], False
    for line in open(os.path.join(out, name)):
        if line.startswith("### "):
            inside = line.split()[1] == group
        elif inside and line.startswith("| case |"):
            counts = [int(c.split()[0]) for c in line.strip(" |\n").split("|")[1:]]
        elif inside and line.startswith("| ") and not line.startswith("|---"):
            cells = line.strip(" |\n").split(" | ")
            for t, cell in zip(counts, cells[1:]):
                rows[(cells[0], t)] = number(cell)
    return rows


def ratio(label, a, b):
    print(f"- {label}: {a:,.4g} / {b:,.4g} = **{a / b:.2g}×**")


read = criterion("read.txt")
print("per-thread `Counter::get` / `percpu::Counter::get` (ns, same run):")
for t in [2, 8, 64, 256]:
    ratio(f"{t} threads alive", read[f"read/Counter::get/{t}"], read[f"read/percpu::Counter::get/{t}"])

split_read = criterion("split-read.txt")
print("\nsplit cells / native cells, `Counter::get` (ns):")
for t in [1, 64]:
    ratio(f"{t} shard(s)", split_read[f"read/Counter::get/{t}"], read[f"read/Counter::get/{t}"])

native, split = harness("add.txt", "add"), harness("split-add.txt", "add")
print("\nsplit cells / native cells, `Counter::add` (M adds/s):")
for t in [1, 2]:
    ratio(f"{t} thread(s)", split[("shardstat Counter::add", t)], native[("shardstat Counter::add", t)])
