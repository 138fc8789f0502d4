"""Makes the OpenLineage fixture under tests/data/openlineage with openlineage-python.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install openlineage-python
    /tmp/venv/bin/python tests/data/openlineage/make_fixtures.py

Writes `pipeline.ndjson`: the events a small pipeline emits — raw data → features →
training → model, inside an orchestrator's DAG run (the parent), with a failed and an
aborted run and one event sent twice — serialized by the client library itself, and
`truth.json`: what the pipeline did, as the script knows it, for the importer's tests.

With `--post URL TOKEN ACCOUNT WORKSPACE` it also sends the events to a running
`lineage serve` through the library's own HTTP transport (as a pipeline pointed at
Lineage would), e.g. `--post http://127.0.0.1:8080 lin_… acct-contoso-exp ws-churn`.
"""

import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    parent_run,
    schema_dataset,
    source_code_location_job,
)
from openlineage.client.serde import Serde

HERE = os.path.dirname(os.path.abspath(__file__))
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
NAMESPACE = "contoso-pipelines"
START = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)


def field(name, kind, description=None):
    return schema_dataset.SchemaDatasetFacetFields(name=name, type=kind, description=description)


def dataset(kind, namespace, name, version, fields):
    facets = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version),
        "schema": schema_dataset.SchemaDatasetFacet(fields=fields),
    }
    return kind(namespace=namespace, name=name, facets=facets)


RAW = ("s3://contoso-lake", "raw/customers", "2026-03-01", [field("customer_id", "string"), field("tenure", "long")])
FEATURES = (
    "postgres://warehouse:5432",
    "analytics.features.customers",
    "v3",
    [field("customer_id", "string"), field("tenure_bucket", "string", "tenure in years"), field("usage_minutes", "double")],
)
MODEL = ("s3://contoso-models", "churn/model.pkl", "1", [])


def main():
    events, sent, truth = [], [], {"runs": []}
    clock = [START]

    def tick(minutes=5):
        clock[0] += timedelta(minutes=minutes)
        return clock[0].isoformat().replace("+00:00", "Z")

    dag_run = str(uuid.UUID(int=0x1D0))
    dag_job = Job(namespace=NAMESPACE, name="churn_dag")
    parent = {"parent": parent_run.ParentRunFacet(run=parent_run.Run(runId=dag_run), job=parent_run.Job(namespace=NAMESPACE, name="churn_dag"))}
    code = {"sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(type="git", url="https://git.contoso.example/pipelines", version="5d41402abc4b2a76b9719d911017c592ae4f1b2c")}

    def emit(state, run_id, job, inputs=(), outputs=(), run_facets=None):
        event = RunEvent(
            eventType=state,
            eventTime=tick(),
            run=Run(runId=run_id, facets=run_facets or {}),
            job=job,
            producer=PRODUCER,
            inputs=list(inputs),
            outputs=list(outputs),
        )
        events.append(json.loads(Serde.to_json(event)))
        sent.append(event)
        return event

    emit(RunState.START, dag_run, dag_job)
    truth["runs"].append({"run": dag_run, "job": "churn_dag", "state": "COMPLETE", "parent": None, "inputs": [], "outputs": [], "revision": None})

    def task(name, inputs, outputs, final, error=None, index=0):
        run_id = str(uuid.UUID(int=0x100 + index))
        job = Job(namespace=NAMESPACE, name=name, facets=code)
        ins = [dataset(InputDataset, *spec) for spec in inputs]
        outs = [dataset(OutputDataset, *spec) for spec in outputs]
        emit(RunState.START, run_id, job, ins, [], parent)
        emit(RunState.RUNNING, run_id, job, ins, [], parent)
        facets = dict(parent)
        if error:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error, programmingLanguage="python")
        last = emit(final, run_id, job, ins, outs if final == RunState.COMPLETE else [], facets)
        truth["runs"].append(
            {
                "run": run_id,
                "job": name,
                "state": final.value,
                "parent": dag_run,
                "inputs": [[spec[0], spec[1], spec[2]] for spec in inputs],
                "outputs": [[spec[0], spec[1], spec[2]] for spec in outputs] if final == RunState.COMPLETE else [],
                "revision": code["sourceCodeLocation"].version,
                "error": error,
            }
        )
        return last

    task("extract_raw", [], [RAW], RunState.COMPLETE, index=1)
    task("build_features", [RAW], [FEATURES], RunState.COMPLETE, index=2)
    task("train_model", [FEATURES], [MODEL], RunState.FAIL, error="CUDA out of memory", index=3)
    task("train_model", [FEATURES], [MODEL], RunState.COMPLETE, index=4)
    task("score_batch", [MODEL, FEATURES], [], RunState.ABORT, index=5)
    emit(RunState.COMPLETE, dag_run, dag_job)
    # An emitter retrying: the same event, sent again.
    events.append(events[3])
    sent.append(sent[3])

    truth["datasets"] = [[spec[0], spec[1], spec[2], [f.name for f in spec[3]]] for spec in (RAW, FEATURES, MODEL)]
    truth["events"] = len(events)
    with open(os.path.join(HERE, "pipeline.ndjson"), "w") as out:
        for event in events:
            out.write(json.dumps(event, sort_keys=True) + "\n")
    with open(os.path.join(HERE, "truth.json"), "w") as out:
        json.dump(truth, out, indent=1, sort_keys=True)
    print(f"{len(events)} events", file=sys.stderr)

    if len(sys.argv) == 6 and sys.argv[1] == "--post":
        from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

        url, token, account, workspace = sys.argv[2:]
        # The transport joins url and endpoint, keeping the endpoint's query string.
        endpoint = f"api/v1/lineage?account={account}&workspace={workspace}"
        config = HttpConfig(url=url, endpoint=endpoint, auth=ApiKeyTokenProvider({"apiKey": token}))
        client = OpenLineageClient(transport=HttpTransport(config))
        for event in sent:
            client.emit(event)
        print(f"posted {len(sent)} events to {url}", file=sys.stderr)


if __name__ == "__main__":
    main()
