"""The project's Java packages depend on each other one way: ``jdeps`` (the JDK's class
dependency analyser) on the built jars finds no cycle between them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from udfs.jars import jar_path, provider_jar_path

PROJECT_PREFIX = "dev.flinkimageudfs"


def package_edges(jdeps_output: str) -> set[tuple[str, str]]:
    """(from, to) for every dependency between two different project packages in the output of
    ``jdeps -verbose:package`` (lines ``   a.b -> c.d   where``)."""
    edges = set()
    for line in jdeps_output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "->" and parts[0] != parts[2]:
            if parts[0].startswith(PROJECT_PREFIX) and parts[2].startswith(PROJECT_PREFIX):
                edges.add((parts[0], parts[2]))
    return edges


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan), each sorted."""
    graph: dict[str, list[str]] = {}
    for source, target in edges:
        graph.setdefault(source, []).append(target)
        graph.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_finds_a_cycle_through_three_packages_and_none_in_a_chain():
    chain = {("a", "a.b"), ("a", "a.c"), ("a.b", "a.c")}
    assert cycles(chain) == []
    assert cycles(chain | {("a.c", "a")}) == [["a", "a.b", "a.c"]]


def test_package_edges_reads_jdeps_lines():
    output = """flink-openvino-model.jar -> java.base
   dev.flinkimageudfs.model                           -> dev.flinkimageudfs.model.openvino                  flink-openvino-model.jar
   dev.flinkimageudfs.model.openvino                  -> java.lang                                          java.base
   dev.flinkimageudfs.model.image                     -> dev.flinkimageudfs.model                           flink-openvino-model.jar
"""
    assert package_edges(output) == {("dev.flinkimageudfs.model", "dev.flinkimageudfs.model.openvino"),
                                     ("dev.flinkimageudfs.model.image", "dev.flinkimageudfs.model")}


@pytest.mark.flink  # jdeps is a JVM; the jars are built on first use
@pytest.mark.skipif(shutil.which("jdeps") is None, reason="jdeps not found: install a JDK 17 (openjdk-17-jdk-headless)")
def test_no_package_cycle_in_the_jars():
    for jar in (provider_jar_path(), jar_path()):
        result = subprocess.run(["jdeps", "-verbose:package", str(jar)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        edges = package_edges(result.stdout)
        if jar == provider_jar_path():  # the parser reads this jdeps's output: the provider has such edges
            assert ("dev.flinkimageudfs.model", "dev.flinkimageudfs.model.openvino") in edges
        assert cycles(edges) == [], f"{jar.name}: packages that depend on each other: {cycles(edges)}; edges: {sorted(edges)}"
