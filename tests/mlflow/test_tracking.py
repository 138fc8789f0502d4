"""MLflow's own client — the fluent API and MlflowClient — against `lineage serve`, then
GraphQL to check that the same facts are in Lineage's log."""

import uuid

import pytest
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException, RestException


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_code(raised):
    return raised.value.error_code


def test_a_fluent_run_records_params_metrics_tags_and_its_end(tracking, lineage):
    tracking.set_experiment(unique("churn-sweep"))
    with tracking.start_run(run_name="baseline") as run:
        tracking.log_param("model", "gbm")
        tracking.log_params({"depth": 6, "lr": 0.1})
        for step in range(5):
            tracking.log_metric("loss", 1.0 / (step + 1), step=step)
        tracking.log_metrics({"acc": 0.91, "auc": 0.88})
        tracking.set_tag("team", "growth")
        tracking.set_tags({"stage": "review"})
    fetched = MlflowClient().get_run(run.info.run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.run_name == "baseline"
    assert fetched.info.end_time >= fetched.info.start_time
    assert fetched.data.params == {"model": "gbm", "depth": "6", "lr": "0.1"}
    assert fetched.data.metrics == {"loss": pytest.approx(0.2), "acc": 0.91, "auc": 0.88}
    assert fetched.data.tags["team"] == "growth"
    assert fetched.data.tags["stage"] == "review"

    seen = lineage.graphql(
        "query($id: ID!) { run(id: $id) { status params { key value } metrics { name value }"
        " metricHistory(name: \"loss\") { step value } tags { key value } } }",
        {"id": run.info.run_id},
    )["run"]
    assert seen["status"] == "COMPLETED"
    assert {pair["key"]: pair["value"] for pair in seen["params"]} == fetched.data.params
    assert [point["step"] for point in seen["metricHistory"]] == [0, 1, 2, 3, 4]
    assert {pair["key"]: pair["value"] for pair in seen["tags"]}["team"] == "growth"
    trail = lineage.graphql(
        "query($id: ID!) { auditTrail(entity: $id, first: 50) { edges { node { type actor } } } }",
        {"id": f"run/{run.info.run_id}"},
    )["auditTrail"]["edges"]
    kinds = [edge["node"]["type"] for edge in trail]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunCompleted", kinds
    assert {edge["node"]["actor"] for edge in trail} == {"u-alex"}


def test_nested_runs_keep_their_parent(tracking, lineage):
    tracking.set_experiment(unique("nested"))
    with tracking.start_run() as parent:
        with tracking.start_run(nested=True) as child:
            tracking.log_metric("fold_acc", 0.8)
    client = MlflowClient()
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert [found.info.run_id for found in children] == [child.info.run_id]
    seen = lineage.graphql("query($id: ID!) { run(id: $id) { parent } }", {"id": child.info.run_id})
    assert seen["run"]["parent"] == f"run/{parent.info.run_id}"


def test_metric_history_keeps_every_point_in_order(tracking):
    tracking.set_experiment(unique("history"))
    with tracking.start_run() as run:
        for step in range(10):
            tracking.log_metric("loss", 10 - step, step=step)
    history = MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert [(point.step, point.value) for point in history] == [(step, 10 - step) for step in range(10)]


def test_log_batch_keeps_mlflows_semantics_and_limits(tracking, lineage):
    client = MlflowClient()
    experiment = client.create_experiment(unique("batch"))
    run = client.create_run(experiment)
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("m", float(step), 1_700_000_000_000 + step, step) for step in range(100)],
        params=[Param("optimizer", "adam")],
        tags=[RunTag("note", "first")],
    )
    client.log_batch(run_id, params=[Param("optimizer", "adam")], tags=[RunTag("note", "second")])
    with pytest.raises(MlflowException) as changed:
        client.log_batch(run_id, params=[Param("optimizer", "sgd")])
    assert error_code(changed) == "INVALID_PARAMETER_VALUE"
    # MLflow's client splits what is over the limits; a request that is not is refused whole.
    head = lineage.graphql("{ head }")["head"]
    points = [{"key": "m", "value": 1.0, "timestamp": 0, "step": step} for step in range(1001)]
    status, answer = lineage.post("runs/log-batch", {"run_id": run_id, "metrics": points})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), answer
    assert "at most 1000 metrics" in answer["message"]
    assert lineage.graphql("{ head }")["head"] == head
    client.log_batch(run_id, metrics=[Metric("big", float(step), 0, step) for step in range(2500)])
    assert len(client.get_metric_history(run_id, "big")) == 2500
    fetched = client.get_run(run_id)
    assert fetched.data.params == {"optimizer": "adam"}
    assert fetched.data.tags["note"] == "second"
    assert len(client.get_metric_history(run_id, "m")) == 100


