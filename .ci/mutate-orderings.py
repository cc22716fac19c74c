#!/usr/bin/env python3
"""Ordering-mutation check: is every memory ordering in the library load-bearing?

For every atomic access and fence in `src/` (found in the source, so new code is covered with
no list to update), build one *mutant* that weakens it alone:

- each `Ordering::Acquire`, `Release`, `AcqRel` or `SeqCst` token becomes `Relaxed` (an
  `AcqRel` or `SeqCst` also `Acquire` and `Release`);
- each `fence(...)` call is removed;
- each `Release` store whose previous statement is also a store is swapped with it (a value
  store moved after the store that publishes it).

Each mutant runs the loom suite (`loom-tests/`) and, if loom passes, the library's tests
(`cargo test --lib --tests`). A mutant that passes both *survives*. A survivor is acceptable
only if `.ci/mutants-allowed.txt` names it with the `docs/design.md` section that explains
why no model can fail without that ordering (or why the ordering is not needed).

  .ci/mutate-orderings.py                 # every mutant (about half an hour here); prints the table
  .ci/mutate-orderings.py --list          # only list the mutants
  .ci/mutate-orderings.py --sample 4      # a rotating sample (chosen by the commit), for CI
  .ci/mutate-orderings.py --match sharded # mutants whose id contains the text
  .ci/mutate-orderings.py --miri-seeds 64 # also run the litmus tests under Miri, with 64
                                          # seeds, for each mutant that loom and the tests pass

Exit status: 1 if a mutant survives that the allow-list does not name, 0 otherwise. The work
happens in a copy of the repository (target/mutants/), so the checkout is never left mutated.
"""
import argparse, hashlib, os, re, shutil, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WORK = os.path.join(ROOT, "target", "mutants", "tree")
TARGET = os.path.join(ROOT, "target", "mutants", "target")
ALLOWED = os.path.join(ROOT, ".ci", "mutants-allowed.txt")
STRONG = ("Acquire", "Release", "AcqRel", "SeqCst")
TIMEOUT = int(os.environ.get("MUTANT_TIMEOUT", "600"))


def library_lines(path):
    """(line number, text) of the lines that are library code: not comments, not tests."""
    out, in_tests, depth = [], False, 0
    lines = open(path, encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not in_tests and stripped.startswith("#[cfg(test)]"):
            in_tests, depth = True, 0
            continue
        if in_tests:
            depth += line.count("{") - line.count("}")
            if depth <= 0 and "}" in line:
                in_tests = False
            continue
        if stripped.startswith("//"):
            continue
        out.append((i, line))
    return lines, out


def fn_ranges(lines):
    """(name, first line, last line) of every `fn` body, by brace matching (approximate:
    braces in strings and comments are counted too, which this code base does not do)."""
    ranges = []
    for i, line in enumerate(lines):
        m = re.search(r"\bfn\s+(\w+)", line)
        if not m or line.strip().startswith("//"):
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = lines[j].split("//")[0]
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                ranges.append((m.group(1), i, j))
                break
    return ranges


def enclosing_fn(ranges, index):
    """The functions around line `index`, outermost first: `write_locked/drop`."""
    inside = sorted((r for r in ranges if r[1] <= index <= r[2]), key=lambda r: r[1])
    return "/".join(r[0] for r in inside) or "?"


def mutants():
    """Every mutant: (id, file, new file text)."""
    found = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in sorted(files):
            if not name.endswith(".rs") or name == "tests.rs":
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, ROOT)
            lines, code = library_lines(path)
            ranges = fn_ranges(lines)
            seen = {}
            def add(kind, i, new_lines):
                fn = enclosing_fn(ranges, i)
                key = (fn, kind)
                seen[key] = seen.get(key, 0) + 1
                ident = f"{rel}::{fn} #{seen[key]} {kind}"
                found.append((ident, rel, "\n".join(new_lines)))
            for i, line in code:
                # fences: remove the call
                for m in re.finditer(r"\bfence\(Ordering::(\w+)\);", line):
                    new = list(lines)
                    new[i] = line[: m.start()] + line[m.end():]
                    add(f"fence({m.group(1)}) removed", i, new)
                # orderings: weaken each token alone
                for m in re.finditer(r"Ordering::(\w+)", line):
                    strength = m.group(1)
                    if strength not in STRONG:
                        continue
                    if re.search(r"\bfence\(Ordering::" + strength + r"\)", line[max(0, m.start() - 6): m.end() + 1]):
                        continue  # a fence: removed above, never "relaxed" (that panics)
                    weaker = ["Relaxed"] + (["Acquire", "Release"] if strength in ("AcqRel", "SeqCst") else [])
                    for w in weaker:
                        new = list(lines)
                        new[i] = line[: m.start()] + "Ordering::" + w + line[m.end():]
                        add(f"{strength}→{w}", i, new)
                # reorderings: a Release store and the store before it, swapped
                # (an owner's store is `sync::store_owned(cell, value, ordering)`)
                if re.search(r"(\.store\(|\bstore_owned\().*Ordering::Release\)", line):
                    prev = [j for j, l in code if j < i and l.strip()]
                    if prev:
                        j = prev[-1]
                        if re.search(r"\.store\(|\bstore_owned\(", lines[j]) and lines[j].rstrip().endswith(";"):
                            new = list(lines)
                            new[i], new[j] = lines[j], lines[i]
                            add("store moved after the Release store that publishes it", i, new)
    return found


