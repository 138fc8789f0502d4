"""MLflow 3's logged models with MLflow's own client: `pyfunc.log_model` writes a run's
logged model and its files through Lineage, `register_model` makes it a Lineage model
version produced by the run, and `load_model` reads it back by alias."""

import json
import os
import uuid

import blake3
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def make_model():
    import mlflow.pyfunc

    class Doubling(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input * 2

    return Doubling()


def test_a_pyfunc_model_is_logged_registered_aliased_and_loaded(tracking, lineage, tmp_path):
    import pandas

    client = MlflowClient()
    tracking.set_experiment(f"models-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        tracking.log_param("factor", "2")
        info = tracking.pyfunc.log_model(name="doubler", python_model=make_model())
    assert info.model_id.startswith(f"m-{run.info.run_id}-")
    logged = client.get_logged_model(info.model_id)
    assert (logged.name, logged.source_run_id, logged.status.to_proto()) == ("doubler", run.info.run_id, 2)
    assert logged.params["factor"] == "2"
    assert client.get_run(run.info.run_id).outputs.model_outputs[0].model_id == info.model_id

    name = f"doubler-{uuid.uuid4().hex[:8]}"
    version = tracking.register_model(info.model_uri, name)
    assert (version.version, version.run_id) == ("1", run.info.run_id)
    # MLflow's client does not read a version's model_id back; its REST answer has it.
    status, answer = lineage.raw("GET", f"/api/2.0/mlflow/model-versions/get?name={name}&version=1")
    assert status == 200 and json.loads(answer)["model_version"]["model_id"] == info.model_id
    client.set_registered_model_alias(name, "champion", "1")
    loaded = tracking.pyfunc.load_model(f"models:/{name}@champion")
    frame = pandas.DataFrame({"x": [1, 2, 3]})
    assert loaded.predict(frame)["x"].tolist() == [2, 4, 6]
    # register_model links the version back on the logged model, as MLflow's server does.
    assert name in client.get_logged_model(info.model_id).tags["mlflow.modelVersions"]

    # In Lineage: the run's logged model, its files among the run's artifacts with the
    # digests of the bytes MLflow uploaded, and the version produced by the run.
    found = lineage.graphql(
        "query($id: ID!) { run(id: $id) { loggedModels { id name status folder } artifacts { path size digest } } }",
        {"id": run.info.run_id},
    )["run"]
    assert found["loggedModels"] == [{"id": info.model_id, "name": "doubler", "status": "READY", "folder": f"models/{info.model_id}"}]
    files = {artifact["path"]: artifact for artifact in found["artifacts"]}
    mlmodel = files[f"models/{info.model_id}/MLmodel"]
    downloaded = tracking.artifacts.download_artifacts(f"models:/{name}@champion", dst_path=str(tmp_path))
    content = open(os.path.join(downloaded, "MLmodel"), "rb").read()
    assert (mlmodel["size"], mlmodel["digest"]) == (len(content), blake3.blake3(content).hexdigest())
    versions = lineage.graphql(
        "query($name: String) { models(name: $name) { edges { node { versions { runId artifactPath run { experiment { name } } } } } } }", {"name": name}
    )["models"]["edges"][0]["node"]["versions"]
    assert [(version["runId"], version["artifactPath"]) for version in versions] == [
        (f"run/{run.info.run_id}", f"models/{info.model_id}")
    ]
    assert versions[0]["run"]["experiment"]["name"], "the version's run and its experiment, in one query"


def test_logged_models_are_searched_tagged_finalized_and_deleted(tracking):
    from mlflow.entities import LoggedModelStatus

    client = MlflowClient()
    experiment = tracking.set_experiment(f"models-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        first = tracking.initialize_logged_model(name="first", model_type="agent", params={"k": "1"}, tags={"team": "a"})
        second = tracking.initialize_logged_model(name="second", params={"k": "2"})
    assert first.status.to_proto() == 1  # pending until finalized
    assert (first.source_run_id, second.source_run_id) == (run.info.run_id, run.info.run_id)
    client.finalize_logged_model(first.model_id, LoggedModelStatus.READY)
    client.finalize_logged_model(second.model_id, LoggedModelStatus.FAILED)
    assert client.get_logged_model(second.model_id).status.to_proto() == 3

    ids = lambda models: [model.model_id for model in models]
    everything = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    assert ids(everything) == [second.model_id, first.model_id]  # newest first
    assert ids(client.search_logged_models(experiment_ids=[experiment.experiment_id], filter_string="params.k = '1'")) == [first.model_id]
    assert ids(client.search_logged_models(experiment_ids=[experiment.experiment_id], filter_string="name LIKE 'sec%'")) == [second.model_id]
    ordered = client.search_logged_models(experiment_ids=[experiment.experiment_id], order_by=[{"field_name": "name", "ascending": True}])
    assert ids(ordered) == [first.model_id, second.model_id]

    client.set_logged_model_tags(first.model_id, {"team": "b", "stage": "candidate"})
    client.delete_logged_model_tag(first.model_id, "stage")
    tags = client.get_logged_model(first.model_id).tags
    assert (tags["team"], "stage" in tags) == ("b", False)
    client.log_model_params(first.model_id, {"depth": "3"})
    assert client.get_logged_model(first.model_id).params == {"k": "1", "depth": "3"}
    with pytest.raises(MlflowException) as changed:
        client.log_model_params(first.model_id, {"k": "9"})
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"

    client.delete_logged_model(second.model_id)
    with pytest.raises(MlflowException) as gone:
        client.get_logged_model(second.model_id)
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert ids(client.search_logged_models(experiment_ids=[experiment.experiment_id])) == [first.model_id]


def test_logged_model_refusals_and_isolation(tracking, lineage):
    client = MlflowClient()
    tracking.set_experiment(f"models-{uuid.uuid4().hex[:8]}")
    with tracking.start_run():
        model = tracking.initialize_logged_model(name="private")
    # A logged model needs its run; an id that names none is not there.
    status, body = lineage.post("logged-models", {"experiment_id": "0", "name": "orphan"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    for unknown in ["m-nope", "m-r-missing-1", model.model_id + "0", model.model_id.replace("-1", "-01")]:
        status, body = lineage.raw("GET", f"/api/2.0/mlflow/logged-models/{unknown}")
        assert status == 404, unknown
    # Another tenant sees no such model, in its own workspace or in this one.
    status, _ = lineage.raw("GET", f"/api/2.0/mlflow/logged-models/{model.model_id}", principal="u-grace")
    assert status == 404
    assert client.get_logged_model(model.model_id).name == "private"
