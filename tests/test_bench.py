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
