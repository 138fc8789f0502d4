"""MLflow's own client against any MLflow tracking server, for the side-by-side table of
BENCHMARKS.md (run by mlflow_api.sh, which starts each server in turn).

    python mlflow_api.py prepare URI             makes an experiment and a run; prints the run id
    python mlflow_api.py client URI RUNS OUT     W1 and the registry workload; writes OUT (JSON)

The token, if the server needs one, comes in MLFLOW_TRACKING_TOKEN as MLflow's client
takes it.
"""

import json
import sys
import time
import uuid

POINTS = 100


def prepare(uri):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.create_experiment(f"load-{uuid.uuid4().hex[:8]}")
    print(client.create_run(experiment).info.run_id)


def timed(work, count):
    start = time.perf_counter()
    for index in range(count):
        work(index)
    return time.perf_counter() - start


def client_workloads(uri, runs, out):
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.create_experiment(f"w1-{uuid.uuid4().hex[:8]}")
    made = [client.create_run(experiment).info.run_id for _ in range(runs + 1)]
    # A warm-up run, not counted: connections, imports, caches.
    for step in range(POINTS):
        client.log_metric(made[-1], "loss", 1.0 / (step + 1), step=step)

    def per_point(index):
        run = made[index // POINTS]
        client.log_metric(run, "loss", 1.0 / (index + 1), step=index % POINTS)

    per_point_seconds = timed(per_point, runs * POINTS)
    now = int(time.time() * 1000)

    def batched(index):
        points = [Metric("acc", step / POINTS, now, step) for step in range(POINTS)]
        client.log_batch(made[index], metrics=points)

    batched_seconds = timed(batched, runs)

    versions = max(runs, 10)

    def registry(index):
        version = client.create_model_version(name, "s3://models/churn", run_id=made[index % runs]).version
        client.set_registered_model_alias(name, "champion", version)
        client.get_model_version_by_alias(name, "champion")

    try:
        name = f"registry-{uuid.uuid4().hex[:8]}"
        client.create_registered_model(name)
        registry_rate = versions * 3 / timed(registry, versions)
    except Exception as missing:  # a server without MLflow's model registry
        print(f"registry workload: {missing}", file=sys.stderr)
        registry_rate = None
    result = {
        "log_metric_ms": per_point_seconds * 1000 / (runs * POINTS),
        "batched_points_per_s": runs * POINTS / batched_seconds,
        "registry_ops_per_s": registry_rate,
    }
    with open(out, "w") as written:
        json.dump(result, written)
    print(json.dumps(result))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "prepare":
        prepare(sys.argv[2])
    elif mode == "client":
        client_workloads(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(f"unknown mode {mode}: prepare or client")
