"""Parses an OpenMetrics exposition (stdin) with the reference parser, the strict one of the
Python `prometheus_client` package, and prints its samples as JSON lines:
`[family, type, sample_name, {labels}, value]`. Exits 1, printing the parser's error, if it
rejects the text. Used by `tests/exposition.rs`; `.ci/om-parser.sh` installs the package."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

text = sys.stdin.read()
try:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            print(json.dumps([family.name, family.type, s.name, s.labels, s.value]))
except Exception as e:  # the parser raises ValueError (and others) on invalid input
    print(f"rejected: {e!r}", file=sys.stderr)
    sys.exit(1)
