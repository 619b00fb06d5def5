#!/usr/bin/env bash
# The processor's longest pause with about a million orders in memory, snapshots on and off:
# `benches/scripts/snapshot-pause.sh [BASELINE_BIN] [OUTDIR]`.
#
# Each run starts `sluice serve` (in-process channel simulator, [limits] orders_max = 1,100,000)
# on a fresh data directory, fills it with FILL_RATE x FILL_SECS payments (open loop), then
# measures MEASURE_RATE x MEASURE_SECS requests (payments=20,queries=80: the orders stay under the
# limit) and stops it with SIGTERM. Snapshots every SNAPSHOT_EVERY inputs (the old key name
# `snapshot_every`, which both builds read; snapshot_every_secs stays off so that both take the
# same snapshots), or none.
#
# Runs, in this order: this build without and with periodic snapshots (the snapshot follower
# serializes; without, it still follows the journal);
# with BASELINE_BIN (a build from before the follower, e.g. /tmp/base/sluice-issue17) the same two
# with it (its processor serializes: the ring waits). Prints, per run, the ack p99/p99.9/max of
# both phases (loadgen, from each request's intended send time), the processor's longest time on
# one input (this build's `processor: the longest time ...` log line; for the baseline, which has
# no such figure, its longest "the ring waited" serialization), and each snapshot's serialize time.
set -euo pipefail
BASE=${1:-}
OUT=${2:-benches/results/2026-12-06-snapshot-pause}
BIN=${SLUICE_BIN:-target/release/sluice}
FILL_RATE=${FILL_RATE:-30000}
FILL_SECS=${FILL_SECS:-30}
MEASURE_RATE=${MEASURE_RATE:-10000}
MEASURE_SECS=${MEASURE_SECS:-30}
SNAPSHOT_EVERY=${SNAPSHOT_EVERY:-250000}
ADDR=127.0.0.1:7719
mkdir -p "$OUT"
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; uname -r; date -u
echo "fill ${FILL_RATE}/s x ${FILL_SECS}s payments; measure ${MEASURE_RATE}/s x ${MEASURE_SECS}s payments=20,queries=80; snapshots every ${SNAPSHOT_EVERY} inputs"

# The embedded configuration with the bench's settings; the snapshot lines become the old key,
# and this build's rule of time (snapshot_every_secs, unknown to the baseline) is turned off.
config() { # $1 = file, $2 = snapshot_every, $3 = "new" or "base"
  local secs='/^snapshot_every_secs *=/d'
  [ "$3" = new ] && secs='s/^snapshot_every_secs *=.*/snapshot_every_secs = 0/'
  sed -e "$secs" \
      -e "s/^snapshot_every_inputs *=.*/snapshot_every = $2/" \
      -e "s/^orders_max *=.*/orders_max = 1100000/" \
      gateway/src/default_config.toml >"$1"
}

run() { # $1 = name, $2 = binary, $3 = snapshot_every
  local name=$1 bin=$2 every=$3 data="$OUT/data-$1"
  config "$OUT/$name.toml" "$every" "${name%%-*}"
  rm -rf "$data"
  "$bin" serve --config "$OUT/$name.toml" --data "$data" --listen $ADDR 2>"$OUT/$name.serve.log" &
  local server=$!
  for _ in $(seq 1 600); do grep -q "listening on" "$OUT/$name.serve.log" 2>/dev/null && break; sleep 0.1; done
  "$BIN" loadgen --addr $ADDR --rate "$FILL_RATE" --duration "$FILL_SECS" --mix payments=100 \
    --seed 1 --json 2>/dev/null >"$OUT/$name.fill.json"
  "$BIN" loadgen --addr $ADDR --rate "$MEASURE_RATE" --duration "$MEASURE_SECS" \
    --mix payments=20,queries=80 --seed 2 --json 2>/dev/null >"$OUT/$name.measure.json"
  kill -TERM "$server"; wait "$server" || true
  rm -rf "$data"
  python3 - "$OUT" "$name" "$every" <<'PY'
import json, re, sys
out, name, every = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = open(f"{out}/{name}.serve.log").read()
def lat(phase):
    j = json.load(open(f"{out}/{name}.{phase}.json"))
    a = j["ack_latency_us"]
    return f"{phase}: {j['throughput_per_sec']:,.0f}/s ack p99 {a['p99']/1e3:.2f} ms p99.9 {a['p999']/1e3:.2f} ms max {a['max']/1e3:.1f} ms"
longest = re.findall(r"longest time spent on one input was (\d+) us \(sequence (\d+)\)", log)
serial = [(int(s), int(u), int(o) if o else None) for s, u, o in
          re.findall(r"seq=(\d+) bytes=\d+ serialize_us=(\d+)(?: orders=(\d+))?", log)]
if longest:
    pause = f"processor longest input {int(longest[-1][0])/1e3:.1f} ms (seq {longest[-1][1]})"
elif any(every and s % every == 0 for s, _, _ in serial):
    # The shutdown snapshot (off the schedule) is taken after the ring stopped: not a pause.
    ring = max(u for s, u, _ in serial if every and s % every == 0)
    pause = f"processor longest pause >= {ring/1e3:.1f} ms (its longest serialization: the ring waited)"
else:
    pause = "processor longest pause: no figure (this build logs none and took no snapshot)"
snaps = ", ".join(f"{s}:{u/1e3:.0f}ms" + (f"/{o}o" if o else "") for s, u, o in serial)
print(f"{name:14} {pause}\n{'':14} {lat('fill')}\n{'':14} {lat('measure')}\n{'':14} snapshots (seq:serialize[/orders]): {snaps or 'none'}")
PY
}

run new-nosnap "$BIN" 0
run new-snap "$BIN" "$SNAPSHOT_EVERY"
if [ -n "$BASE" ]; then
  run base-nosnap "$BASE" 0
  run base-snap "$BASE" "$SNAPSHOT_EVERY"
fi
