"""Speed of the ``image-index`` search: queries per second and latency at 10k, 100k and 1M stored
vectors, memory per vector, recall of each precision against an exact numpy search, in one run.

    flock /tmp/flink-image-udfs-bench.lock .venv/bin/python -m bench.index \\
        [--sizes 10000,100000,1000000] [--precisions int8,bf16,f32] [--f32-up-to 100000] \\
        [--dimension 2048] [--queries 256] [--k 5] [--seconds 10] [--concurrency 1,16,64]

Synthetic data, clustered like image embeddings (2,000 random centres; each vector a centre plus
noise, unit length; vectors of one cluster have cosines around 0.5), written as segment files of
10,000 vectors (``udfs.index_files``) under ``~/.cache/flink-image-udfs/bench-index`` once; an
index of n vectors is the first n/10,000 files (hard links). Queries are stored vectors plus
noise (cosine ~0.95 to their source).

Each (size, precision) runs ``IndexBenchmark`` (Java) in a fresh JVM: the search side of a
VECTOR_SEARCH task (the shared index, its batching, the OpenVINO scan, the f32 rescoring) with
``concurrency`` queries kept in flight, as VECTOR_SEARCH's 'max-concurrent-operations' does.
Memory = the JVM's resident set growth while loading, per vector. Recall@k = share of the exact
top-k (numpy, float64, over the same files) that the search returned.
Results: bench/results/index-<timestamp>.{json,md} and index-latest.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS, machine
from udfs.jars import provider_jar_path
from udfs.index_files import committed_segments, read_segment, write_segment

CACHE = Path.home() / ".cache" / "flink-image-udfs" / "bench-index"
CHUNK = 10_000
CLUSTERS = 2_000


def chunk_vectors(chunk: int, dimension: int) -> np.ndarray:
    """Stored vectors chunk*CHUNK ... (chunk+1)*CHUNK - 1, the same on every run."""
    centres = np.random.default_rng(0).standard_normal((CLUSTERS, dimension), dtype=np.float32)
    rng = np.random.default_rng(1000 + chunk)
    vectors = centres[rng.integers(0, CLUSTERS, CHUNK)] + rng.standard_normal((CHUNK, dimension), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def index_folder(size: int, dimension: int) -> Path:
    """The first ``size`` vectors as an index folder (chunks written once, hard-linked)."""
    chunks = CACHE / f"d{dimension}" / "chunks"
    chunks.mkdir(parents=True, exist_ok=True)
    folder = CACHE / f"d{dimension}" / f"n{size}"
    needed = -(-size // CHUNK)
    if len(committed_segments(folder)) == needed:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for chunk in range(needed):
        done = chunks / f"{chunk:05d}"
        if not done.is_dir() or not committed_segments(done):
            vectors = chunk_vectors(chunk, dimension)
            write_segment(done, vectors, {"path": [f"v{chunk * CHUNK + i}" for i in range(CHUNK)]})
            print(f"  wrote chunk {chunk + 1}/{needed}", file=sys.stderr, flush=True)
        source = committed_segments(done)[0]
        target = folder / f"segment-{chunk:013d}-0-bench.fiix"
        if not target.exists():
            os.link(source, target)
    return folder


def make_queries(count: int, dimension: int) -> tuple[np.ndarray, list[int]]:
    """Queries near stored vectors of the first chunk (present in every size) and their sources."""
    rng = np.random.default_rng(7)
    sources = rng.choice(CHUNK, count, replace=False)
    stored = chunk_vectors(0, dimension)[sources]
    queries = stored + rng.standard_normal(stored.shape, dtype=np.float32) * (0.33 / np.sqrt(dimension))
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32), list(sources)


def exact_top_k(folder: Path, queries: np.ndarray, k: int) -> list[list[str]]:
    """Exact top-k paths per query over the index files (float64 scores, one file at a time)."""
    best_scores = np.full((len(queries), 0), -np.inf)
    best_paths = np.empty((len(queries), 0), dtype=object)
    q = queries.astype(np.float64)
    for file in committed_segments(folder):
        segment = read_segment(file)
        scores = q @ segment.vectors.astype(np.float64).T
        paths = np.array([row["path"] for row in segment.rows], dtype=object)
        top = np.argsort(-scores, axis=1)[:, :k]
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], axis=1)
        best_paths = np.concatenate([best_paths, paths[top]], axis=1)
        order = np.argsort(-best_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(best_scores, order, 1)
        best_paths = np.take_along_axis(best_paths, order, 1)
    return [list(row) for row in best_paths]


def cached_exact_top_k(folder: Path, size: int, queries: np.ndarray, k: int) -> list[list[str]]:
    """``exact_top_k``, computed once per index size and query set (``--prepare`` does it outside the bench lock)."""
    file = CACHE / f"exact-d{queries.shape[1]}-q{len(queries)}-k{k}-n{size}.json"
    if not file.is_file():
        started = time.perf_counter()
        file.write_text(json.dumps(exact_top_k(folder, queries, k)))
        print(f"{size}: exact numpy top-{k} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return json.loads(file.read_text())


def java_classpath() -> str:
    import pyflink

    lib = Path(pyflink.__file__).parent / "lib"
    return ":".join([str(provider_jar_path())] + sorted(str(jar) for jar in lib.glob("*.jar")))


def run_java(folder: Path, dimension: int, precision: str, queries_file: Path, k: int, seconds: float,
             concurrency: list[int]) -> list[dict]:
    command = ["java", "-Xmx4g", "-cp", java_classpath(), "dev.flinkimageudfs.index.IndexBenchmark", str(folder),
               str(dimension), precision, str(queries_file), str(k), str(seconds), *map(str, concurrency)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(f"IndexBenchmark failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def recall(found: list[list[str]], exact: list[list[str]]) -> float:
    hits = sum(len(set(f) & set(e)) for f, e in zip(found, exact))
    return hits / sum(len(e) for e in exact)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--precisions", default="int8,bf16,f32")
    parser.add_argument("--f32-up-to", type=int, default=100_000, help="largest size measured in f32 (8 KB/vector)")
    parser.add_argument("--dimension", type=int, default=2048)
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--prepare", action="store_true",
                        help="only write the synthetic index files and the exact answers (no measurement: "
                             "run it outside the bench lock)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    concurrency = [int(c) for c in args.concurrency.split(",")]

    queries, sources = make_queries(args.queries, args.dimension)
    if args.prepare:
        for size in sizes:
            print(index_folder(size, args.dimension))
            cached_exact_top_k(index_folder(size, args.dimension), size, queries, args.k)
        return 0
    facts = machine()
    print(f"machine: {facts['cpu']}, {facts['cores']} cores, {facts['isa']}, load {os.getloadavg()}", file=sys.stderr)
    queries_file = CACHE / f"queries-d{args.dimension}-q{args.queries}.f32"
    queries_file.parent.mkdir(parents=True, exist_ok=True)
    queries.astype("<f4").tofile(queries_file)
    rows = []
    for size in sizes:
        folder = index_folder(size, args.dimension)
        exact = cached_exact_top_k(folder, size, queries, args.k)
        for precision in args.precisions.split(","):
            if precision == "f32" and size > args.f32_up_to:
                continue
            load_before = os.getloadavg()[0]
            events = run_java(folder, args.dimension, precision, queries_file, args.k, args.seconds, concurrency)
            load = next(e for e in events if e["event"] == "load")
            found = next(e for e in events if e["event"] == "results")["paths"]
            row = {
                "vectors": load["vectors"], "precision": precision, "blocks": load["blocks"],
                "load_s": load["seconds"], "bytes_per_vector": load["rss_bytes"] / load["vectors"],
                "heap_bytes_per_vector": load["heap_bytes"] / load["vectors"],
                "recall_at_k": recall(found, exact),
                "top1_is_source": float(np.mean([f[0] == f"v{s}" for f, s in zip(found, sources)])),
                "search": [e for e in events if e["event"] == "search"],
                "load_avg": [load_before, os.getloadavg()[0]],
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)

    facts["load_avg_at_end"] = os.getloadavg()
    header = ("| vectors | precision | memory/vector | load | recall@{k} | "
              + " | ".join(f"{c} in flight: q/s, p50 / p99 ms" for c in concurrency) + " |").format(k=args.k)
    lines = [header, "|" + "---|" * (5 + len(concurrency))]
    for row in rows:
        cells = [f"{row['vectors']:,}", row["precision"], f"{row['bytes_per_vector']:,.0f} B",
                 f"{row['load_s']:.1f} s", f"{row['recall_at_k']:.3f}"]
        cells += [f"{s['qps']:,.0f}, {s['p50_ms']:.1f} / {s['p99_ms']:.1f}" for s in row["search"]]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {"machine": facts, "args": vars(args), "rows": rows}
    for name in (f"index-{stamp}", "index-latest"):
        (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
        (RESULTS / f"{name}.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
