"""Joins mlflow_api.sh's results (one JSON per server from MLflow's client, hey's
reports) into the Markdown table of BENCHMARKS.md, with Lineage's ratio to each."""

import json
import re
import sys

folder = sys.argv[1]
servers = ["null", "mlflow", "fasttrackml", "lineage"]
labels = {
    "null": "null server",
    "mlflow": "mlflow server (gunicorn, SQLite)",
    "fasttrackml": "FastTrackML (SQLite)",
    "lineage": "Lineage",
}


def hey(name, endpoint):
    text = open(f"{folder}/{name}-{endpoint}.txt").read()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    # Answers other than 200, and requests that got none (hey's "Error distribution").
    codes = dict((code, int(count)) for code, count in re.findall(r"\[(\d+)\]\s+(\d+) responses", text))
    failed = sum(count for code, count in codes.items() if code != "200")
    errors = text.split("Error distribution:", 1)[1] if "Error distribution:" in text else ""
    failed += sum(int(count) for count in re.findall(r"^\s*\[(\d+)\]", errors, re.MULTILINE))
    return rate, failed


rows = {}
for name in servers:
    client = json.load(open(f"{folder}/{name}.json"))
    metric_rate, metric_failed = hey(name, "log-metric")
    batch_rate, batch_failed = hey(name, "log-batch")
    rows[name] = {
        "log_metric_ms": client["log_metric_ms"],
        "batched_points_per_s": client["batched_points_per_s"],
        "registry_ops_per_s": client["registry_ops_per_s"],
        "hey_log_metric": metric_rate,
        "hey_log_metric_failed": metric_failed,
        "hey_log_batch": batch_rate,
        "hey_log_batch_failed": batch_failed,
    }

fmt = lambda value: "n/a" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
columns = [
    ("MLflow client: ms per `log_metric`", "log_metric_ms", False),
    ("MLflow client: points/s, `log_batch` of 100", "batched_points_per_s", True),
    ("MLflow client: registry calls/s", "registry_ops_per_s", True),
    ("hey -c 16: `log-metric` requests/s", "hey_log_metric", True),
    ("hey -c 16: `log-batch` (100 points) requests/s", "hey_log_batch", True),
]
print("| workload | " + " | ".join(labels[name] for name in servers) + " | Lineage vs mlflow server | Lineage vs FastTrackML |")
print("|---|" + "---:|" * (len(servers) + 2))
lineage = rows["lineage"]
for label, key, higher in columns:
    cells = []
    for name in servers:
        cell = fmt(rows[name][key])
        failed = rows[name].get(f"{key}_failed")
        if failed:
            cell += f" ({failed} failed)"
        cells.append(cell)
    def ratio(peer):
        ours, theirs = lineage[key], rows[peer][key]
        if ours is None or theirs is None:
            return "n/a"
        return f"**{(ours / theirs) if higher else (theirs / ours):,.1f}×**"

    print(f"| {label} | " + " | ".join(cells) + f" | {ratio('mlflow')} | {ratio('fasttrackml')} |")
null = rows["null"]
print()
print(
    f"Lineage over the null server with MLflow's client: {lineage['log_metric_ms'] / null['log_metric_ms'] - 1:+.0%} per `log_metric`, "
    f"{null['batched_points_per_s'] / lineage['batched_points_per_s'] - 1:+.0%} per batched point."
)
json.dump(rows, open(f"{folder}/table.json", "w"), indent=1)
