"""Makes the MLflow fixtures under tests/data/mlflow with MLflow itself.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install mlflow scikit-learn
    /tmp/venv/bin/python tests/data/mlflow/make_fixtures.py

Writes two tracking stores holding the same story — `file/mlruns` (the file store, its
model registry under `mlruns/models`) and `sqlite/mlflow.db` (the SQL store) — and, for
each, `truth.json`: what MLflow's own client reads back from that store. The importer's
tests compare what Lineage imported with `truth.json`, never with numbers typed by hand.
"""

import json
import os
import shutil
import sys
import warnings

warnings.filterwarnings("ignore")
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# MLflow 3 keeps the file store in maintenance mode behind this switch; teams still have them.
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"

import numpy as np
import pandas as pd
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
COMMITS = ["3f2c1a9e8b7d6c5b4a39281706f5e4d3c2b1a090", "9a8b7c6d5e4f30211203f4e5d6c7b8a9f0e1d2c3"]


def story(client):
    """Two experiments (and a deleted one), nested runs, a failed and a deleted run,
    dataset inputs, metric histories (one logged with its dataset), logged models, and two registered models with
    several versions, aliases and tags."""
    rng = np.random.default_rng(7)
    customers = pd.DataFrame({"tenure": rng.integers(1, 72, 40), "charges": rng.random(40) * 100})
    customers["churned"] = (customers["tenure"] < 12).astype(int)
    usage = pd.DataFrame({"minutes": rng.random(30) * 500, "calls": rng.integers(0, 20, 30)})
    customers_ds = mlflow.data.from_pandas(customers, source="s3://contoso/customers.parquet", name="customers", targets="churned")
    usage_ds = mlflow.data.from_pandas(usage, source="s3://contoso/usage.parquet", name="usage")

    churn = client.create_experiment("churn", tags={"team": "growth", "priority": "high"})
    pricing = client.create_experiment("pricing", tags={"team": "finance"})
    scratch = client.create_experiment("scratch")

    mlflow.set_experiment(experiment_id=churn)
    models = {}
    with mlflow.start_run(run_name="sweep") as parent:
        mlflow.set_tag("mlflow.source.git.commit", COMMITS[0])
        mlflow.log_param("search", "grid")
        for index, c in enumerate([0.1, 1.0]):
            with mlflow.start_run(run_name=f"c={c}", nested=True) as child:
                mlflow.set_tags({"mlflow.source.git.commit": COMMITS[index % 2], "candidate": str(index)})
                mlflow.log_params({"C": c, "penalty": "l2", "solver": "lbfgs"})
                mlflow.log_input(customers_ds, context="training")
                mlflow.log_input(usage_ds, context="eval")
                for step in range(6):
                    mlflow.log_metric("loss", round(1.0 / (step + 1 + c), 6), step=step)
                    mlflow.log_metric("accuracy", round(0.5 + 0.07 * step * (1 + index) / 2, 6), step=step)
                    # Logged with the dataset it was measured on: MLflow 3's five-field lines.
                    mlflow.log_metric("eval_accuracy", round(0.48 + 0.06 * step, 6), step=step, dataset=usage_ds)
                model = LogisticRegression(C=c).fit(customers[["tenure", "charges"]], customers["churned"])
                info = mlflow.sklearn.log_model(model, name="model")
                models[child.info.run_id] = info.model_uri
        mlflow.log_metric("best_accuracy", 0.91)

    with mlflow.start_run(run_name="broken-features") as failed:
        mlflow.log_param("C", 10)
        mlflow.log_input(customers_ds, context="training")
        mlflow.log_metric("loss", 3.5, step=0)
    client.set_terminated(failed.info.run_id, status="FAILED")

    with mlflow.start_run(run_name="abandoned") as deleted_run:
        mlflow.log_param("C", 0.5)
    client.delete_run(deleted_run.info.run_id)

    # A run logged through the client, in one batch, killed part way.
    run = client.create_run(pricing, tags={"mlflow.runName": "elasticity", "mlflow.source.git.commit": COMMITS[1]})
    client.log_batch(
        run.info.run_id,
        metrics=[Metric("revenue", 100.0 + step, 1_780_000_000_000 + step * 1000, step) for step in range(4)],
        params=[Param("model", "ols")],
        tags=[RunTag("owner", "finance")],
    )
    client.set_terminated(run.info.run_id, status="KILLED")

    mlflow.set_experiment(experiment_id=scratch)
    with mlflow.start_run(run_name="scratch-run"):
        mlflow.log_metric("x", 1.0)
    client.delete_experiment(scratch)

    # The registry: three versions of one model from the two sweep children (and one
    # from the first again), aliases and tags; a second model with one version.
    client.create_registered_model("churn-classifier", tags={"domain": "churn"}, description="Predicts churn")
    children = list(models)
    for run_id in [children[0], children[1], children[0]]:
        mv = client.create_model_version("churn-classifier", models[run_id], run_id=run_id, tags={"trained_on": "customers"})
    client.set_registered_model_alias("churn-classifier", "champion", "2")
    client.set_registered_model_alias("churn-classifier", "challenger", "3")
    client.set_model_version_tag("churn-classifier", "2", "validated", "true")
    client.create_registered_model("usage-forecaster")
    client.create_model_version("usage-forecaster", models[children[1]], run_id=children[1])


