#!/usr/bin/env python3
"""Writes a metrics.json of N records shaped as `valkey-perf run` writes them (one record
from tests/fixtures/records, each copy a different run: its own start time, run index and
numbers), for bench/push-large.sh. Usage: gen-records.py N OUT.json"""
import copy
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
n, out = int(sys.argv[1]), sys.argv[2]
template = json.loads(
    (root / "crates/valkey-perf/tests/fixtures/records/native-memory-scenarios.json").read_text()
)[0]
template["run_details"].pop("timeseries_file", None)
records = []
for i in range(n):
    r = copy.deepcopy(template)
    r["data_size"] = [16, 64, 256, 1024][i % 4]
    r["rps"] = round(70000 + (i * 7919) % 20000 + (i % 100) / 100, 2)
    r["p50_latency_ms"] = round(0.1 + (i % 97) / 1000, 3)
    d = r["run_details"]
    d["run_index"] = i % 5
    d["run_started_at"] = "2026-12-05T%02d:%02d:%02d.%03dZ" % (
        (i // 3600000) % 24, (i // 60000) % 60, (i // 1000) % 60, i % 1000)
    d["histogram_file"] = d["histogram_file"].replace("run0", "run%d" % i)
    records.append(r)
pathlib.Path(out).write_text(json.dumps(records, indent=2))
