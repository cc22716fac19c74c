#!/usr/bin/env bash
# The fleet path, proven: a real Prometheus server scrapes the `prometheus` example on
# loopback, and the values it stored (queried through its HTTP API) must equal the counters'
# values. Before that, `promtool check metrics` must accept the exposition.
# Installs Debian's `prometheus` package (server and promtool) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "prometheus-e2e: installing Debian's prometheus package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q prometheus >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q prometheus >/dev/null; }
fi
prometheus --version 2>&1 | head -n 1

features=(--features prometheus-client,metrics)
cargo build --quiet --release "${features[@]}" --example prometheus --example getting_started
example=target/release/examples/prometheus
getting_started=target/release/examples/getting_started

echo "--- promtool check metrics"
"$example" --once | promtool check metrics
echo "promtool: the exposition passes"

echo "--- the strict OpenMetrics parser (the reference one, Python's prometheus_client)"
om_python=$(.ci/om-parser.sh)
"$example" --once --openmetrics | "$om_python" tests/support/om_parse.py >/dev/null
echo "om-parser: the OpenMetrics exposition passes"

work=$(mktemp -d)
app_port=19898
gs_port=19899
prom_port=19090
cleanup() {
    [ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null || true
    [ -n "${gs_pid:-}" ] && kill "$gs_pid" 2>/dev/null || true
    [ -n "${prom_pid:-}" ] && kill "$prom_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$example" --settle --port "$app_port" 2>"$work/app.log" &
app_pid=$!
# The README's getting-started program, as a newcomer runs it (on another port).
"$getting_started" "$gs_port" 2>"$work/gs.log" &
gs_pid=$!
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: shardstat
    static_configs:
      - targets: ["127.0.0.1:$app_port"]
  - job_name: getting_started
    static_configs:
      - targets: ["127.0.0.1:$gs_port"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

echo "--- Prometheus scrapes the example; its stored values must equal the counters'"
python3 - "$app_port" "$prom_port" <<'PY'
import json, re, sys, time, urllib.parse, urllib.request

app, prom = sys.argv[1], sys.argv[2]

def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()

# The counters' values, straight from the example's /metrics.
deadline = time.time() + 60
while True:
    try:
        exposition = get(f"http://127.0.0.1:{app}/metrics")
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("prometheus-e2e: the example never served /metrics")
        time.sleep(0.2)
values = {}
for line in exposition.splitlines():
    if line and not line.startswith("#"):
        series, value = line.rsplit(" ", 1)
        values[series] = float(value)
values['up{job="shardstat"}'] = 1.0  # the scrape must succeed: a rejected one is up == 0

checks = {
    'demo_migration_normal_pages_total{vm="demo"}': 'demo_migration_normal_pages_total{vm="demo"}',
    'demo_migration_zero_pages_total{vm="demo"}': 'demo_migration_zero_pages_total{vm="demo"}',
    'demo_migration_transferred_total{vm="demo"}': 'demo_migration_transferred_total{vm="demo"}',
    'demo_packets_total': 'demo_packets_total',
    'demo_largest_packet_bytes': 'demo_largest_packet_bytes',
    'demo_packets_sent_total{channel="0"}': 'demo_packets_sent_total{channel="0"}',
    'demo_channels': 'demo_channels',
    'demo_packets_per_cpu_total': 'demo_packets_per_cpu_total',
    'demo_bytes_budgeted_total': 'demo_bytes_budgeted_total',
}
expected = {
    'demo_migration_normal_pages_total{vm="demo"}': 253000,
    'demo_packets_total': 2000,
    'demo_packets_per_cpu_total': 2000,
    'demo_packets_sent_total{channel="0"}': 1000,
    # Unlucky names, as the naming rules export them (examples/prometheus.rs).
    'demo_unlucky_total{x_y="1",x_y_2="2"}': 5,
    'demo_unlucky_2': 7,
    'demo_empty_label_total': 3,
}
checks.update({series: series for series in [
    'demo_unlucky_total{x_y="1",x_y_2="2"}', 'demo_unlucky_2', 'demo_empty_label_total',
    'up{job="shardstat"}',
]})
for series, value in expected.items():
    if values.get(series) != value:
        sys.exit(f"prometheus-e2e: /metrics has {series} = {values.get(series)}, expected {value}")

sys.path.insert(0, ".ci")
from prom_expect import expect
# Each query must return what the example's /metrics said.
expect(prom, {query: values[series] for series, query in checks.items()})
print("prometheus-e2e: every value Prometheus stored equals the counter's value")

# The cardinality limit: 150 users for a limit of 100 (examples/prometheus.rs, `logins`).
# The 50 past the limit share the overflow series, so Prometheus's sum is every login.
logins = {
    'sum(demo_logins_total{job="shardstat"})': sum(1 + u % 7 for u in range(150)),
    'count(demo_logins_total{job="shardstat"})': 101,
    'demo_logins_total{job="shardstat",overflow="true"}': sum(1 + u % 7 for u in range(100, 150)),
}
overflow = values.get('demo_logins_total{overflow="true"}')
if overflow != logins['demo_logins_total{job="shardstat",overflow="true"}']:
    sys.exit(f"prometheus-e2e: /metrics has the overflow series at {overflow}, expected 199")
expect(prom, logins)
print("prometheus-e2e: past its cardinality limit, a metric's sum in Prometheus is exact")

# The histogram: Prometheus's histogram_quantile over the exported classic buckets must
# land in the same bucket as the snapshot's own p90 (which the example exports as a gauge).
# Prometheus interpolates linearly inside a classic bucket, so the bucket is the agreement
# the exposition can carry; the snapshot itself is within 1/128 of the exact p90.
bounds = sorted(float(re.search(r'le="([^"]+)"', s).group(1))
                for s in values if s.startswith("demo_send_seconds_bucket{")
                and '+Inf' not in s)
p90 = values["demo_send_seconds_p90"]
hi = min(b for b in bounds if b >= p90)
lo = max([b for b in bounds if b < p90], default=0.0)
query = "histogram_quantile(0.9, demo_send_seconds_bucket)"
deadline = time.time() + 60
while True:
    url = f"http://127.0.0.1:{prom}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    result = json.loads(get(url)).get("data", {}).get("result", [])
    if result:
        hq = float(result[0]["value"][1])
        break
    if time.time() > deadline:
        sys.exit("prometheus-e2e: Prometheus never answered histogram_quantile")
    time.sleep(0.5)
if not (lo <= hq <= hi):
    sys.exit(f"prometheus-e2e: histogram_quantile(0.9) = {hq}, outside the bucket "
             f"({lo}, {hi}] of the snapshot's p90 {p90}")
print(f"ok  histogram_quantile(0.9) = {hq:.6f} s, snapshot p90 = {p90:.6f} s, "
      f"both in the bucket ({lo:.9f}, {hi:.9f}]")
PY

echo "--- the README's getting-started program: the strict parser, then Prometheus's sums"
python3 - "$gs_port" "$prom_port" "$om_python" <<'PY'
import json, subprocess, sys, time, urllib.parse, urllib.request

app, prom, om_python = sys.argv[1], sys.argv[2], sys.argv[3]

def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode(), r.headers.get("Content-Type")

deadline = time.time() + 60
while True:
    try:
        body, content_type = get(f"http://127.0.0.1:{app}/metrics")
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("prometheus-e2e: getting_started never served /metrics")
        time.sleep(0.2)
if not content_type.startswith("application/openmetrics-text"):
    sys.exit(f"prometheus-e2e: getting_started served {content_type}")
subprocess.run([om_python, "tests/support/om_parse.py"], input=body.encode(), check=True,
               stdout=subprocess.DEVNULL)
print("om-parser: getting_started's exposition passes")

# 8 workers x 100,000 requests, each counted once and its latency recorded once.
checks = {
    'sum(requests_total{job="getting_started"})': 800000,
    'sum(request_duration_seconds_count{job="getting_started"})': 800000,
    'sum(request_duration_seconds_bucket{job="getting_started",le="+Inf"})': 800000,
    'requests_total{job="getting_started",route="/"}': 8 * 33334,
    'up{job="getting_started"}': 1,
}
sys.path.insert(0, ".ci")
from prom_expect import expect
expect(prom, checks)
print("prometheus-e2e: Prometheus scraped the getting-started program; every request counted once")
PY
