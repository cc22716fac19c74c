"""Waits until a Prometheus server answers each PromQL query with its expected value: the
polling loop that `.ci/prometheus-e2e.sh`'s Python blocks share (they import it from `.ci/`).
"""
import json, sys, time, urllib.parse, urllib.request


def expect(prom, checks, seconds=90):
    """Queries `http://127.0.0.1:{prom}` for each query of `checks` (query -> expected value)
    until it answers; exits with a message if an answer differs, or if some query has no
    answer after `seconds` (Prometheus stores a scrape some seconds after it starts)."""
    pending = dict(checks)
    deadline = time.time() + seconds
    while pending:
        for query, expected in list(pending.items()):
            url = f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": query})
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    answer = json.loads(r.read().decode())
            except OSError:
                break
            result = answer.get("data", {}).get("result", [])
            if result:
                stored = float(result[0]["value"][1])
                if stored != expected:
                    sys.exit(f"prometheus-e2e: Prometheus says {query} = {stored}, expected {expected}")
                print(f"ok  {query} = {stored:.0f}")
                del pending[query]
        if pending:
            if time.time() > deadline:
                sys.exit(f"prometheus-e2e: Prometheus never answered {sorted(pending)}")
            time.sleep(0.5)
