#!/usr/bin/env python3
"""Every measured figure the README and the rustdoc quote is one docs/performance.md holds.

A figure is a number with a unit of speed, time or ratio (M/s, G/s, K/s, ns, µs, ×). The
README and the doc comments (`///`, `//!`) of every file under src/ are read; each figure's
number must appear, written the same way (`2,839`, `13.9`), in docs/performance.md — the one
place figures are published, each with its command and machine, mostly in tables whose
header gives the unit — or the check fails and names it. A quoted figure that drifts from
the published one (2,870 where the table says 2,868) fails. A figure that is not a
measurement (an example value, arithmetic) goes on the ALLOWED list below with its reason.

    .ci/check-figures.py            # exit 1 and a list if a figure is quoted but not held
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(M/s|G/s|K/s|ns|µs|×)")

# Figures that are not measurements: (file, figure) -> why.
ALLOWED = {
    ("src/histogram.rs", "0.07×"): "arithmetic (`0.07 × 100`), not a ratio of speeds",
    ("src/engine/heap.rs", "2.5 µs"): "a private module's design note (not in the published "
    "rustdoc): what the rejected design cost when it was measured",
    ("src/engine/table.rs", "22 ns"): "a private module's design note (not in the published "
    "rustdoc): what the rejected design cost when it was measured",
}


def doc_lines(path):
    """The doc-comment lines of a Rust file, with their numbers."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("///") or stripped.startswith("//!"):
            yield number, stripped[3:]


def figures(text):
    for match in FIGURE.finditer(text):
        yield f"{match.group(1)} {match.group(2)}".replace(" ×", "×"), match


NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


def main():
    held = (ROOT / "docs/performance.md").read_text()
    held_numbers = set(NUMBER.findall(held))
    sources = [("README.md", enumerate((ROOT / "README.md").read_text().splitlines(), 1))]
    for path in sorted((ROOT / "src").rglob("*.rs")):
        sources.append((str(path.relative_to(ROOT)), doc_lines(path)))
    missing = []
    checked = 0
    for name, lines in sources:
        for number, text in lines:
            for figure, match in figures(text):
                checked += 1
                if (name, figure) in ALLOWED or match.group(1) in held_numbers:
                    continue
                missing.append(f"{name}:{number}: {figure}")
    if missing:
        print("check-figures: quoted, but not in docs/performance.md (publish it there with")
        print("its command and machine, or quote a figure that is):")
        for line in missing:
            print("  " + line)
        sys.exit(1)
    print(f"check-figures: {checked} figures in the README and the rustdoc, all in docs/performance.md")


if __name__ == "__main__":
    main()
