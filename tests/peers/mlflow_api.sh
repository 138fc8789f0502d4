#!/usr/bin/env bash
# MLflow's tracking API side by side, one server after another on this machine (see
# BENCHMARKS.md): MLflow's own client (W1 one call per point, W1 batched, the registry)
# and `hey` (16 connections, log-metric and log-batch of 100 points) against a null
# server, `mlflow server` (gunicorn, SQLite), FastTrackML (SQLite) and Lineage. Needs
# python3, network access to PyPI the first time (a virtual environment is kept in
# target/side-venv) and `hey` (apt-get install hey). Not part of CI. mlflow-go-backend
# is not among the peers: it pins mlflow<3 (pip downgrades MLflow to 2.22 to install it),
# so it cannot serve MLflow 3.17's client.
#
#   tests/peers/mlflow_api.sh [RUNS] [SECONDS]      (defaults 20 runs, 10 s of load each)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
seconds=${2:-10}
here=tests/peers
work=$here/.results/mlflow-api
rm -rf "$work"
mkdir -p "$work"
venv=target/side-venv
if [ ! -x "$venv/bin/fml" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet mlflow==3.17.2 gunicorn fasttrackml
fi
python=$venv/bin/python
cargo build --release --locked --quiet --bin lineage && cargo build --release --locked --quiet -p lineage-tests --bin mlflow-null
lineage=target/release/lineage
port=18765
uri=http://127.0.0.1:$port
# shellcheck source=servers.sh
. "$here/servers.sh"
trap stop EXIT

load() { # load NAME TRACKING-URI [TOKEN]: hey on log-metric and log-batch of 100 points
  local name=$1 tracking=$2 token=${3:-}
  local run
  run=$(MLFLOW_TRACKING_TOKEN=$token "$python" $here/mlflow_api.py prepare "$tracking" | tail -1)
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  local now
  now=$(date +%s000)
  local metric="{\"run_id\": \"$run\", \"key\": \"loss\", \"value\": 0.5, \"timestamp\": $now, \"step\": 1}"
  local batch
  batch=$("$python" -c "import json,sys; print(json.dumps({'run_id': sys.argv[1], 'metrics': [{'key': 'acc', 'value': i / 100, 'timestamp': int(sys.argv[2]), 'step': i} for i in range(100)]}))" "$run" "$now")
  hey -z "${seconds}s" -c 16 -m POST -T application/json "${auth[@]}" -d "$metric" \
    "$tracking/api/2.0/mlflow/runs/log-metric" >"$work/$name-log-metric.txt"
  hey -z "${seconds}s" -c 16 -m POST -T application/json "${auth[@]}" -d "$batch" \
    "$tracking/api/2.0/mlflow/runs/log-batch" >"$work/$name-log-batch.txt"
}

measure() { # measure NAME TRACKING-URI [TOKEN]
  local name=$1 tracking=$2 token=${3:-}
  echo "== $name" >&2
  MLFLOW_TRACKING_TOKEN=$token "$python" $here/mlflow_api.py client "$tracking" "$runs" "$work/$name.json" >&2
  load "$name" "$tracking" "$token"
  stop
}

# The null server: what MLflow's client and hey cost by themselves.
start null "$uri/health" target/release/mlflow-null --bind 127.0.0.1:$port
measure null "$uri"

# mlflow server on SQLite, with gunicorn (its default uvicorn stalls on keep-alive).
start mlflow "$uri/health" "$venv/bin/mlflow" server --host 127.0.0.1 --port $port \
  --backend-store-uri "sqlite:///$PWD/$work/mlflow.db" --default-artifact-root "$PWD/$work/mlflow-artifacts" \
  --workers 4 --gunicorn-opts "--keep-alive 30"
measure mlflow "$uri"

# FastTrackML on SQLite.
start fasttrackml "$uri/health" "$venv/bin/fml" server --listen-address 127.0.0.1:$port \
  --database-uri "sqlite://$PWD/$work/fasttrackml.db" --default-artifact-root "$PWD/$work/fml-artifacts"
measure fasttrackml "$uri"

# Lineage on its own data directory, demo story in it, through a tracking URI.
data=$work/lineage
"$lineage" demo --data-dir "$data" >/dev/null
token=$("$lineage" token create --data-dir "$data" --principal u-alex --label bench | grep -o 'lin_[0-9a-f]*' | tail -1)
start lineage "$uri/healthz" "$lineage" serve --data-dir "$data" --bind 127.0.0.1:$port
measure lineage "$uri/mlflow/acct-contoso-exp/ws-churn" "$token"

"$python" $here/mlflow_api_report.py "$work"
