"""Joins lineage.json, mlflow.json and mlmd.json (from run.sh) into one Markdown table
with the ratios, Lineage against each peer."""

import json
import sys

folder = sys.argv[1]
load = lambda name: json.load(open(f"{folder}/{name}.json"))
lineage, mlflow, mlmd = load("lineage"), load("mlflow"), load("mlmd")


def row(label, ours, theirs, peer, higher_is_better):
    if theirs is None or ours is None:
        return f"| {label} | {ours} | {peer}: n/a | |"
    ratio = ours / theirs if higher_is_better else theirs / ours
    unit = "" if higher_is_better else " ms"
    fmt = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    return f"| {label} | {fmt(ours)}{unit} | {peer} {fmt(theirs)}{unit} | **{ratio:,.1f}×** |"


lines = [
    f"| workload | Lineage | peer | Lineage is |",
    "|---|---:|---:|---:|",
]
for path, peer_label in [("in_process", "MLflow in-process (SQLite)"), ("http", "MLflow server (SQLite), HTTP")]:
    for mode, mode_label in [("batched", "batched"), ("per_point", "one call per point")]:
        ours, theirs = lineage[f"w1_{path}_{mode}"], mlflow[f"w1_{path}_{mode}"]
        where = "in-process" if path == "in_process" else "over HTTP"
        lines.append(row(f"W1 {mode_label}, {where}: runs/s", ours["runs_per_s"], theirs["runs_per_s"], peer_label, True))
        lines.append(row(f"W1 {mode_label}, {where}: metric points/s", ours["points_per_s"], theirs["points_per_s"], peer_label, True))
        lines.append(row(f"W1 {mode_label}, {where}: write p50", ours["write_p50_ms"], theirs["write_p50_ms"], peer_label, False))
        lines.append(row(f"W1 {mode_label}, {where}: write p99", ours["write_p99_ms"], theirs["write_p99_ms"], peer_label, False))
    lines.append(row(f"memory after W1 ({path.replace('_', '-')}), peak RSS MiB", lineage[f"w1_{path}_peak_rss_mib"], mlflow[f"w1_{path}_peak_rss_mib"], peer_label, False).replace(" ms", ""))
    lines.append(row(f"disk after W1 ({path.replace('_', '-')}), MiB", lineage[f"w1_{path}_disk_mib"], mlflow[f"w1_{path}_disk_mib"], peer_label, False).replace(" ms", ""))
w2, peer = lineage["w2"], mlmd["w2"]
lines.append(row("W2 insert: chains/s", w2["chains_per_s"], peer["chains_per_s"], "ML Metadata (SQLite)", True))
for where in ["in_process", "http"]:
    label = "in-process" if where == "in_process" else "over HTTP"
    lines.append(row(f"W2 trace {label} vs get_lineage_subgraph (8 hops): p50", w2[f"trace_{where}_p50_ms"], peer["trace_in_process_p50_ms"], "ML Metadata", False))
    lines.append(row(f"W2 trace {label} vs get_lineage_subgraph (8 hops): p99", w2[f"trace_{where}_p99_ms"], peer["trace_in_process_p99_ms"], "ML Metadata", False))
lines.append(row("memory after W2, peak RSS MiB", w2["peak_rss_mib"], peer["peak_rss_mib"], "ML Metadata", False).replace(" ms", ""))
lines.append(row("disk after W2, MiB", w2["disk_mib"], peer["disk_mib"], "ML Metadata", False).replace(" ms", ""))
for path, peer_label in [("in_process", "MLflow in-process"), ("http", "MLflow server")]:
    ours, theirs = lineage[f"registry_{path}"], mlflow[f"registry_{path}"]
    where = "in-process" if path == "in_process" else "over HTTP"
    lines.append(row(f"registry {where}: model versions/s", ours["versions_per_s"], theirs["versions_per_s"], peer_label, True))
    lines.append(row(f"registry {where}: version → source run, p50", ours["lookup_p50_ms"], theirs["lookup_p50_ms"], peer_label, False))
print("\n".join(lines))
print()
print(f"Lineage: {lineage['runs']} runs, {lineage['chains']} chains. MLflow {mlflow['mlflow_version']}: "
      f"{lineage['runs']} runs ({mlflow['w1_http_per_point'].get('runs', lineage['runs'])} for one call per point over HTTP). "
      f"ML Metadata {mlmd['ml_metadata_version']}: {lineage['chains']} chains.")
