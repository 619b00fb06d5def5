#!/usr/bin/env bash
# What session resume and merchant notifications cost the live path, at a fixed open-loop rate:
# `benches/scripts/ab-notify.sh BASELINE_BIN [RUNS] [RATE] [OUTDIR]`.
# RUNS (default 5) interleaved rounds of four servers, each on a fresh data directory, under
# `sluice loadgen --rate RATE --duration 15` (default 20,000 requests/s: payments 90, refunds 5,
# queries 5):
#   base    BASELINE_BIN (the build before issue 19: no outputs follower), embedded configuration;
#   off     this build, [resume] and [notify] off;
#   resume  this build, [resume] on (the outputs follower keeps the output log), [notify] off;
#   notify  this build, both on, every load merchant (1001..1004) with a notify URL on a local
#           test merchant (`sluice notify receiver`, verifying every signature), which shares the
#           machine with the server and the load generator.
# Each server starts on a cold page cache, and the order of the modes rotates by one each round.
# Prints, per mode, the median and range of the achieved rate and the request -> ack p99; for
# `notify`, notifications delivered and how long delivery trailed the end of the load.
set -euo pipefail
BASE=${1:?usage: ab-notify.sh BASELINE_BIN [RUNS] [RATE] [OUTDIR]}
RUNS=${2:-5}
RATE=${3:-20000}
OUT=${4:-/tmp/sluice-ab-notify}
BIN=${SLUICE_BIN:-target/release/sluice}
ADDR=127.0.0.1:7712
mkdir -p "$OUT"; rm -f "$OUT"/*.jsonl
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u

config() { # $1 resume on/off, $2 notify on/off, $3 file
  python3 - "$1" "$2" "$3" <<'PY'
import sys
resume, notify, path = sys.argv[1:4]
section = None
out = []
for line in open("gateway/src/default_config.toml"):
    if line.startswith("["):
        section = line.split()[0]
    if section in ("[resume]", "[notify]") and line.startswith("enabled ="):
        on = (resume if section == "[resume]" else notify) == "on"
        line = f"enabled = {'true' if on else 'false'}\n"
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
  "$BIN" loadgen --addr $ADDR --rate "$RATE" --duration 15 --warmup 2 --connections 4 --json \
    2>/dev/null >>"$OUT/$1.jsonl"
}

notify_setup() { # $1 data dir, $2 secrets dir, $3 receiver base url
  for m in 1001 1002 1003 1004; do
    SLUICE_ADMIN_SECRET=sluice-demo-admin "$BIN" admin --addr $ADDR notify set --merchant $m \
      --url "$3/m/$m" --notify-key "$1/keys/notify.key" --secret-out "$2/merchant-$m.secret" >/dev/null
  done
}

drain() { # $1 data dir: seconds until nothing is pending
  local start; start=$(date +%s.%N)
  for _ in $(seq 1 600); do
    "$BIN" notify status --data "$1" --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["pending"] == 0 else 1)' && break
    sleep 0.1
  done
  python3 -c "import time; print(round(time.time() - $start, 1))"
}

cold() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

run_base() { cold; serve "$BASE" "$1/base"; load base; kill -TERM $SERVER; wait $SERVER || true; }
run_plain() { # $1 dir, $2 mode (off or resume)
  local resume=off; [ "$2" = resume ] && resume=on
  config $resume off "$1/$2.toml"; cold; serve "$BIN" "$1/$2" --config "$1/$2.toml"; load "$2"
  kill -TERM $SERVER; wait $SERVER || true
}
run_notify() { # $1 dir
  local d=$1 url trailed
  mkdir -p "$d/secrets"
  "$BIN" notify receiver --secrets-dir "$d/secrets" >"$d/receiver.out" & RECEIVER=$!
  for _ in $(seq 1 50); do [ -s "$d/receiver.out" ] && break; sleep 0.1; done
  url=$(head -1 "$d/receiver.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
  config on on "$d/notify.toml"; cold; serve "$BIN" "$d/notify" --config "$d/notify.toml"
  notify_setup "$d/notify" "$d/secrets" "$url"; sleep 0.5
  load notify
  trailed=$(drain "$d/notify")
  kill -TERM $SERVER; wait $SERVER || true
  kill -TERM $RECEIVER; wait $RECEIVER || true
  tail -1 "$d/receiver.out" | python3 -c "import json,sys; r=json.load(sys.stdin); r['trailed_s']=$trailed; print(json.dumps(r))" >>"$OUT/receiver.jsonl"
}

round() { # $1 run number: the four modes, in an order rotated by one each round, each cold
  local d modes i
  d=$(mktemp -d /tmp/sluice-abn-XXXX)
  modes=(base off resume notify)
  for i in 0 1 2 3; do
    case ${modes[$(( (i + $1) % 4 ))]} in
      base) run_base "$d" ;;
      off) run_plain "$d" off ;;
      resume) run_plain "$d" resume ;;
      notify) run_notify "$d" ;;
    esac
  done
  rm -rf "$d"
  echo "round $1 done"
}

for i in $(seq 1 "$RUNS"); do round "$i"; done

python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def fig(runs, key):
    v = [r[key] for r in runs]
    return f"{statistics.median(v):>10,.1f} [{min(v):,.1f}..{max(v):,.1f}]"
for mode in ("base", "off", "resume", "notify"):
    runs = [json.loads(l) for l in open(f"{out}/{mode}.jsonl")]
    for r in runs:
        r["ack_p99_ms"] = r["ack_latency_us"]["p99"] / 1000
        r["achieved_rate"] = r["throughput_per_sec"]
    print(f"{mode:7} achieved/s {fig(runs, 'achieved_rate')}  ack p99 ms {fig(runs, 'ack_p99_ms')}")
rx = [json.loads(l) for l in open(f"{out}/receiver.jsonl")]
print("notify  delivered", [r["accepted"] for r in rx], "bad signatures", sum(r["bad_signatures"] for r in rx),
      "trailed the load by s", [r["trailed_s"] for r in rx])
PY
