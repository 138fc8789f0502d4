"""A real `lineage serve` on a loopback port, with the demo story, for MLflow's own client.

The server is the binary `LINEAGE_BIN` names (tests/run builds it); it runs in a fresh
data directory and is stopped after the session. Tokens are issued before it starts.
"""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest


# The server's artifact size bound in these tests (the default is 1 GiB).
ARTIFACT_LIMIT = 4 * 1024 * 1024


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Lineage:
    """The running server: its address, tokens, and GraphQL for checking what MLflow wrote."""

    def __init__(self, url, tokens, data):
        self.url = url
        self.tokens = tokens
        self.data = data

    def tracking_uri(self, account="acct-contoso-exp", workspace="ws-churn", project=None):
        uri = f"{self.url}/mlflow/{account}/{workspace}"
        return f"{uri}/{project}" if project else uri

    def raw(self, method, path, data=None, principal="u-alex"):
        """A raw request under the tracking URI, answering (status, body bytes)."""
        request = urllib.request.Request(
            f"{self.tracking_uri()}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.tokens[principal]}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read()

    def post(self, endpoint, body, principal="u-alex"):
        """A raw request to the MLflow API (for what MLflow's client would not send)."""
        request = urllib.request.Request(
            f"{self.tracking_uri()}/api/2.0/mlflow/{endpoint}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.tokens[principal]}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    def graphql(self, query, variables=None, principal="u-alex"):
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Authorization": f"Bearer {self.tokens[principal]}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = json.loads(answer.read())
        assert "errors" not in body, body
        return body["data"]


def run(binary, *arguments):
    done = subprocess.run([binary, *arguments], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def lineage(tmp_path_factory):
    binary = os.environ.get("LINEAGE_BIN", "target/debug/lineage")
    data = str(tmp_path_factory.mktemp("lineage") / "data")
    run(binary, "demo", "--data-dir", data)
    tokens = {}
    for principal in ["u-alex", "u-grace"]:
        printed = run(binary, "token", "create", "--data-dir", data, "--principal", principal, "--label", "mlflow tests")
        # The first token create also makes the administrator and prints its token first.
        tokens[principal] = [word for word in printed.split() if word.startswith("lin_")][-1]
    port = free_port()
    server = subprocess.Popen(
        [binary, "serve", "--data-dir", data, "--bind", f"127.0.0.1:{port}", "--max-artifact-bytes", str(ARTIFACT_LIMIT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            break
        except OSError:
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "lineage serve did not come up"
            time.sleep(0.1)
    yield Lineage(url, tokens, data)
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def tracking(lineage, monkeypatch):
    """MLflow's client pointed at Contoso's churn workspace as u-alex."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", lineage.tracking_uri())
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", lineage.tokens["u-alex"])
    # Refusals are 4xx and answered at once; retrying is for real outages only.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    mlflow.set_tracking_uri(lineage.tracking_uri())
    yield mlflow
    while mlflow.active_run():
        mlflow.end_run()
