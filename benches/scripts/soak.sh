#!/usr/bin/env bash
# The soak benchmark (issue 18, docs/ENGINE.md "Retention"): `benches/scripts/soak.sh [OUTDIR]`.
#
# A server with a small order table ([limits] orders_max = ORDERS, default 100,000; final orders
# retire RETENTION_MS after their last change, default 2,000; receipts_max = RECEIPTS) takes an
# open-loop load of RATE requests a second for SECS seconds (defaults 25,000 and 60: 1.2 million
# payments, 12 times the table), mix payments=80,refunds=5,queries=10,resends=5 — refunds and
# queries are drawn from the first million succeeded payments and resends from every 16th payment
# sent, so after the first seconds most concern orders retired long before. Periodic snapshots
# are the embedded defaults (the snapshot follower). Every second it samples the server's RSS and
# its /metrics; at the end it prints, per INTERVAL seconds (default 5), the acks and their p99
# (from each request's intended send time), RSS, orders in the table and receipts; then the
# payments refused by reason (OrdersFull must be 0), resends answered with their original outcome,
# queries answered for retired orders, and the processor's longest time on one input. The ack trace
# (OUTDIR/acks.txt, tens of MB) is left for a closer look; the repository keeps the rest.
set -euo pipefail
OUT=${1:-benches/results/2026-12-06-soak}
BIN=${SLUICE_BIN:-target/release/sluice}
ORDERS=${ORDERS:-100000}
RETENTION_MS=${RETENTION_MS:-2000}
RECEIPTS=${RECEIPTS:-2000000}
RATE=${RATE:-25000}
SECS=${SECS:-60}
INTERVAL=${INTERVAL:-5}
ADDR=127.0.0.1:7721
METRICS=127.0.0.1:9721
mkdir -p "$OUT"
echo "== machine"; nproc; lscpu | grep -E "Model name" || true; uname -r; date -u
echo "orders_max $ORDERS, order_retention_ms $RETENTION_MS, receipts_max $RECEIPTS; $RATE requests/s x ${SECS}s"
sed -e "s/^orders_max *=.*/orders_max = $ORDERS/" \
    -e "s/^order_retention_ms *=.*/order_retention_ms = $RETENTION_MS/" \
    -e "s/^receipts_max *=.*/receipts_max = $RECEIPTS/" \
    -e "s/^refunds_max *=.*/refunds_max = 500000/" \
    -e "s/^prefault_memory *=.*/prefault_memory = false/" \
    gateway/src/default_config.toml >"$OUT/soak.toml"
data="$OUT/data"
rm -rf "$data"
"$BIN" serve --config "$OUT/soak.toml" --data "$data" --listen $ADDR --metrics $METRICS 2>"$OUT/serve.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 600); do grep -q "listening on" "$OUT/serve.log" 2>/dev/null && break; sleep 0.1; done
"$BIN" loadgen --addr $ADDR --rate "$RATE" --duration "$SECS" --connections 4 \
  --mix payments=80,refunds=5,queries=10,resends=5 --ack-trace "$OUT/acks.txt" --json \
  >"$OUT/load.json" 2>/dev/null &
load=$!
start=$(date +%s.%N)
echo -e "t\trss_kib\torders\treceipts\tretired\tlongest_input_s" >"$OUT/samples.tsv"
metric() { grep -E "^$1 " <<<"$2" | awk '{print $2}' | head -1; }
while kill -0 $load 2>/dev/null; do
  m=$(curl -s "http://$METRICS/metrics" || true)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$server/status)
  t=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
  echo -e "$t\t$rss\t$(metric sluice_orders "$m")\t$(metric sluice_receipts "$m")\t$(metric sluice_orders_retired_total "$m")\t$(metric sluice_processor_longest_input_seconds "$m")" >>"$OUT/samples.tsv"
  sleep 1
done
wait $load || true
kill -TERM $server; wait $server || true
trap - EXIT
rm -rf "$data"
python3 - "$OUT" "$INTERVAL" <<'PY'
import json, sys
out, interval = sys.argv[1], float(sys.argv[2])
load = json.load(open(f"{out}/load.json"))
samples = [l.rstrip("\n").split("\t") for l in open(f"{out}/samples.tsv")][1:]
buckets = {}
for line in open(f"{out}/acks.txt"):
    sent_us, lat_us, _ = line.split()
    buckets.setdefault(int(float(sent_us) / 1e6 // interval), []).append(float(lat_us))
def sample_at(t):
    best = None
    for s in samples:
        if float(s[0]) <= t:
            best = s
    return best or samples[0]
print(f"{'interval':>12} {'acks':>8} {'ack p99 ms':>11} {'RSS MiB':>8} {'orders':>8} {'receipts':>9}")
for b in sorted(buckets):
    lats = sorted(buckets[b])
    p99 = lats[min(len(lats) - 1, int(len(lats) * 0.99))] / 1e3
    s = sample_at((b + 1) * interval)
    rss = int(s[1]) / 1024 if s[1] else 0
    print(f"{b*interval:>5.0f}-{(b+1)*interval:<5.0f}s {len(lats):>8} {p99:>11.2f} {rss:>8.0f} {s[2]:>8} {s[3]:>9}")
refused = load.get("rejected_by_reason", {})
print(f"payments sent {load['payments_sent']}, refused by reason {refused} (OrdersFull {refused.get('OrdersFull', 0)})")
print(f"resends {load['resends_sent']} sent, {load['resends_answered']} answered with the original outcome; "
      f"queries {load['queries_sent']} sent, {load['queries_retired']} answered for retired orders; refunds {load['refunds_sent']}")
print(f"ack p99 over the run {load['ack_latency_us']['p99']/1e3:.2f} ms, max {load['ack_latency_us']['max']/1e3:.1f} ms; "
      f"throughput {load['throughput_per_sec']:,.0f}/s")
last = samples[-1]
print(f"RSS {int(samples[0][1])/1024:.0f} MiB at the first sample, {int(last[1])/1024:.0f} MiB at the last; "
      f"orders retired {last[4]}; the processor's longest time on one input {last[5]} s")
PY
