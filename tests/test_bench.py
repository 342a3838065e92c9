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


def test_rounds_must_be_positive(monkeypatch, capsys):
    assert "--rounds: expected 1 or more, got 0" in exit_message(run.main, monkeypatch, capsys, "--rounds", "0")


def test_several_rounds_compare_each_row_with_the_tight_loop_of_its_own_round():
    # the machine was 10 % slower in round 2: the per-round ratios stay 0.9 and 1.0, the pooled
    # medians (what one round at a time would compare across runs) would not
    def tight(rate):
        return {"rates": [rate, rate], "cpu_ms_per_image": [7.0], "peak_rss_mb": 280, "load_1min": [1, 2]}

    def flink(rate, rss):
        return {"rates": [rate], "steady_rates": [rate], "cpu_ms_per_image": [8.0], "startup_s": 2.0,
                "python_worker_peak_rss_mb": rss, "client_peak_rss_mb": None, "load_1min": [2, 3]}

    rounds = [{"tight": tight(250.0), "flink-batch-file": flink(225.0, 390)},
              {"tight": tight(225.0), "flink-batch-file": flink(225.0, 410)},
              {"tight": tight(250.0), "flink-batch-file": {"error": "job failed"}}]
    rows = {r["key"]: r for r in run.build_rows(run.merge_rounds(rounds[:2]))}
    assert rows["flink-batch-file"]["vs_tight_rounds"] == pytest.approx([0.9, 1.0])
    assert rows["flink-batch-file"]["vs_tight"] == pytest.approx(0.95)
    assert rows["flink-batch-file"]["peak_rss_mb"] == 410 and rows["tight"]["images_per_s"] == pytest.approx(237.5)
    assert rows["flink-batch-file"]["load_1min"] == [2, 3]
    meta = {"machine": {"cpu": "cpu", "cores": 2, "memory_gib": 1, "isa": [], "load_avg_at_start": [0, 0, 0]},
            "timestamp": "t", "model": "resnet50", "model_path": "model.xml", "precision_requested": "int8",
            "images": 8000, "repeats": 1, "rounds": 2, "arrow_batch_size": 128, "parallelism": 2,
            "worker_mode": "loopback", "command": "python -m bench.run --rounds 2"}
    table = run.markdown(meta, list(rows.values()))
    assert "| 0.95 | 0.90 1.00 |" in table and "in each of 2 rounds" in table
    # a row that failed in any round is reported as failed, not as the rounds that worked
    assert "flink-batch-file" not in {r["key"] for r in run.build_rows(run.merge_rounds(rounds))}
    # one round: the plain ratio, no per-round column
    single = run.build_rows(run.merge_rounds(rounds[:1]))
    assert [r["vs_tight"] for r in single] == pytest.approx([1.0, 0.9]) and not single[1]["vs_tight_rounds"]
    assert "each round" not in run.markdown({**meta, "rounds": 1}, single)


def test_profiles_are_attributed_by_what_the_code_does_waits_left_out():
    from bench.threads import JVM_WORK, PYTHON_WORK, waiting, work_of

    decode = ["imdecode (cv2/cv2.abi3.so)", "decode_image (udfs/preprocess.py:200)", "eval (udfs/functions.py:70)",
              "process (pyflink/fn_execution/table/operations.py:100)"]
    assert work_of(decode, PYTHON_WORK) == "decode + resize + crop (OpenCV)" and not waiting(decode)
    blocked = ["0x7fad844a3f16 (libc.so.6)", "syscall (libc.so.6)",
               "std::__atomic_futex_unsigned_base::_M_futex_wait_until (libstdc++.so.6.0.30)",
               "ov::InferRequest::wait (libopenvino.so.2641)", "collect_oldest (udfs/runtime.py:143)"]
    assert waiting(blocked)
    assert not waiting(["0x7fad844a3f16 (libc.so.6)", "__memmove_avx512_unaligned_erms (libc.so.6)",
                        "to_pandas (pyarrow/array.pxi:900)"])
    assert work_of(["java.io.FileInputStream.readBytes", "dev.flinkimageudfs.format.FileLoader.load"],
                   JVM_WORK) == "reading files (whole-file source)"
    assert work_of(["java.util.HashMap.get", "org.apache.flink.api.python.shaded.io.grpc.internal.ServerImpl.run"],
                   JVM_WORK) == "Beam / gRPC / Netty (to and from Python)"


def test_memory_refuses_unknown_presets_and_paths(monkeypatch, capsys):
    message = exit_message(memory.main, monkeypatch, capsys, "--presets", "resnet50,resnet5O")
    assert "--presets: unknown resnet5O; choose from resnet50, efficientnet_lite0, mobilenet_v2_quant" in message
    message = exit_message(memory.main, monkeypatch, capsys, "--paths", "udf,jvm")
    assert "--paths: unknown jvm; choose from udf, ml_predict" in message
