#!/usr/bin/env bash
# What a follower costs the live path: `benches/scripts/ab-demo-follower.sh BASELINE_BIN [RUNS] [OUTDIR]`.
# Runs `sluice demo` (200,000 payments, no simulated month) RUNS times each (default 5), interleaved:
# the baseline binary, this build without a follower (--no-follower), and this build with its
# follower (SCHED_IDLE); prints the median and range of payments/s and the follower's largest lag.
set -euo pipefail
BASE=${1:?usage: ab-demo-follower.sh BASELINE_BIN [RUNS] [OUTDIR]}
RUNS=${2:-5}
OUT=${3:-/tmp/sluice-ab-demo}
BIN=${SLUICE_BIN:-target/release/sluice}
mkdir -p "$OUT"; rm -f "$OUT"/demo-*.jsonl
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u
for i in $(seq 1 "$RUNS"); do
  "$BASE" demo --json 2>/dev/null >>"$OUT/demo-base.jsonl"
  "$BIN" demo --json --month-days 0 --no-follower 2>/dev/null >>"$OUT/demo-no-follower.jsonl"
  "$BIN" demo --json --month-days 0 2>/dev/null >>"$OUT/demo-follower.jsonl"
  echo "run $i done"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
for name in ("base", "no-follower", "follower"):
    runs = [json.loads(l) for l in open(f"{out}/demo-{name}.jsonl")]
    pps = [r["payments_per_sec"] for r in runs]
    lag = [r["follower"]["max_lag_inputs"] for r in runs if r.get("follower")]
    same = all(r["follower"]["matches_live"] for r in runs if r.get("follower"))
    extra = f"  largest lag median {statistics.median(lag):,.0f} inputs, state hash matched live: {same}" if lag else ""
    print(f"{name:12} payments/s median {statistics.median(pps):>10,.0f} [{min(pps):,.0f}..{max(pps):,.0f}]{extra}")
PY
