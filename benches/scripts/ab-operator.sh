#!/usr/bin/env bash
# What the operator's surface (issue 16: runtime credentials, metrics, logs) costs the live path:
# `benches/scripts/ab-operator.sh BASELINE_BIN [RUNS] [OUTDIR]`, interleaved, RUNS times each
# (default 5):
#   - the processor (`sluice bench pipeline`: ring + journal + engine, no TCP): the baseline
#     binary, this build with metrics off, this build with `--metrics` (the processor publishing
#     as a server with `[metrics] enabled` does);
#   - end to end (`sluice demo`, 200,000 payments over TCP, follower on, no simulated month): the
#     baseline, this build with `--no-metrics`, this build with its metrics endpoint on.
# Prints the median and range of each, and the on/off ratios.
set -euo pipefail
BASE=${1:?usage: ab-operator.sh BASELINE_BIN [RUNS] [OUTDIR]}
RUNS=${2:-5}
OUT=${3:-/tmp/sluice-ab-operator}
BIN=${SLUICE_BIN:-target/release/sluice}
mkdir -p "$OUT"; rm -f "$OUT"/*.jsonl
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u
for i in $(seq 1 "$RUNS"); do
  "$BASE" bench pipeline --json 2>/dev/null >>"$OUT/pipeline-base.jsonl"
  "$BIN" bench pipeline --json 2>/dev/null >>"$OUT/pipeline-off.jsonl"
  "$BIN" bench pipeline --json --metrics 2>/dev/null >>"$OUT/pipeline-on.jsonl"
  "$BASE" demo --json --month-days 0 2>/dev/null >>"$OUT/demo-base.jsonl"
  "$BIN" demo --json --month-days 0 --no-metrics 2>/dev/null >>"$OUT/demo-off.jsonl"
  "$BIN" demo --json --month-days 0 2>/dev/null >>"$OUT/demo-on.jsonl"
  echo "run $i done"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def load(name, key):
    return [json.loads(l)[key] for l in open(f"{out}/{name}.jsonl") if l.strip()]
for what, key in (("pipeline", "events_per_sec"), ("demo", "payments_per_sec")):
    med = {}
    for arm in ("base", "off", "on"):
        xs = load(f"{what}-{arm}", key)
        med[arm] = statistics.median(xs)
        print(f"{what:8} {arm:4} {key} median {med[arm]:>12,.0f} [{min(xs):,.0f}..{max(xs):,.0f}] ({len(xs)} runs)")
    print(f"{what:8} metrics on / off {med['on'] / med['off']:.3f}x; off / baseline {med['off'] / med['base']:.3f}x")
PY
