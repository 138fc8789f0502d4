"""The peers' side of the side-by-side benchmark: MLflow (in-process on SQLite, and
through `mlflow server` on SQLite over HTTP) and ML Metadata (on SQLite), on the same
workloads as `lineage bench --peers`. Writes one JSON object to WORKDIR/result.json.

    python peers.py mlflow RUNS WORKDIR [PER_POINT_HTTP_RUNS]   (MLflow's environment)
    python peers.py mlmd CHAINS WORKDIR     (in the ML Metadata virtual environment)
"""

import json
import os
import random
import resource
import subprocess
import sys
import time
import urllib.request

PARAMS, TAGS, POINTS = 10, 5, 100


def percentiles(samples):
    samples = sorted(samples)
    at = lambda fraction: samples[int((len(samples) - 1) * fraction)] * 1000.0
    return at(0.5), at(0.99)


def peak_rss_mib(pid=None):
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def tree_rss_mib(pid):
    """Peak RSS of a process and its children (mlflow server runs workers)."""
    total = peak_rss_mib(pid)
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    except FileNotFoundError:
        children = []
    return total + sum(tree_rss_mib(int(child)) for child in children)


def disk_mib(path):
    if os.path.isfile(path):
        return os.path.getsize(path) / 1048576.0
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total / 1048576.0


def ingest(client, experiment, runs, per_point):
    from mlflow.entities import Metric, Param, RunTag

    latencies = []
    started = time.perf_counter()
    run_ids = []

    def timed(call, *args, **kwargs):
        sent = time.perf_counter()
        result = call(*args, **kwargs)
        latencies.append(time.perf_counter() - sent)
        return result

    for index in range(runs):
        run = timed(client.create_run, experiment)
        run_id = run.info.run_id
        run_ids.append(run_id)
        timed(client.log_batch, run_id, params=[Param(f"param_{i}", str(i * 7)) for i in range(PARAMS)])
        timed(client.log_batch, run_id, tags=[RunTag(f"tag_{i}", f"value {i}") for i in range(TAGS)])
        now = int(time.time() * 1000)
        if per_point:
            for step in range(POINTS):
                timed(client.log_metric, run_id, "loss", 1.0 / (step + 1), timestamp=now, step=step)
        else:
            timed(client.log_batch, run_id, metrics=[Metric("loss", 1.0 / (step + 1), now, step) for step in range(POINTS)])
        timed(client.set_terminated, run_id, "FINISHED")
    seconds = time.perf_counter() - started
    p50, p99 = percentiles(latencies)
    return {"runs_per_s": runs / seconds, "points_per_s": runs * POINTS / seconds,
            "write_p50_ms": p50, "write_p99_ms": p99, "seconds": seconds}, run_ids


def registry(client, run_ids):
    latencies = []
    client.create_registered_model("registry")
    started = time.perf_counter()
    for run_id in run_ids:
        sent = time.perf_counter()
        client.create_model_version("registry", f"runs:/{run_id}/model", run_id=run_id)
        latencies.append(time.perf_counter() - sent)
    seconds = time.perf_counter() - started
    p50, p99 = percentiles(latencies)
    lookups = []
    for version in range(1, len(run_ids) + 1):
        sent = time.perf_counter()
        model_version = client.get_model_version("registry", str(version))
        client.get_run(model_version.run_id)
        lookups.append(time.perf_counter() - sent)
    l50, l99 = percentiles(lookups)
    return {"versions_per_s": len(run_ids) / seconds, "register_p50_ms": p50, "register_p99_ms": p99,
            "lookup_p50_ms": l50, "lookup_p99_ms": l99}


