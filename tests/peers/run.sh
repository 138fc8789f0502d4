#!/usr/bin/env bash
# The side-by-side benchmark: Lineage, MLflow and ML Metadata on the same workloads, in
# one run, one table with the ratios (see BENCHMARKS.md). Needs python3 and network
# access to PyPI the first time; not part of CI (CI builds `lineage bench --peers`).
#
#   tests/peers/run.sh [RUNS] [CHAINS] [PER_POINT_HTTP_RUNS]     (defaults 500 10000 20)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-500}
chains=${2:-10000}
per_point_http_runs=${3:-20}
here=tests/peers
# Results stay in tests/peers/.results (ignored by git) for a later look.
work=$here/.results
rm -rf "$work"
mkdir -p "$work"

# Separate environments: ML Metadata pins protobuf versions MLflow does not accept.
if [ ! -x "$here/.venv-mlflow/bin/python" ]; then
  python3 -m venv "$here/.venv-mlflow"
  "$here/.venv-mlflow/bin/pip" install -q mlflow==3.17.2 gunicorn
fi
if [ ! -x "$here/.venv-mlmd/bin/python" ]; then
  python3 -m venv "$here/.venv-mlmd"
  "$here/.venv-mlmd/bin/pip" install -q ml-metadata
fi
cargo build --release --quiet
echo "lineage: $runs runs, $chains chains" >&2
./target/release/lineage bench --peers --runs "$runs" --chains "$chains" --scratch "$work" > "$work/lineage.json"
rm -rf "$work"/lineage-bench-peers-*
echo "mlflow: $runs runs ($per_point_http_runs for one call per point over HTTP)" >&2
"$here/.venv-mlflow/bin/python" "$here/peers.py" mlflow "$runs" "$work/mlflow" "$per_point_http_runs" >/dev/null 2>&1
cp "$work/mlflow/result.json" "$work/mlflow.json"
echo "ml-metadata: $chains chains" >&2
"$here/.venv-mlmd/bin/python" "$here/peers.py" mlmd "$chains" "$work/mlmd" >/dev/null
cp "$work/mlmd/result.json" "$work/mlmd.json"
python3 "$here/report.py" "$work"
