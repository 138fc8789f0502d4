"""MLflow's model registry with MLflow's own client: registered models and versions are
Lineage's models and versions, produced by their runs, so lineage walks reach them."""

import uuid

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def test_registered_models_versions_aliases_and_tags(tracking, lineage):
    client = MlflowClient()
    tracking.set_experiment(f"registry-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        tracking.log_metric("auc", 0.9)
    name = f"churn-classifier-{uuid.uuid4().hex[:8]}"
    model = client.create_registered_model(name, tags={"domain": "churn"}, description="Predicts churn")
    assert (model.name, model.description, model.tags) == (name, "Predicts churn", {"domain": "churn"})
    source = f"runs:/{run.info.run_id}/model"
    first = client.create_model_version(name, source, run_id=run.info.run_id, tags={"trained_on": "usage"})
    second = client.create_model_version(name, source, run_id=run.info.run_id)
    assert (first.version, second.version) == ("1", "2")
    assert (first.source, first.run_id, first.status, first.tags) == (source, run.info.run_id, "READY", {"trained_on": "usage"})

    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version_by_alias(name, "champion")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    client.set_model_version_tag(name, "1", "validated", "true")
    assert client.get_model_version(name, "1").tags == {"trained_on": "usage", "validated": "true"}
    client.set_registered_model_tag(name, "owner", "growth")
    assert [found.name for found in client.search_registered_models(filter_string=f"name = '{name}'")] == [name]
    assert [found.name for found in client.search_registered_models(filter_string=f"name LIKE '{name[:14]}%' and tags.owner = 'growth'")] == [name]
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(version.version for version in versions) == ["1", "2"]
    assert len(client.search_model_versions(f"run_id = '{run.info.run_id}'")) == 2
    assert client.get_model_version_download_uri(name, "1") == source
    assert [version.version for version in client.get_latest_versions(name)] == ["2"]

    # The same facts in Lineage: the model's versions came from the run.
    model_id = lineage.graphql(
        "query($name: String) { models(name: $name) { edges { node { id versions { id version runId } } } } }",
        {"name": name},
    )["models"]["edges"][0]["node"]
    assert [version["runId"] for version in model_id["versions"]] == [f"run/{run.info.run_id}"] * 2
    impact = lineage.graphql("query($id: ID!) { impact(id: $id) { modelVersions } }", {"id": f"run/{run.info.run_id}"})
    assert sorted(impact["impact"]["modelVersions"]) == sorted(version["id"] for version in model_id["versions"])


def test_register_model_from_a_run_uri(tracking):
    tracking.set_experiment(f"registry-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        # A model folder, as log_model writes one: MLflow registers a runs:/ URI whose
        # folder holds an MLmodel file from the run's artifact location.
        tracking.log_text("flavors: {}\n", "model/MLmodel")
    name = f"forecaster-{uuid.uuid4().hex[:8]}"
    version = tracking.register_model(f"runs:/{run.info.run_id}/model", name)
    assert (version.name, version.version, version.run_id) == (name, "1", run.info.run_id)
    assert version.source == f"mlflow-artifacts:/{run.info.experiment_id}/{run.info.run_id}/artifacts/model"
    downloaded = tracking.artifacts.download_artifacts(f"models:/{name}/1")
    assert open(f"{downloaded}/MLmodel").read() == "flavors: {}\n"


def test_registry_refusals(tracking):
    client = MlflowClient()
    name = f"taken-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as taken:
        client.create_registered_model(name)
    assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as missing:
        client.get_registered_model("no-such-model")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_version:
        client.get_model_version(name, "7")
    assert no_version.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_stages:
        client.transition_model_version_stage(name, "1", "Production")
    assert no_stages.value.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(MlflowException) as never_made:
        client.delete_model_version(name, "1")
    assert never_made.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as no_tag:
        client.delete_registered_model_tag(name, "never-set")
    assert no_tag.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_registered_models_are_renamed_described_and_untagged(tracking, lineage):
    client = MlflowClient()
    name = f"renamed-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name, tags={"owner": "growth", "stage": "draft"})
    version = client.create_model_version(name, "s3://models/churn/1", tags={"review": "pending"})
    client.rename_registered_model(name, name + "-v2")
    with pytest.raises(MlflowException) as old_name:
        client.get_registered_model(name)
    assert old_name.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.update_registered_model(name + "-v2", description="Predicts churn, monthly")
    client.delete_registered_model_tag(name + "-v2", "stage")
    client.delete_model_version_tag(name + "-v2", version.version, "review")
    model = client.get_registered_model(name + "-v2")
    assert (model.description, model.tags) == ("Predicts churn, monthly", {"owner": "growth"})
    assert client.get_model_version(name + "-v2", "1").tags == {}
    # The old name is free again, for a model of its own.
    assert client.create_registered_model(name).name == name
    history = lineage.graphql(
        "query($name: String) { models(name: $name) { edges { node { id } } } }", {"name": name + "-v2"}
    )["models"]["edges"][0]["node"]["id"]
    kinds = [
        edge["node"]["type"]
        for edge in lineage.graphql(
            "query($id: ID!) { auditTrail(entity: $id, first: 50) { edges { node { type } } } }",
            {"id": history if "/" in history else f"model/{history}"},
        )["auditTrail"]["edges"]
    ]
    assert {"ModelRenamed", "ModelDescribed", "ModelTagDeleted", "ModelVersionTagDeleted"} <= set(kinds), kinds


def test_versions_are_described_and_deleted_and_models_deleted(tracking, lineage):
    client = MlflowClient()
    tracking.set_experiment(f"registry-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        tracking.log_text("flavors: {}\n", "model/MLmodel")
    name = f"retired-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    described = client.update_model_version(name, "2", description="October's retrain")
    assert described.description == "October's retrain"
    assert client.get_model_version(name, "2").description == "October's retrain"
    client.set_registered_model_alias(name, "champion", "3")
    client.delete_model_version(name, "3")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version(name, "3")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # Its alias went with it, and its number is not given out again.
    assert client.get_registered_model(name).aliases == {}
    assert client.create_model_version(name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id).version == "4"
    assert sorted(version.version for version in client.search_model_versions(f"name = '{name}'")) == ["1", "2", "4"]

    model_id = lineage.graphql(
        "query($name: String) { models(name: $name) { edges { node { id } } } }", {"name": name}
    )["models"]["edges"][0]["node"]["id"]
    client.delete_registered_model(name)
    with pytest.raises(MlflowException) as deleted:
        client.get_registered_model(name)
    assert deleted.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_registered_models(filter_string=f"name = '{name}'") == []
    # The name is free again; the deleted model's history stays in the audit trail.
    assert client.create_registered_model(name).name == name
    kinds = [
        edge["node"]["type"]
        for edge in lineage.graphql(
            "query($id: ID!) { auditTrail(entity: $id, first: 50) { edges { node { type } } } }",
            {"id": model_id if "/" in model_id else f"model/{model_id}"},
        )["auditTrail"]["edges"]
    ]
    assert {"ModelVersionDescribed", "ModelVersionDeleted", "ModelDeleted"} <= set(kinds), kinds