def run(cmd, env=None, timeout=TIMEOUT):
    full = dict(os.environ, CARGO_TARGET_DIR=TARGET, CARGO_TERM_COLOR="never")
    full.update(env or {})
    try:
        p = subprocess.run(cmd, cwd=WORK, env=full, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")


def failing(output):
    names = re.findall(r"^test (\S+)( - should panic)? \.\.\. FAILED", output, re.M)
    # Models first; a negative control that fails (another panic than its own) last.
    names = [n for n, control in names if not control] + [n for n, control in names if control]
    if names:
        return ", ".join(f"`{n}`" for n in names[:3]) + (" …" if len(names) > 3 else "")
    crash = re.search(r"--test (\S+)`.*?\(signal: \d+, (\w+)", output, re.S)
    if crash:
        return f"`{crash.group(1)}` crashed ({crash.group(2)})"
    if "error[" in output or "could not compile" in output:
        return "(does not build)"
    return "(failed)"


def check(ident, rel, text, miri_seeds=0, fail_fast=False):
    original = open(os.path.join(WORK, rel), encoding="utf-8").read()
    open(os.path.join(WORK, rel), "w", encoding="utf-8").write(text)
    try:
        # The split 64-bit atomic (targets without 64-bit atomics) is compiled only with
        # `--cfg shardstat_split64`: its mutants run that build (loom's `split` models, in
        # their own target directories), the others the normal one.
        split = rel.endswith(os.path.join("sync", "split.rs"))
        split_cfg = " --cfg shardstat_split64" if split else ""
        loom_env = {
            "RUSTFLAGS": "--cfg loom -C debug-assertions" + split_cfg,
            "LOOM_MAX_PREEMPTIONS": os.environ.get("LOOM_MAX_PREEMPTIONS", "3"),
        }
        test_env = {}
        if split:
            loom_env["CARGO_TARGET_DIR"] = TARGET + "-loom-split"
            test_env = {"RUSTFLAGS": split_cfg.strip(), "CARGO_TARGET_DIR": TARGET + "-split"}
        only = ["--test", "split"] if split else []
        # The full run lists every model that catches a mutant; a sample only needs one.
        keep_going = [] if fail_fast else ["--no-fail-fast"]
        rc, out = run(["cargo", "test", "--release", *keep_going, "-p",
                       "shardstat-loom-tests", *only, "--", "--test-threads=2"], env=loom_env)
        if rc == "timeout":
            return "loom: timed out (livelock or blow-up)"
        if rc != 0:
            return "loom: " + failing(out)
        rc, out = run(["cargo", "test", "-q", "--lib", "--tests"], env=test_env)
        if rc == "timeout":
            return "tests: timed out"
        if rc != 0:
            return "tests: " + failing(out)
        if miri_seeds:
            miri_env = {"MIRIFLAGS": f"-Zmiri-strict-provenance -Zmiri-many-seeds=0..{miri_seeds}"}
            rc, out = run(["cargo", "+nightly", "miri", "test", "--lib", "litmus"], env=miri_env)
            if rc == "timeout":
                return "miri: timed out"
            if rc != 0:
                return "miri: " + ("data race" if "Data race" in out else failing(out))
        return None
    finally:
        open(os.path.join(WORK, rel), "w", encoding="utf-8").write(original)


def allowed():
    out = {}
    if os.path.exists(ALLOWED):
        for line in open(ALLOWED, encoding="utf-8"):
            line = line.strip()
            if line and not line.startswith("#"):
                ident, _, why = line.partition(" -- ")
                out[ident.strip()] = why.strip()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--sample", type=int, help="run a rotating sample of this many (chosen by the commit)")
    ap.add_argument("--match", default="", help="only mutants whose id contains this text")
    ap.add_argument("--miri-seeds", type=int, default=0,
                    help="also run the litmus tests under Miri with this many seeds")
    args = ap.parse_args()

    all_mutants = [m for m in mutants() if args.match in m[0]]
    ids = [m[0] for m in all_mutants]
    assert len(ids) == len(set(ids)), "mutant ids must be unique"
    if args.list:
        for ident in ids:
            print(ident)
        print(f"{len(ids)} mutants")
        return 0
    chosen = all_mutants
    if args.sample and args.sample < len(all_mutants):
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        start = int(hashlib.sha256(head.encode()).hexdigest(), 16) % len(all_mutants)
        chosen = [all_mutants[(start + k) % len(all_mutants)] for k in range(args.sample)]
        print(f"sample of {len(chosen)} of {len(all_mutants)} mutants, chosen by commit {head[:12]}")

    # A fresh copy of the tree (sources only; the target directory is kept between runs).
    if os.path.exists(WORK):
        shutil.rmtree(WORK)
    ignore = shutil.ignore_patterns("target", ".git")
    shutil.copytree(ROOT, WORK, ignore=ignore)

    ok_list, survivors, started = allowed(), [], time.time()
    print(f"| mutant | caught by |\n|---|---|")
    for ident, rel, text in chosen:
        caught = check(ident, rel, text, args.miri_seeds, fail_fast=bool(args.sample))
        if caught is None:
            why = ok_list.get(ident)
            caught = f"**survives** — allowed: {why}" if why else "**survives** — NOT ALLOWED"
            if not why:
                survivors.append(ident)
        print(f"| `{ident}` | {caught} |", flush=True)
    print(f"\n{len(chosen)} mutants in {time.time() - started:.0f} s; "
          f"{len(survivors)} unexplained survivor(s)")
    for ident in survivors:
        print(f"  SURVIVES: {ident}")
    stale = [i for i in ok_list if i not in ids] if not args.match and not args.sample else []
    for ident in stale:
        print(f"  the allow-list names a mutant that no longer exists: {ident}")
    return 1 if survivors or stale else 0


if __name__ == "__main__":
    sys.exit(main())
