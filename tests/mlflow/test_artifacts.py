"""Artifacts through Lineage's `mlflow-artifacts` proxy with MLflow's own client: uploads
stored by content, their size and blake3 digest in the log, listed, downloaded and
deleted; bad paths, oversized files and other tenants' runs refused with nothing kept."""

import json
import os
import uuid

import blake3
import pytest
from conftest import ARTIFACT_LIMIT
from mlflow import MlflowClient


def stored_files(lineage):
    root = os.path.join(lineage.data, "artifacts")
    return sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if "incoming" not in folder
    )


def test_artifacts_upload_list_download_and_match_their_digests(tracking, lineage, tmp_path):
    tracking.set_experiment(f"artifacts-{uuid.uuid4().hex[:8]}")
    model_bytes = os.urandom(300_000)
    (tmp_path / "model.bin").write_bytes(model_bytes)
    with tracking.start_run() as run:
        tracking.log_text("hello, lineage", "notes/hello.txt")
        tracking.log_dict({"depth": 6}, "config.json")
        tracking.log_artifact(str(tmp_path / "model.bin"), artifact_path="model")
    client = MlflowClient()
    listed = client.list_artifacts(run.info.run_id)
    assert [(entry.path, entry.is_dir) for entry in listed] == [("config.json", False), ("model", True), ("notes", True)]
    assert [entry.path for entry in client.list_artifacts(run.info.run_id, "model")] == ["model/model.bin"]
    assert [entry.file_size for entry in client.list_artifacts(run.info.run_id, "model")] == [300_000]
    downloaded = client.download_artifacts(run.info.run_id, "model/model.bin", str(tmp_path / "back"))
    assert open(downloaded, "rb").read() == model_bytes
    assert tracking.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello, lineage"

    seen = lineage.graphql(
        "query($id: ID!) { run(id: $id) { artifacts { path size digest } } }", {"id": run.info.run_id}
    )["run"]["artifacts"]
    by_path = {artifact["path"]: artifact for artifact in seen}
    assert by_path["model/model.bin"]["size"] == len(model_bytes)
    assert by_path["model/model.bin"]["digest"] == blake3.blake3(model_bytes).hexdigest()
    assert by_path["notes/hello.txt"]["digest"] == blake3.blake3(b"hello, lineage").hexdigest()
    assert json.loads(open(client.download_artifacts(run.info.run_id, "config.json", str(tmp_path / "c"))).read()) == {"depth": 6}
    # The bytes on disk are those the log's digest names.
    digest = by_path["model/model.bin"]["digest"]
    assert open(os.path.join(lineage.data, "artifacts", digest[:2], digest), "rb").read() == model_bytes


