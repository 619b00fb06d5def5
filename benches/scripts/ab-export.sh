#!/usr/bin/env bash
# What the in-process flow exporter costs the live path, same run:
# `benches/scripts/ab-export.sh BASE_BIN [RUNS] [RATE] [OUTDIR]`.
# RUNS (default 5) interleaved rounds of three servers, each on a fresh data directory and a cold
# page cache, the order rotated by one each round, under `sluice loadgen --rate RATE --duration 15
# --warmup 2 --connections 4 --json` (default 20,000 requests/s: payments 90, refunds 5, queries 5):
#   base    BASE_BIN (the build before issue 20, e.g. /tmp/base/sluice-issue19), embedded config;
#   off     this build, [export] enabled = false (the default);
#   export  this build, [export] enabled = true, to = "parquet" (DATA/export/parquet).
# RATE=0 offers loadgen --rate $SATURATE (default 2,000,000/s). Its "achieved" rate is what loadgen
# sent, not what the server processed (the orders table fills, requests are refused OrdersFull and
# the backlog is tens of seconds): it is not a throughput figure. Processor throughput with the
# exporter running is benches/scripts/ab-demo-export.sh (window-limited, as the demo).
# NO_TRAIL=1 skips the trail (the export server is killed at the end of the load): for RATE=0,
# whose backlog takes minutes to export.
# Prints, per mode, the median and range of the achieved rate and the request -> ack p99; for
# `export`, how long the exporter trailed the end of the load (seconds until the store's position,
# polled with `sluice export --status --json`, reached the journal's end at the end of the load)
# and its rows/s.
set -euo pipefail
BASE=${1:?usage: ab-export.sh BASE_BIN [RUNS] [RATE] [OUTDIR]}
RUNS=${2:-5}
RATE=${3:-20000}
OUT=${4:-/tmp/sluice-ab-export}
BIN=${SLUICE_BIN:-target/release/sluice}
SATURATE=${SATURATE:-2000000}
ADDR=127.0.0.1:7713
LOAD_RATE=$RATE; [ "$RATE" = 0 ] && LOAD_RATE=$SATURATE
mkdir -p "$OUT"; rm -f "$OUT"/*.jsonl
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u
echo "== rate $RATE (loadgen --rate $LOAD_RATE), $RUNS rounds"

config() { # $1 export on/off, $2 file
  python3 - "$1" "$2" <<'PY'
import sys
on, path = sys.argv[1:3]
section, out = None, []
for line in open("gateway/src/default_config.toml"):
    if line.startswith("["):
        section = line.split()[0]
    if section == "[export]" and line.startswith("enabled ="):
        line = f"enabled = {'true' if on == 'on' else 'false'}\n"
    out.append(line)
open(path, "w").write("".join(out))
PY
}

serve() { # $1 binary, $2 data dir, $3.. extra args
  local bin=$1 data=$2; shift 2
  "$bin" serve --data "$data" --listen $ADDR "$@" 2>"$data.err" & SERVER=$!
  for _ in $(seq 1 200); do grep -q "listening on" "$data.err" 2>/dev/null && break; sleep 0.1; done
}

load() { # $1 mode
  "$BIN" loadgen --addr $ADDR --rate "$LOAD_RATE" --duration 15 --warmup 2 --connections 4 --json \
    2>/dev/null >>"$OUT/$1.jsonl"
}

status() { # $1 data dir: "position journal_end"
  "$BIN" export --data "$1" --status --json |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["position"], s["journal_end"])'
}

trail() { # $1 data dir: seconds from now (the end of the load) until the store's position reaches
  # the journal's end as it is now (pulses keep the journal growing: its later end is not waited for)
  local start pos end target; start=$(date +%s.%N)
  read -r pos target < <(status "$1")
  for _ in $(seq 1 6000); do # at most about 10 minutes (RATE=0 leaves tens of millions of rows)
    [ "$pos" -ge "$target" ] && break
    sleep 0.1
    read -r pos end < <(status "$1")
  done
  python3 -c "import time; print(round(time.time() - $start, 2), $pos, $target)"
}

cold() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

run_base() { cold; serve "$BASE" "$1/base"; load base; kill -TERM $SERVER; wait $SERVER || true; }
run_off() {
  config off "$1/off.toml"; cold; serve "$BIN" "$1/off" --config "$1/off.toml"; load off
  kill -TERM $SERVER; wait $SERVER || true
}
run_export() { # the trail is measured while the server still runs (idle, after the load)
  local d=$1 secs pos end rows
  config on "$d/export.toml"; cold; serve "$BIN" "$d/export" --config "$d/export.toml"; load export
  if [ "${NO_TRAIL:-0}" = 1 ]; then # throughput only: the exporter's backlog is not waited for
    kill -KILL $SERVER; wait $SERVER || true
    return
  fi
  read -r secs pos end < <(trail "$d/export")
  kill -TERM $SERVER; wait $SERVER || true
  rows=$(sed -n 's/.*); \([0-9]*\) rows this run.*/\1/p' "$d/export.err" | tail -1)
  echo "{\"trailed_s\": $secs, \"position\": $pos, \"journal_end\": $end, \"rows\": ${rows:-0}}" >>"$OUT/trail.jsonl"
}

round() { # $1 run number: the three modes, in an order rotated by one each round, each cold
  local d modes i
  d=$(mktemp -d /tmp/sluice-abx-XXXX)
  modes=(base off export)
  for i in 0 1 2; do
    case ${modes[$(( (i + $1) % 3 ))]} in
      base) run_base "$d" ;;
      off) run_off "$d" ;;
      export) run_export "$d" ;;
    esac
  done
  rm -rf "$d"
  echo "round $1 done"
}

for i in $(seq 1 "$RUNS"); do round "$i"; done

python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def fig(v):
    return f"{statistics.median(v):>10,.1f} [{min(v):,.1f}..{max(v):,.1f}]"
for mode in ("base", "off", "export"):
    runs = [json.loads(l) for l in open(f"{out}/{mode}.jsonl")]
    rate = [r["throughput_per_sec"] for r in runs]
    p99 = [r["ack_latency_us"]["p99"] / 1000 for r in runs]
    print(f"{mode:7} achieved/s {fig(rate)}  ack p99 ms {fig(p99)}")
import os
if not os.path.exists(f"{out}/trail.jsonl"):
    sys.exit(0)
tr = [json.loads(l) for l in open(f"{out}/trail.jsonl")]
secs = [t["trailed_s"] for t in tr]
# Rows over the whole export (the load's 15 s plus the trail): what the exporter sustained.
rows_s = [t["rows"] / (15 + t["trailed_s"]) for t in tr if t["rows"]]
print(f"export  trailed the load by s {fig(secs)}  caught up {sum(t['position'] >= t['journal_end'] for t in tr)}/{len(tr)}")
if rows_s:
    print(f"export  rows/s (rows / (load + trail)) {fig(rows_s)}  rows {[t['rows'] for t in tr]}")
PY