def test_search_filters_and_orders_with_mlflows_grammar(tracking):
    client = MlflowClient()
    experiment = client.create_experiment(unique("search"))
    made = {}
    for name, acc, model, team in [("a", 0.95, "x", "alpha"), ("b", 0.93, "x", "beta"), ("c", 0.97, "y", "alpha"), ("d", 0.85, "x", "alpha")]:
        run = client.create_run(experiment, run_name=name, tags={"team": team})
        client.log_metric(run.info.run_id, "acc", acc)
        client.log_param(run.info.run_id, "model", model)
        client.set_terminated(run.info.run_id)
        made[name] = run.info.run_id
    found = client.search_runs(
        [experiment],
        filter_string="metrics.acc > 0.9 and params.model = 'x' and tags.`team` LIKE 'a%' and attributes.status = 'FINISHED'",
    )
    assert [run.info.run_id for run in found] == [made["a"]]
    ordered = client.search_runs([experiment], order_by=["metrics.acc DESC"])
    assert [run.info.run_name for run in ordered] == ["c", "a", "b", "d"]
    first = client.search_runs([experiment], order_by=["metrics.acc ASC"], max_results=3)
    assert [run.info.run_name for run in first] == ["d", "b", "a"] and first.token
    rest = client.search_runs([experiment], order_by=["metrics.acc ASC"], max_results=3, page_token=first.token)
    assert [run.info.run_name for run in rest] == ["c"] and not rest.token
    assert len(client.search_runs([experiment], filter_string="params.model != 'x'")) == 1
    assert len(client.search_runs([experiment], filter_string="attributes.run_name ILIKE 'A'")) == 1
    with pytest.raises(MlflowException) as bad:
        client.search_runs([experiment], filter_string="metrics.acc > 'high'")
    assert error_code(bad) == "INVALID_PARAMETER_VALUE"


def test_runs_and_experiments_are_deleted_restored_renamed_and_tagged(tracking):
    client = MlflowClient()
    name = unique("lifecycle")
    experiment = client.create_experiment(name, tags={"owner": "growth"})
    run = client.create_run(experiment)
    client.delete_run(run.info.run_id)
    assert client.search_runs([experiment]) == []
    assert [found.info.run_id for found in client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY)] == [run.info.run_id]
    client.restore_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"
    client.set_tag(run.info.run_id, "temporary", "yes")
    client.delete_tag(run.info.run_id, "temporary")
    assert "temporary" not in client.get_run(run.info.run_id).data.tags

    client.rename_experiment(experiment, name + "-renamed")
    assert client.get_experiment_by_name(name + "-renamed").experiment_id == experiment
    client.set_experiment_tag(experiment, "stage", "prod")
    assert client.get_experiment(experiment).tags == {"owner": "growth", "stage": "prod"}
    found = client.search_experiments(filter_string=f"name LIKE '{name}%' and tags.stage = 'prod'")
    assert [found.experiment_id for found in found] == [experiment]
    client.delete_experiment(experiment)
    assert client.get_experiment(experiment).lifecycle_stage == "deleted"
    assert experiment not in [found.experiment_id for found in client.search_experiments()]
    client.restore_experiment(experiment)
    assert client.get_experiment(experiment).lifecycle_stage == "active"


def test_datasets_logged_as_inputs_become_lineage(tracking, lineage):
    client = MlflowClient()
    experiment = client.create_experiment(unique("datasets"))
    run = client.create_run(experiment)
    dataset = Dataset(name="usage", digest="d41d8cd9", source_type="local", source="/data/usage.parquet")
    client.log_inputs(run.info.run_id, [DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])])
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(found.dataset.name, found.dataset.digest) for found in inputs] == [("usage", "d41d8cd9")]
    assert len(client.search_runs([experiment], filter_string="datasets.name = 'usage'")) == 1
    # The context is kept with the input, shown back and searchable.
    assert [(tag.key, tag.value) for tag in inputs[0].tags] == [("mlflow.data.context", "training")]
    assert len(client.search_runs([experiment], filter_string="datasets.context = 'training'")) == 1
    assert client.search_runs([experiment], filter_string="datasets.context = 'eval'") == []
    walk = lineage.graphql(
        "query($id: ID!) { lineage(id: $id, direction: UPSTREAM, depth: 1) { nodes { id kind } } }",
        {"id": f"run/{run.info.run_id}"},
    )["lineage"]["nodes"]
    assert any(node["kind"] == "dataset" for node in walk), walk


