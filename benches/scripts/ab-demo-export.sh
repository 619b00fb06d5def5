#!/usr/bin/env bash
# Processor throughput with the flow exporter running, same run:
# `benches/scripts/ab-demo-export.sh BASELINE_BIN [RUNS] [OUTDIR]`.
# Runs `sluice demo --json --month-days 0 --no-notify` (200,000 payments through real TCP, window-
# limited: the processor's end-to-end throughput) RUNS times each (default 5), interleaved and
# rotated: the baseline binary (the build before issue 20), this build with `--no-export`, and this
# build with its in-process exporter (Parquet, idle scheduling class); prints the median and range
# of payments/s and, for the exporter, how long it trailed the end of the load and the rows written.
set -euo pipefail
BASE=${1:?usage: ab-demo-export.sh BASELINE_BIN [RUNS] [OUTDIR]}
RUNS=${2:-5}
OUT=${3:-/tmp/sluice-ab-demo-export}
BIN=${SLUICE_BIN:-target/release/sluice}
mkdir -p "$OUT"; rm -f "$OUT"/demo-*.jsonl
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u
cold() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
run() { # $1 mode
  cold
  case $1 in
    base) "$BASE" demo --json --month-days 0 --no-notify ;;
    off) "$BIN" demo --json --month-days 0 --no-notify --no-export ;;
    export) "$BIN" demo --json --month-days 0 --no-notify ;;
  esac 2>/dev/null >>"$OUT/demo-$1.jsonl"
}
modes=(base off export)
for i in $(seq 1 "$RUNS"); do
  for j in 0 1 2; do run "${modes[$(( (i + j) % 3 ))]}"; done
  echo "round $i done"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
for name in ("base", "off", "export"):
    runs = [json.loads(l) for l in open(f"{out}/demo-{name}.jsonl")]
    pps = [r["payments_per_sec"] for r in runs]
    line = f"{name:7} payments/s median {statistics.median(pps):>10,.0f} [{min(pps):,.0f}..{max(pps):,.0f}]"
    ex = [r["export"] for r in runs if r.get("export")]
    if ex:
        trail = [e["trailed_load_s"] for e in ex]
        line += (f"  exporter trailed the load by s {statistics.median(trail):.2f} "
                 f"[{min(trail):.2f}..{max(trail):.2f}], rows {[e['rows'] for e in ex]}")
    print(line)
PY
