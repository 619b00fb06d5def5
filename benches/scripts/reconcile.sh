#!/usr/bin/env bash
# Reconciliation of one channel's day of bill rows, end to end:
# `benches/scripts/reconcile.sh [LINES] [RUNS] [OUTDIR]` (default 1,000,000 rows, 3 runs).
# Each run is `sluice bench reconcile --lines LINES --seed N --json`: a seeded day of payments
# and partial refunds, the platform side committed to a temporary Parquet flow store with the
# store's own writer, the bill written in WeChat's layout by sluice-bills, then timed: (a) parse
# the bill, (b) load the platform side from the store (the window's day partitions), (c) match,
# classify and sum the batches, (d) write the three report files. The run fails unless it finds
# exactly the differences injected. Prints each run and writes the raw JSON lines to OUTDIR.
set -euo pipefail
LINES=${1:-1000000}
RUNS=${2:-3}
OUT=${3:-benches/results/2026-12-06-reconcile}
BIN=${SLUICE_BIN:-target/release/sluice}
mkdir -p "$OUT"
{
  echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u
  echo "== binary: $BIN"
} | tee "$OUT/machine.txt"
: > "$OUT/runs.jsonl"
for run in $(seq 1 "$RUNS"); do
  "$BIN" bench reconcile --lines "$LINES" --seed "$run" --json | tee -a "$OUT/runs.jsonl"
done
"$BIN" bench reconcile --lines "$LINES" --seed 42 | tee "$OUT/report.txt"