def mlflow_side(runs, workdir, per_point_http_runs):
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    from mlflow import MlflowClient

    report = {}
    # In-process, SQLite.
    db = os.path.join(workdir, "mlflow-inproc.db")
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri, uri)
    batched, run_ids = ingest(client, client.create_experiment("batched"), runs, per_point=False)
    per_point, _ = ingest(client, client.create_experiment("per-point"), runs, per_point=True)
    report["w1_in_process_batched"], report["w1_in_process_per_point"] = batched, per_point
    report["registry_in_process"] = registry(client, run_ids)
    report["w1_in_process_disk_mib"] = disk_mib(db)
    report["w1_in_process_peak_rss_mib"] = peak_rss_mib()

    # Through `mlflow server`, SQLite backend, over HTTP.
    db = os.path.join(workdir, "mlflow-server.db")
    port = 5071
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
         "--default-artifact-root", os.path.join(workdir, "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         # gunicorn: MLflow's default uvicorn stalls ~40 ms per keep-alive request.
         "--workers", "4", "--gunicorn-opts", "--keep-alive 30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except Exception:
                if time.time() > deadline:
                    raise RuntimeError("mlflow server did not start")
                time.sleep(0.5)
        uri = f"http://127.0.0.1:{port}"
        client = MlflowClient(uri, uri)
        batched, run_ids = ingest(client, client.create_experiment("batched"), runs, per_point=False)
        # One call per point through the server is slow enough that fewer runs are
        # timed (rates are per second either way; the report says how many).
        per_point, _ = ingest(client, client.create_experiment("per-point"), per_point_http_runs, per_point=True)
        per_point["runs"] = per_point_http_runs
        report["w1_http_batched"], report["w1_http_per_point"] = batched, per_point
        report["registry_http"] = registry(client, run_ids)
        report["w1_http_disk_mib"] = disk_mib(db)
        report["w1_http_peak_rss_mib"] = tree_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait()
    report["mlflow_version"] = __import__("mlflow").__version__
    return report


def mlmd_side(chains, workdir):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    db = os.path.join(workdir, "mlmd.db")
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = db
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)

    def artifact_type(name):
        kind = pb.ArtifactType(name=name)
        kind.properties["version"] = pb.STRING
        return store.put_artifact_type(kind)

    def execution_type(name):
        return store.put_execution_type(pb.ExecutionType(name=name))

    kinds = {name: artifact_type(name) for name in ["Dataset", "ModelVersion", "ManifestVersion", "ImageVersion", "Service"]}
    steps = {name: execution_type(name) for name in ["Train", "Package", "Build", "Deploy"]}

    def event(kind):
        return pb.Event(type=kind)

    services = []
    started = time.perf_counter()
    for index in range(chains):
        # dataset → training run → model version → manifest → image → service
        dataset = pb.Artifact(type_id=kinds["Dataset"], uri=f"/data/{index}")
        [dataset_id] = store.put_artifacts([dataset])
        chain = [("Train", "ModelVersion"), ("Package", "ManifestVersion"), ("Build", "ImageVersion"), ("Deploy", "Service")]
        source = dataset_id
        for step, output in chain:
            execution = pb.Execution(type_id=steps[step], last_known_state=pb.Execution.COMPLETE)
            produced = pb.Artifact(type_id=kinds[output], uri=f"{output}/{index}")
            source_artifact = store.get_artifacts_by_id([source])[0]
            _, [_, produced_id], _ = store.put_execution(
                execution,
                [(source_artifact, event(pb.Event.INPUT)), (produced, event(pb.Event.OUTPUT))],
                [])
            source = produced_id
        services.append(source)
    insert_seconds = time.perf_counter() - started

    rng = random.Random(7)
    picks = [rng.choice(services) for _ in range(1000)]
    samples = []
    for service in picks:
        query = pb.LineageSubgraphQueryOptions()
        query.starting_artifacts.filter_query = f"id = {service}"
        query.max_num_hops = 8
        sent = time.perf_counter()
        subgraph = store.get_lineage_subgraph(query)
        samples.append(time.perf_counter() - sent)
        if not any(artifact.type_id == kinds["Dataset"] for artifact in subgraph.artifacts):
            raise RuntimeError(f"the lineage of service {service} does not reach its dataset")
    p50, p99 = percentiles(samples)
    import ml_metadata
    return {"w2": {"chains_per_s": chains / insert_seconds, "insert_seconds": insert_seconds,
                   "trace_in_process_p50_ms": p50, "trace_in_process_p99_ms": p99,
                   "disk_mib": disk_mib(db), "peak_rss_mib": peak_rss_mib()},
            "ml_metadata_version": ml_metadata.__version__}


if __name__ == "__main__":
    side, size, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(workdir, exist_ok=True)
    if side == "mlflow":
        result = mlflow_side(size, workdir, int(sys.argv[4]) if len(sys.argv) > 4 else size)
    else:
        result = mlmd_side(size, workdir)
    # A file, not stdout: the peers print their own messages there.
    with open(os.path.join(workdir, "result.json"), "w") as out:
        json.dump(result, out, indent=1, sort_keys=True)
