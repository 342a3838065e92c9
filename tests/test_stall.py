"""A classify call that makes no progress fails, naming its stage (``udfs.stall``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from udfs.stall import CallStalledError, StallGuard

from conftest import REPO
from test_classifier import make_classifier, png  # noqa: F401  (fixture)


def test_a_call_that_keeps_reporting_may_take_longer_than_the_timeout():
    def work(report):
        for step in range(6):
            report(f"step {step}")
            time.sleep(0.1)
        return "done"

    guard = StallGuard(0.35)
    assert guard.run(work) == "done"
    assert guard.run(lambda report: 42) == 42  # the worker thread serves the next call
    guard.close()


def test_a_silent_call_fails_naming_its_stage_and_where_it_waits():
    release = threading.Event()

    def work(report):
        report("waiting for the test")
        release.wait()

    guard = StallGuard(0.5, what="classify call")
    started = time.monotonic()
    with pytest.raises(CallStalledError) as stalled:
        guard.run(work)
    assert 0.5 <= time.monotonic() - started < 5
    message = str(stalled.value)
    assert "classify call made no progress for" in message and "classify.call-timeout = 0.5 s" in message
    assert "while waiting for the test" in message
    assert "release.wait()" in message  # the stuck thread's Python stack
    assert guard.stuck
    with pytest.raises(CallStalledError, match="still stuck in 'waiting for the test'"):
        guard.run(lambda report: None)
    release.set()


def test_errors_of_the_call_reach_the_caller():
    def work(report):
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        StallGuard(1.0).run(work)
    with pytest.raises(ValueError, match="bad"):
        StallGuard(0).run(work)  # unguarded: on the caller's thread


def test_a_stuck_decode_fails_the_classify_call(make_classifier, monkeypatch):
    """A real classifier (tiny model, real OpenVINO) whose third image never finishes decoding."""
    import udfs.classifier

    decode = udfs.classifier.decode_image
    release = threading.Event()

    def stuck_on_third(data, *args):
        if data == b"third":
            release.wait()
        return decode(data, *args)

    monkeypatch.setattr(udfs.classifier, "decode_image", stuck_on_third)
    classifier = make_classifier(**{"classify.call-timeout": "1 s"})
    assert classifier.classify([png((0, 0, 255))])[0].class_id == 0
    with pytest.raises(CallStalledError, match="while decoding and resizing image 3 of 4"):
        classifier.classify([png((0, 0, 255)), png((255, 0, 0)), b"third", png((0, 255, 0))])
    classifier.close()  # leaves what the stuck thread holds alone
    release.set()


def test_a_call_holding_the_gil_ends_the_process_with_every_stack():
    """Native code that never releases the GIL stops every Python thread: the C-level timer
    dumps the stacks (naming the stage's function) and exits instead of hanging for ever."""
    script = textwrap.dedent("""
        import ctypes
        from udfs.stall import StallGuard

        def decoding_stage(report):
            report("decoding")
            ctypes.PyDLL(None).sleep(120)  # a PyDLL call keeps the GIL: nothing else can run

        StallGuard(1.0).run(decoding_stage)  # the GIL watch waits 5 s at least
        print("returned")
    """)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode != 0 and "returned" not in done.stdout
    assert time.monotonic() - started < 30
    assert "Timeout (0:00:05)!" in done.stderr
    assert "in decoding_stage" in done.stderr
