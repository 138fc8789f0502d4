#!/usr/bin/env bash
# What Lineage adds to MLflow's own client, measured against a null server that answers
# at once, in alternating rounds (null, Lineage, null, Lineage, …) so that a noisy
# neighbour on this shared machine shows up as spread, not as a verdict. Prints each
# round and the medians of ms per `log_metric` and batched points/s. Uses the virtual
# environment and binaries of mlflow_api.sh (run that once first). Not part of CI.
#
#   tests/peers/mlflow_client_rounds.sh [ROUNDS] [RUNS]     (defaults 5 rounds, 10 runs)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
runs=${2:-10}
here=tests/peers
work=$here/.results/mlflow-client-rounds
rm -rf "$work"
mkdir -p "$work"
python=target/side-venv/bin/python
lineage=target/release/lineage
null=target/release/mlflow-null
for needed in "$python" "$lineage" "$null"; do
  [ -x "$needed" ] || { echo "missing $needed: run tests/peers/mlflow_api.sh once first" >&2; exit 1; }
done
port=18766
uri=http://127.0.0.1:$port
# shellcheck source=servers.sh
. "$here/servers.sh"
trap stop EXIT
data=$work/lineage
"$lineage" demo --data-dir "$data" >/dev/null
token=$("$lineage" token create --data-dir "$data" --principal u-alex --label rounds | grep -o 'lin_[0-9a-f]*' | tail -1)
for round in $(seq 1 "$rounds"); do
  start null "$uri/health" "$null" --bind 127.0.0.1:$port
  "$python" $here/mlflow_api.py client "$uri" "$runs" "$work/null-$round.json" >/dev/null 2>&1
  stop
  start lineage "$uri/healthz" "$lineage" serve --data-dir "$data" --bind 127.0.0.1:$port
  MLFLOW_TRACKING_TOKEN=$token "$python" $here/mlflow_api.py client "$uri/mlflow/acct-contoso-exp/ws-churn" "$runs" "$work/lineage-$round.json" >/dev/null 2>&1
  stop
done
"$python" - "$work" "$rounds" <<'PY'
import json, statistics, sys
folder, rounds = sys.argv[1], int(sys.argv[2])
read = lambda name, r: json.load(open(f"{folder}/{name}-{r}.json"))
for r in range(1, rounds + 1):
    n, l = read("null", r), read("lineage", r)
    print(f"round {r}: log_metric null {n['log_metric_ms']:.2f} ms, Lineage {l['log_metric_ms']:.2f} ms; "
          f"batched null {n['batched_points_per_s']:,.0f}/s, Lineage {l['batched_points_per_s']:,.0f}/s")
med = lambda name, key: statistics.median(read(name, r)[key] for r in range(1, rounds + 1))
n, l = med("null", "log_metric_ms"), med("lineage", "log_metric_ms")
nb, lb = med("null", "batched_points_per_s"), med("lineage", "batched_points_per_s")
print(f"median ms per log_metric: null {n:.2f}, Lineage {l:.2f} ({(l / n - 1) * 100:+.0f}%)")
print(f"median batched points/s: null {nb:,.0f}, Lineage {lb:,.0f} ({(nb / lb - 1) * 100:+.0f}% time per point)")
PY
