#!/usr/bin/env bash
# Same-run A/B of the engine and replay benchmarks: `benches/scripts/ab-engine-replay.sh BASELINE_BIN
# [RUNS] [OUTDIR]`. Runs `sluice bench engine` and `sluice replay bench` RUNS times each (default 5),
# the baseline binary and this build (target/release/sluice, or SLUICE_BIN) interleaved run by run,
# both replaying the same journal (a demo journal written first by JOURNAL_BIN, default this build;
# set JOURNAL_BIN=BASELINE_BIN when this build's journal has templates the baseline cannot read),
# then prints the median and range of each and the ratio of the medians. Run on an otherwise idle
# machine.
set -euo pipefail
BASE=${1:?usage: ab-engine-replay.sh BASELINE_BIN [RUNS] [OUTDIR]}
RUNS=${2:-5}
OUT=${3:-/tmp/sluice-ab}
BIN=${SLUICE_BIN:-target/release/sluice}
JOURNAL_BIN=${JOURNAL_BIN:-$BIN}
mkdir -p "$OUT"
rm -f "$OUT"/*.jsonl
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u
echo "== $BIN vs $BASE, $RUNS interleaved runs"
rm -rf "$OUT/journal"
"$JOURNAL_BIN" demo --payments 200000 --month-days 0 --recon-orders 0 --no-payouts --no-follower --no-notify --json --data "$OUT/journal" >/dev/null 2>&1
for i in $(seq 1 "$RUNS"); do
  for which in base new; do
    bin=$BIN; [ "$which" = base ] && bin=$BASE
    "$bin" bench engine --events 2000000 --json >>"$OUT/engine-$which.jsonl"
    "$bin" replay bench --data "$OUT/journal" --json >>"$OUT/replay-$which.jsonl"
  done
  echo "run $i done"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def load(name):
    return [json.loads(l)["events_per_sec"] for l in open(f"{out}/{name}.jsonl")]
for bench in ("engine", "replay"):
    base, new = load(f"{bench}-base"), load(f"{bench}-new")
    mb, mn = statistics.median(base), statistics.median(new)
    print(f"{bench:7} base median {mb:>12,.0f} events/s [{min(base):,.0f}..{max(base):,.0f}]"
          f"   new median {mn:>12,.0f} [{min(new):,.0f}..{max(new):,.0f}]   new/base {mn/mb:.3f}")
PY
