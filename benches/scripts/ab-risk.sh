#!/usr/bin/env bash
# Same-run A/B for issue 23 (the risk analyst's loop): `benches/scripts/ab-risk.sh BASELINE_BIN
# [RUNS] [OUTDIR]`. Interleaved run by run:
#   - `sluice bench engine --events 2000000`: the baseline (struct rules), this build with the same
#     ten rules as structs, this build with them written in the rule language (`--text-rules`), and
#     this build with the text rules and a trained risk-score model loaded (`--risk-model`);
#   - `sluice replay bench` of one demo journal written by the baseline, with both binaries;
#   - `sluice replay backtest` of rules/candidate.rules over simulated fraud days (its speed).
# Prints the median and range of each and the ratios of the medians. Run on an otherwise idle
# machine.
set -euo pipefail
BASE=${1:?usage: ab-risk.sh BASELINE_BIN [RUNS] [OUTDIR]}
RUNS=${2:-5}
OUT=${3:-/tmp/sluice-ab-risk}
BIN=${SLUICE_BIN:-target/release/sluice}
mkdir -p "$OUT"
rm -f "$OUT"/*.jsonl
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u
echo "== $BIN vs $BASE, $RUNS interleaved runs"
rm -rf "$OUT/journal" "$OUT/sim"
"$BASE" demo --payments 200000 --month-days 0 --recon-orders 0 --no-payouts --no-follower --no-notify --json --data "$OUT/journal" >/dev/null 2>&1
"$BIN" risk simulate --out "$OUT/sim" --days 14 --payments-per-day 20000 --seed 7
"$BIN" risk train --data "$OUT/sim" --out "$OUT/model.toml" --seed 7 --train-days 10 --test-days 4 | tee "$OUT/train.txt"
for i in $(seq 1 "$RUNS"); do
  "$BASE" bench engine --events 2000000 --json >>"$OUT/engine-base.jsonl"
  "$BIN" bench engine --events 2000000 --json >>"$OUT/engine-struct.jsonl"
  "$BIN" bench engine --events 2000000 --json --text-rules >>"$OUT/engine-text.jsonl"
  "$BIN" bench engine --events 2000000 --json --text-rules --risk-model "$OUT/model.toml" >>"$OUT/engine-score.jsonl"
  "$BASE" replay bench --data "$OUT/journal" --json >>"$OUT/replay-base.jsonl"
  "$BIN" replay bench --data "$OUT/journal" --json >>"$OUT/replay-new.jsonl"
  "$BIN" replay backtest --rules rules/candidate.rules --data "$OUT/sim" --json >>"$OUT/backtest.jsonl"
  echo "run $i done"
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def load(name):
    return [json.loads(l)["events_per_sec"] for l in open(f"{out}/{name}.jsonl")]
def show(label, name, base=None):
    v = load(name); m = statistics.median(v)
    ratio = f"   /base {m/statistics.median(load(base)):.3f}" if base else ""
    print(f"{label:34} median {m:>12,.0f} events/s [{min(v):,.0f}..{max(v):,.0f}]{ratio}")
show("engine, baseline (struct rules)", "engine-base")
show("engine, this build, struct rules", "engine-struct", "engine-base")
show("engine, this build, text rules", "engine-text", "engine-base")
show("engine, text rules + risk score", "engine-score", "engine-base")
show("replay, baseline", "replay-base")
show("replay, this build", "replay-new", "replay-base")
show("backtest (candidate rules)", "backtest")
PY
