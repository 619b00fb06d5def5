#!/usr/bin/env bash
# Every figure of BENCHMARKS.md's 2-core section, in one run: `benches/scripts/two-core.sh [OUTDIR]`.
# Needs `cargo build --release` first (the criterion benches build their own bench profile).
# Run on an otherwise idle machine; each figure is repeated and BENCHMARKS.md quotes the median.
# BASELINE_BIN=path/to/an/older/sluice adds that binary's engine and replay figures, interleaved with
# this one's, so a change is measured against its baseline in the same run.
set -uo pipefail
OUT=${1:-/tmp/sluice-two-core}
mkdir -p "$OUT"
BIN=${SLUICE_BIN:-target/release/sluice}
echo "== machine"; nproc; lscpu | grep -E "Model name|^CPU\(s\)|L2|L3"; uname -r; date -u

echo "== engine alone, tables prefaulted as the server does vs cold (3 runs each, interleaved)"
echo "   and without routing choice or risk (one channel, no rules): the baseline for routing and risk"
for i in 1 2 3; do
  "$BIN" bench engine --events 2000000 --json | tee -a "$OUT/engine.jsonl"
  "$BIN" bench engine --events 2000000 --json --no-prefault | tee -a "$OUT/engine-cold.jsonl"
  "$BIN" bench engine --events 2000000 --json --channels 1 --risk-rules 0 | tee -a "$OUT/engine-bare.jsonl"
  "$BIN" bench engine --events 2000000 --json --risk-rules 0 | tee -a "$OUT/engine-norisk.jsonl"
  if [ -n "${BASELINE_BIN:-}" ]; then
    "$BASELINE_BIN" bench engine --events 2000000 --json | tee -a "$OUT/engine-baseline-bin.jsonl"
  fi
done

echo "== pipeline without TCP: parallel vs journal-before (3 runs each, medians)"
"$BIN" bench pipeline --events 1000000 --compare --runs 3 --json 2>/dev/null | tee "$OUT/pipeline.json"
"$BIN" bench pipeline --events 400000 --rate 100000 --compare --runs 3 --json 2>/dev/null | tee "$OUT/pipeline-100k.json"

echo "== journal append, recovery, snapshot of 1M orders"
"$BIN" bench journal --json 2>/dev/null | tee "$OUT/journal.json"

echo "== demo: 200,000 payments end to end (3 runs)"
for i in 1 2 3; do
  "$BIN" demo --payments 200000 --json --data "$OUT/demo-$i" 2>/dev/null | tee "$OUT/demo-$i.json" | head -c 300; echo
done

echo "== replay bench on the demo journal (3 runs)"
for i in 1 2 3; do
  "$BIN" replay bench --data "$OUT/demo-1" --json | tee -a "$OUT/replay.jsonl"
  if [ -n "${BASELINE_BIN:-}" ]; then
    "$BASELINE_BIN" replay bench --data "$OUT/demo-1" --json | tee -a "$OUT/replay-baseline-bin.jsonl"
  fi
done

ADDR=127.0.0.1:7711
serve() { rm -rf "$OUT/serve-data"; "$BIN" serve --data "$OUT/serve-data" --listen $ADDR 2>"$OUT/serve.err" & SERVER=$!;
  for _ in $(seq 1 100); do grep -q "listening on" "$OUT/serve.err" 2>/dev/null && break; sleep 0.1; done; }
stop() { kill -TERM "$SERVER"; wait "$SERVER"; }
for rate in 50000 100000; do
  for i in 1 2 3; do
    echo "== loadgen open loop at $rate/s (run $i)"
    serve
    "$BIN" loadgen --addr $ADDR --rate $rate --duration 10 --warmup 2 --connections 4 \
        --hgrm "$OUT/ack-$rate-$i.hgrm" --json 2>/dev/null | tee "$OUT/loadgen-$rate-$i.json" | head -c 400; echo
    stop
  done
done
for i in 1 2 3; do
  echo "== loadgen open loop at 100000 payments/s, payments only (run $i)"
  serve
  "$BIN" loadgen --addr $ADDR --rate 100000 --mix payments=100,refunds=0,queries=0 --duration 10 --warmup 2 \
      --connections 4 --hgrm "$OUT/ack-payments-100000-$i.hgrm" --json 2>/dev/null \
      | tee "$OUT/loadgen-payments-100000-$i.json" | head -c 400; echo
  stop
done
echo "== find-max (p99 bound 1 ms)"
serve
"$BIN" loadgen --addr $ADDR --find-max --start-rate 20000 --step 1.25 --duration 8 --warmup 2 --connections 4 \
    --p99-bound-ms 1 --json 2>/dev/null | tee "$OUT/find-max.json"
stop
"$BIN" bench plot "$OUT/ack-50000-1.hgrm" "$OUT/ack-50000-1.result.hgrm" "$OUT/ack-100000-1.hgrm" --out "$OUT/latency.svg"

echo "== criterion: codec, ring vs crossbeam, engine per input, journal append"
cargo bench --bench codec -- --noplot 2>/dev/null | grep -E "^[a-z_/]+|time:" | tee "$OUT/criterion-codec.txt"
cargo bench --bench ring -- --noplot 2>/dev/null | grep -E "^[a-z_/]+|time:|thrpt:" | tee "$OUT/criterion-ring.txt"
cargo bench --bench engine -- --noplot 2>/dev/null | grep -E "^[a-z_/]+|time:" | tee "$OUT/criterion-engine.txt"
cargo bench --bench journal -- --noplot 2>/dev/null | grep -E "^[a-z_/]+|time:|thrpt:" | tee "$OUT/criterion-journal.txt"
echo "== done"
