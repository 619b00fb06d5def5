#!/usr/bin/env bash
# 5 interleaved runs of `sluice bench engine --events 1000000` (baseline /tmp/base/sluice-issue20,
# this build /work/target-h2/release/sluice), raw JSON lines kept.
set -euo pipefail
OUT=/work/wt-h2-engine/benches/results/2026-12-06-settlement-engine
BASE=/tmp/base/sluice-issue20
NEW=/work/target-h2/release/sluice
RUNS=${1:-5}
rm -f "$OUT"/engine-*.jsonl
{ echo "== machine"; nproc; lscpu | grep -E "Model name" || true; date -u; uptime; } > "$OUT/machine.txt"
for i in $(seq 1 "$RUNS"); do
  for which in base new; do
    bin=$NEW; [ "$which" = base ] && bin=$BASE
    "$bin" bench engine --events 1000000 --json >>"$OUT/engine-$which.jsonl"
  done
  echo "run $i done $(uptime)" >> "$OUT/machine.txt"
done
python3 - "$OUT" <<'PY' | tee "$OUT/summary.txt"
import json, statistics, sys
out = sys.argv[1]
def load(name):
    return [json.loads(l)["events_per_sec"] for l in open(f"{out}/{name}.jsonl")]
base, new = load("engine-base"), load("engine-new")
mb, mn = statistics.median(base), statistics.median(new)
print(f"engine base median {mb:,.0f} events/s [{min(base):,.0f}..{max(base):,.0f}]  new median {mn:,.0f} [{min(new):,.0f}..{max(new):,.0f}]  new/base {mn/mb:.3f}")
PY
