#!/usr/bin/env bash
# Pinned-thread benchmarks on a dedicated multi-core machine (BENCHMARKS.md, "16-core" section).
# Usage: benches/scripts/pinned.sh [OUTDIR] — needs target/release/sluice (cargo build --release);
# runs the ring bench at burst 10 too when RING_BENCH names its binary (cargo bench --bench ring
# --no-run prints the path), as on a device machine without a toolchain.
# Server threads spin on their own cores: gateway 2, journaler 3, processor 4 (process on 2-6);
# the load generator busy-polls alone on core 8. Prints figures and writes JSON/hgrm files to OUTDIR.
set -uo pipefail
OUT=${1:-/tmp/sluice-pinned}
mkdir -p "$OUT"
BIN=${SLUICE_BIN:-target/release/sluice}
ADDR=127.0.0.1:7799
echo "== machine"; nproc; lscpu | grep -E "Model name|^CPU\(s\)|Thread|NUMA node\(s\)|MHz" ; uname -r

pinned_config() {
  "$BIN" default-config \
    | sed -e 's/^wait = .*/wait = "spin"/' -e 's/^pin_cores = .*/pin_cores = [2, 3, 4]/' \
          -e 's/^orders_max = .*/orders_max = 4000000/' -e 's/^refunds_max = .*/refunds_max = 1000000/'
}
pinned_config > "$OUT/pinned.toml"

serve() { # $1 = data dir
  rm -rf "$1"
  taskset -c 2-6 "$BIN" serve --config "$OUT/pinned.toml" --data "$1" --listen $ADDR 2>"$1.err" &
  SERVER=$!
  # Start-up prefaults the engine tables (orders_max x 624 B): allow a minute.
  for _ in $(seq 1 600); do grep -q "listening on" "$1.err" 2>/dev/null && break; sleep 0.1; done
  grep "prefaulted" "$1.err"
}
stop() { kill -TERM "$SERVER"; wait "$SERVER"; }

echo "== engine alone, prefaulted vs cold (3 runs each)"
for i in 1 2 3; do
  taskset -c 4 "$BIN" bench engine --events 2000000 --json | tee -a "$OUT/engine.jsonl"
  taskset -c 4 "$BIN" bench engine --events 2000000 --json --no-prefault | tee -a "$OUT/engine-cold.jsonl"
  taskset -c 4 "$BIN" bench engine --events 2000000 --json --channels 1 --risk-rules 0 | tee -a "$OUT/engine-bare.jsonl"
done

if [ -n "${RING_BENCH:-}" ]; then
  echo "== ring vs crossbeam at burst 10 (producer core 0, consumer core 1)"
  "$RING_BENCH" --bench --noplot 'ring_handoff/.*/10$' 2>/dev/null | grep -E "^[a-z_/]+|thrpt:" | tee "$OUT/ring.txt"
fi

echo "== pipeline without TCP (spin, 3 runs)"
for i in 1 2 3; do taskset -c 2-6 "$BIN" bench pipeline --events 1000000 --wait spin --json 2>/dev/null | tee -a "$OUT/pipeline.jsonl"; done
echo "== pipeline without TCP at 100000 inputs/s (spin): the core's own latency, no sockets"
taskset -c 2-6 "$BIN" bench pipeline --events 600000 --rate 100000 --wait spin --json 2>/dev/null | tee -a "$OUT/pipeline-100k.jsonl"

for rate in 50000 100000 200000; do
  echo "== loadgen open loop at $rate/s, pinned spinning server"
  serve /tmp/sluice-pinned-data
  taskset -c 8 "$BIN" loadgen --addr $ADDR --rate $rate --duration 8 --warmup 2 --connections 4 --busy-poll \
      --hgrm "$OUT/ack-$rate.hgrm" --ack-trace "$OUT/ack-$rate.trace" --json 2>/dev/null | tee "$OUT/loadgen-$rate.json"
  stop
done

echo "== find-max (p99 bound 1 ms)"
serve /tmp/sluice-pinned-data
taskset -c 8 "$BIN" loadgen --addr $ADDR --find-max --start-rate 100000 --step 1.3 --duration 3 --warmup 1 \
    --connections 4 --busy-poll --p99-bound-ms 1 --json 2>/dev/null | tee "$OUT/find-max.json"
stop

echo "== demo 200k (default adaptive waiting, unpinned)"
"$BIN" demo --payments 200000 --json 2>/dev/null | tee "$OUT/demo.json" | head -c 600; echo
echo "== done"