def truth(client):
    """What MLflow's own client reads back: the ground truth the importer's tests use."""
    experiments = client.search_experiments(view_type=mlflow.entities.ViewType.ALL)
    out = {"experiments": [], "runs": [], "registered_models": []}
    for experiment in sorted(experiments, key=lambda e: e.name):
        if experiment.name == "Default":
            continue
        out["experiments"].append(
            {
                "id": experiment.experiment_id,
                "name": experiment.name,
                "lifecycle_stage": experiment.lifecycle_stage,
                "tags": {k: v for k, v in experiment.tags.items()},
            }
        )
        runs = client.search_runs([experiment.experiment_id], run_view_type=mlflow.entities.ViewType.ALL)
        for run in sorted(runs, key=lambda r: r.info.start_time):
            metrics = {}
            for key in run.data.metrics:
                history = client.get_metric_history(run.info.run_id, key)
                # The dataset a point was logged with, if any: MLflow's file store reads such
                # a point's step as 0 (FileStore._get_metric_from_line), so the importer's
                # tests cannot take the step of those from this read-back.
                metrics[key] = [
                    [m.value, m.step, m.timestamp, getattr(m, "dataset_name", None)]
                    for m in sorted(history, key=lambda m: (m.step, m.timestamp))
                ]
            out["runs"].append(
                {
                    "id": run.info.run_id,
                    "experiment_id": run.info.experiment_id,
                    "name": run.info.run_name,
                    "status": run.info.status,
                    "lifecycle_stage": run.info.lifecycle_stage,
                    "start_time": run.info.start_time,
                    "end_time": run.info.end_time,
                    "user": run.info.user_id,
                    "params": run.data.params,
                    "tags": run.data.tags,
                    "metrics": metrics,
                    "parent": run.data.tags.get("mlflow.parentRunId"),
                    "inputs": sorted(
                        [
                            {"name": d.dataset.name, "digest": d.dataset.digest, "source": d.dataset.source, "context": {t.key: t.value for t in d.tags}.get("mlflow.data.context")}
                            for d in (run.inputs.dataset_inputs if run.inputs else [])
                        ],
                        key=lambda d: d["name"],
                    ),
                }
            )
    for model in sorted(client.search_registered_models(), key=lambda m: m.name):
        versions = client.search_model_versions(f"name='{model.name}'")
        out["registered_models"].append(
            {
                "name": model.name,
                "description": model.description or "",
                "tags": model.tags,
                "aliases": model.aliases,
                "versions": [
                    {"version": int(v.version), "run_id": v.run_id, "source": v.source, "tags": v.tags, "aliases": v.aliases}
                    for v in sorted(versions, key=lambda v: int(v.version))
                ],
            }
        )
    return out


def make(kind, tracking_uri, folder):
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, tracking_uri)
    story(client)
    with open(os.path.join(folder, "truth.json"), "w") as out:
        json.dump(truth(client), out, indent=1, sort_keys=True)
    print(f"{kind}: {folder}", file=sys.stderr)


def main():
    file_dir = os.path.join(HERE, "file")
    sqlite_dir = os.path.join(HERE, "sqlite")
    for folder in (file_dir, sqlite_dir):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    os.chdir(sqlite_dir)  # the SQL store's default artifact root is ./mlruns beside it
    make("sqlite", "sqlite:///" + os.path.join(sqlite_dir, "mlflow.db"), sqlite_dir)
    os.chdir(file_dir)
    make("file", "file://" + os.path.join(file_dir, "mlruns"), file_dir)


if __name__ == "__main__":
    main()