def test_artifacts_are_deleted_by_folder_and_history_keeps_them(tracking, lineage):
    tracking.set_experiment(f"artifacts-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        tracking.log_text("a", "scratch/a.txt")
        tracking.log_text("b", "scratch/b.txt")
        tracking.log_text("keep", "keep.txt")
    base = f"/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts"
    status, _ = lineage.raw("DELETE", f"{base}/scratch")
    assert status == 200
    assert [entry.path for entry in MlflowClient().list_artifacts(run.info.run_id)] == ["keep.txt"]
    status, body = lineage.raw("DELETE", f"{base}/scratch")
    assert (status, json.loads(body)["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    trail = lineage.graphql(
        "query($id: ID!) { auditTrail(entity: $id, first: 50) { edges { node { type } } } }",
        {"id": f"run/{run.info.run_id}"},
    )["auditTrail"]["edges"]
    assert [edge["node"]["type"] for edge in trail].count("ArtifactsRecorded") == 3
    assert "ArtifactsDeleted" in [edge["node"]["type"] for edge in trail]


def test_bad_uploads_are_refused_and_store_nothing(tracking, lineage):
    tracking.set_experiment(f"artifacts-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        pass
    base = f"/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts"
    head = lineage.graphql("{ head }")["head"]
    before = stored_files(lineage)
    for path, status, code in [
        (f"{base}/../../escape.txt", 400, "INVALID_PARAMETER_VALUE"),
        (f"{base}/a/%2e%2e/b.txt", 400, "INVALID_PARAMETER_VALUE"),
        (f"{base}/a//b.txt", 400, "INVALID_PARAMETER_VALUE"),
        (f"/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/mlflow-run-{'0' * 32}/artifacts/x.txt", 404, "RESOURCE_DOES_NOT_EXIST"),
        (f"/api/2.0/mlflow-artifacts/artifacts/nowhere/x.txt", 404, "RESOURCE_DOES_NOT_EXIST"),
    ]:
        answered, body = lineage.raw("PUT", path, data=b"content")
        assert (answered, json.loads(body)["error_code"]) == (status, code), (path, body)
    answered, body = lineage.raw("PUT", f"{base}/big.bin", data=os.urandom(ARTIFACT_LIMIT + 1))
    assert (answered, json.loads(body)["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body
    assert b"over the limit" in body
    assert lineage.graphql("{ head }")["head"] == head, "nothing appended"
    assert stored_files(lineage) == before, "nothing stored"
    assert os.listdir(os.path.join(lineage.data, "artifacts", "incoming")) == [], "no upload left behind"


def test_another_tenants_run_has_no_artifacts_to_show(tracking, lineage):
    tracking.set_experiment(f"artifacts-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        tracking.log_text("secret", "secret.txt")
    base = f"/api/2.0/mlflow-artifacts/artifacts/{run.info.experiment_id}/{run.info.run_id}/artifacts"
    status, body = lineage.raw("GET", f"{base}/secret.txt", principal="u-grace")
    assert (status, json.loads(body)["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, body = lineage.raw("PUT", f"{base}/planted.txt", data=b"x", principal="u-grace")
    assert (status, json.loads(body)["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, body = lineage.raw("GET", f"{base}/secret.txt")
    assert (status, body) == (200, b"secret")


def incoming(lineage):
    folder = os.path.join(lineage.data, "artifacts", "incoming")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_multipart_uploads_join_their_parts_into_one_recorded_artifact(tracking, lineage, tmp_path, monkeypatch):
    # MLflow's client uploads in parts when told to, for files over a minimum size.
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1024 * 1024))
    tracking.set_experiment(f"artifacts-{uuid.uuid4().hex[:8]}")
    content = os.urandom(3 * 1024 * 1024 + 12345)
    (tmp_path / "weights.bin").write_bytes(content)
    before = incoming(lineage)
    with tracking.start_run() as run:
        tracking.log_artifact(str(tmp_path / "weights.bin"), artifact_path="model")
    seen = lineage.graphql(
        "query($id: ID!) { run(id: $id) { artifacts { path size digest } } }", {"id": run.info.run_id}
    )["run"]["artifacts"]
    assert seen == [{"path": "model/weights.bin", "size": len(content), "digest": blake3.blake3(content).hexdigest()}]
    back = MlflowClient().download_artifacts(run.info.run_id, "model/weights.bin", str(tmp_path / "back"))
    assert open(back, "rb").read() == content
    # The parts are gone once joined.
    assert incoming(lineage) == before


def test_multipart_refusals_keep_nothing(tracking, lineage):
    tracking.set_experiment(f"artifacts-{uuid.uuid4().hex[:8]}")
    with tracking.start_run() as run:
        pass
    place = f"{run.info.experiment_id}/{run.info.run_id}/artifacts/model"
    mpu = "/api/2.0/mlflow-artifacts/mpu"
    status, body = lineage.raw("POST", f"{mpu}/create/{place}", json.dumps({"path": "/tmp/big.bin", "num_parts": 2}).encode())
    assert status == 200, body
    created = json.loads(body)
    upload_id, urls = created["upload_id"], [credential["url"] for credential in created["credentials"]]
    assert len(urls) == 2
    # Parts go to the URLs handed out; an id this server did not make admits nothing.
    import urllib.request

    def put(url, data):
        request = urllib.request.Request(url, data=data, method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.headers.get("ETag")
        except urllib.error.HTTPError as refused:
            return refused.code, None

    assert put(urls[0], b"first part")[0] == 200
    assert put(urls[0].replace(upload_id, "mpu-" + "0" * 32), b"x")[0] == 404
    assert put(urls[1].rsplit("/", 1)[0] + "/3", b"x")[0] == 400
    # Another principal cannot complete it; a missing part is refused; both keep nothing.
    complete = json.dumps({"path": "/tmp/big.bin", "upload_id": upload_id, "parts": [{"part_number": 1}, {"part_number": 2}]}).encode()
    assert lineage.raw("POST", f"{mpu}/complete/{place}", complete, principal="u-grace")[0] == 404
    assert lineage.raw("POST", f"{mpu}/complete/{place}", complete)[0] == 400
    assert lineage.graphql("query($id: ID!) { run(id: $id) { artifacts { path } } }", {"id": run.info.run_id})["run"]["artifacts"] == []
    # A path that could leave the run is refused at create; abort drops the parts.
    assert lineage.raw("POST", f"{mpu}/create/{run.info.experiment_id}/{run.info.run_id}/artifacts/..", b'{"path": "x"}')[0] in (400, 404)
    assert upload_id in incoming(lineage)
    assert lineage.raw("POST", f"{mpu}/abort/{place}", json.dumps({"path": "big.bin", "upload_id": upload_id}).encode())[0] == 200
    assert upload_id not in incoming(lineage)
