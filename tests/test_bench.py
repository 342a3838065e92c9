"""The benchmark scripts refuse bad settings before measuring anything (their measurements are
not tests: see bench/README.md). In-process: ``main()`` of the ``bench`` package's modules."""

from __future__ import annotations

import sys

import pytest

from bench import memory, peers, run


def exit_message(main, monkeypatch, capsys, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("main", [run.main, peers.main], ids=["run", "peers"])
def test_malformed_define_is_an_error_naming_it(main, monkeypatch, capsys):
    message = exit_message(main, monkeypatch, capsys, "-D", "python.fn-execution.bundle.size")
    assert "-D 'python.fn-execution.bundle.size': expected KEY=VALUE" in message


def test_unknown_approach_is_an_error_listing_the_rows(monkeypatch, capsys):
    message = exit_message(run.main, monkeypatch, capsys, "--only", "ceiling,flink-bach")
    assert "--only: unknown flink-bach; choose from ceiling, tight," in message


def test_memory_refuses_unknown_presets_and_paths(monkeypatch, capsys):
    message = exit_message(memory.main, monkeypatch, capsys, "--presets", "resnet50,resnet5O")
    assert "--presets: unknown resnet5O; choose from resnet50, efficientnet_lite0, mobilenet_v2_quant" in message
    message = exit_message(memory.main, monkeypatch, capsys, "--paths", "udf,jvm")
    assert "--paths: unknown jvm; choose from udf, ml_predict" in message
