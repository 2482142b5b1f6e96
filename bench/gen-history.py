#!/usr/bin/env python3
"""Synthetic benchmark history for the dashboard: COMMITS commits x CASES cases x RUNS runs,
written as results/<sha>/metrics.json below OUT (the layout `valkey-perf push` reads).

Noise: each run's rps is lognormal around its case's level with `--noise` (default 2 %) run to
run and a shared per-commit drift of `--drift` (default 0.7 %). `--step PCT --step-back N`
plants a step of PCT percent in the first case (GET, 16 B, pipeline 1) starting N commits
before the newest. Seeded: the same arguments give the same files.

usage: gen-history.py OUT [--commits 1000] [--cases 50] [--runs 3] [--seed 1]
                          [--step -15 --step-back 10]
"""
import argparse, json, math, os, random

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--commits", type=int, default=1000)
p.add_argument("--cases", type=int, default=50)
p.add_argument("--runs", type=int, default=3)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--noise", type=float, default=0.02)
p.add_argument("--drift", type=float, default=0.007)
p.add_argument("--step", type=float, default=0.0)
p.add_argument("--step-back", type=int, default=10)
a = p.parse_args()
rnd = random.Random(a.seed)

commands = ["GET", "SET", "INCR", "LPUSH", "HSET", "SADD", "ZADD", "MSET", "LRANGE_100", "SPOP"]
sizes = [16, 64, 256, 1024, 4096]
pipelines = [1, 16]
cases = []
for pipeline in pipelines:
    for size in sizes:
        for command in commands:
            cases.append((command, size, pipeline))
cases = cases[: a.cases]
base = {c: (120_000.0 if c[2] == 1 else 900_000.0) * (1.0 - 0.02 * i % 0.3) for i, c in enumerate(cases)}

for t in range(a.commits):
    sha = "%040x" % rnd.getrandbits(160)
    day, hour = divmod(t, 24)
    time = "2025-%02d-%02dT%02d:00:00Z" % (1 + day // 28, 1 + day % 28, hour)
    drift = rnd.gauss(0.0, a.drift)
    stepped = a.step != 0.0 and t >= a.commits - a.step_back
    records = []
    for i, (command, size, pipeline) in enumerate(cases):
        for run in range(a.runs):
            rps = base[(command, size, pipeline)] * math.exp(drift + rnd.gauss(0.0, a.noise))
            if stepped and i == 0:
                rps *= 1.0 + a.step / 100.0
            p50 = 50.0 * pipeline / rps * 1000.0
            records.append({
                "timestamp": time, "commit": sha, "ref": "unstable",
                "repository": "valkey-io/valkey", "command": command, "data_size": size,
                "pipeline": pipeline, "clients": 50, "requests": 100000,
                "benchmark_mode": "requests", "keyspacelen": 100000, "rps": round(rps, 2),
                "avg_latency_ms": round(p50 * 1.05, 4), "min_latency_ms": round(p50 * 0.3, 4),
                "p50_latency_ms": round(p50, 4), "p95_latency_ms": round(p50 * 1.6, 4),
                "p99_latency_ms": round(p50 * 2.1, 4), "max_latency_ms": round(p50 * 9.0, 4),
                "cluster_mode": False, "tls": False, "io_threads": 1,
                "valkey_benchmark_threads": None, "warmup": 0, "architecture": "x86_64",
                "run_index": run, "engine": "native", "engine_version": "valkey-perf 0.1.0",
                "server_version": "9.1.2", "server_restarted": True, "config_set": {},
                "seed": 1000 + run, "invocation_id": "inv-%d" % t,
                "run_started_at": "%s.%03dZ" % (time[:19], run),
            })
    d = os.path.join(a.out, sha)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "metrics.json"), "w") as f:
        json.dump(records, f)