def test_refusals_have_mlflows_codes_and_change_nothing(tracking, lineage, monkeypatch):
    client = MlflowClient()
    head = lineage.graphql("{ head }")["head"]
    with pytest.raises(MlflowException) as missing:
        client.get_run("mlflow-run-00000000000000000000000000000000")
    assert error_code(missing) == "RESOURCE_DOES_NOT_EXIST"
    name = unique("taken")
    client.create_experiment(name)
    head = lineage.graphql("{ head }")["head"]
    with pytest.raises(MlflowException) as taken:
        client.create_experiment(name)
    assert error_code(taken) == "RESOURCE_ALREADY_EXISTS"
    run = client.create_run(client.get_experiment_by_name(name).experiment_id)
    head = lineage.graphql("{ head }")["head"]
    with pytest.raises(MlflowException) as no_tag:
        client.delete_tag(run.info.run_id, "never-set")
    assert error_code(no_tag) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as not_a_number:
        client.log_metric(run.info.run_id, "loss", float("nan"))
    assert error_code(not_a_number) == "INVALID_PARAMETER_VALUE"
    assert lineage.graphql("{ head }")["head"] == head, "refused requests appended nothing"

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "lin_not-a-token")
    with pytest.raises(MlflowException) as stranger:
        MlflowClient().get_run(run.info.run_id)
    assert error_code(stranger) == "UNAUTHENTICATED"


def test_another_tenant_learns_nothing(tracking, lineage, monkeypatch):
    client = MlflowClient()
    run = client.create_run(client.create_experiment(unique("private")))
    # Grace (Fabrikam only) with Contoso's tracking URI, and with her own.
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", lineage.tokens["u-grace"])
    with pytest.raises(MlflowException) as foreign_account:
        MlflowClient(tracking_uri=lineage.tracking_uri()).get_run(run.info.run_id)
    assert error_code(foreign_account) == "RESOURCE_DOES_NOT_EXIST"
    own = MlflowClient(tracking_uri=lineage.tracking_uri("acct-fabrikam-exp", "ws-fraud"))
    with pytest.raises(MlflowException) as foreign_run:
        own.get_run(run.info.run_id)
    with pytest.raises(MlflowException) as unknown_run:
        own.get_run("mlflow-run-11111111111111111111111111111111")
    assert error_code(foreign_run) == error_code(unknown_run) == "RESOURCE_DOES_NOT_EXIST"
    assert str(foreign_run.value.message).replace(run.info.run_id, "X") == str(unknown_run.value.message).replace(
        "mlflow-run-11111111111111111111111111111111", "X"
    )
    # Writing to it reads the same: the endpoints that only append answer on a path of their own.
    with pytest.raises(MlflowException) as foreign_write:
        own.log_metric(run.info.run_id, "loss", 0.5)
    with pytest.raises(MlflowException) as unknown_write:
        own.log_metric("mlflow-run-11111111111111111111111111111111", "loss", 0.5)
    assert error_code(foreign_write) == error_code(unknown_write) == "RESOURCE_DOES_NOT_EXIST"
    assert str(foreign_write.value.message).replace(run.info.run_id, "X") == str(unknown_write.value.message).replace(
        "mlflow-run-11111111111111111111111111111111", "X"
    )


def test_the_uis_sampled_history_spans_runs(tracking, lineage):
    import json

    tracking.set_experiment(unique("charts"))
    runs = []
    for offset in [0, 100]:
        with tracking.start_run() as run:
            for step in range(50):
                tracking.log_metrics({"loss": offset + step}, step=step)
        runs.append(run.info.run_id)
    query = "&".join(f"run_ids={run}" for run in runs)
    status, body = lineage.raw(
        "GET", f"/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{query}&metric_key=loss&max_results=5"
    )
    assert status == 200, body
    metrics = json.loads(body)["metrics"]
    assert [(metric["run_id"], metric["step"]) for metric in metrics] == [
        (run, step) for run in runs for step in [0, 12, 24, 36, 49]
    ]
    assert metrics[5]["value"] == 100
    status, body = lineage.raw("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?metric_key=loss")
    assert (status, json.loads(body)["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
