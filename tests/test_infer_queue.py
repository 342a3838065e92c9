"""The provider's batching queue of OpenVINO infer requests (``BatchingInferQueue``, Java), driven
from here through the gateway with a real compiled model: a callback that throws fails its own
image only, and closing while a batch runs (on a thread Flink has interrupted) frees nothing that
still runs and lets no callback come after it returned. The same queue under real ML_PREDICT
jobs cancelled mid-batch: test_cancel_storm.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from udfs import settings
from udfs.model_provider import create_classifier_model, provider_options

from conftest import model_options, needs_shared

pytestmark = [pytest.mark.flink, needs_shared]

CALLBACK = "dev.flinkimageudfs.model.openvino.BatchingInferQueue$Callback"


class Recorder:
    """A queue callback (a Java interface implemented here): notes when each crop finished."""

    def __init__(self, throw: bool = False):
        self.throw, self.outcomes, self.changed = throw, [], threading.Condition()

    def done(self, probabilities):
        self._note(("done", time.monotonic()))
        if self.throw:
            raise RuntimeError("a callback that throws")

    def failed(self, error):
        self._note(("failed", time.monotonic()))

    def _note(self, outcome):
        with self.changed:
            self.outcomes.append(outcome)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> list:
        with self.changed:
            self.changed.wait_for(lambda: len(self.outcomes) >= count, timeout)
            return list(self.outcomes)

    class Java:
        implements = [CALLBACK]


class Sizes:
    def accept(self, value):
        pass

    class Java:
        implements = ["java.util.function.IntConsumer"]


_provider_loader = []  # the class loader holding the provider's classes, once loaded


def provider_jvm():
    """The gateway's JVM view, with the provider's classes: py4j may run a call on another Java
    thread than the last one, so each lookup sets that thread's context class loader to the one
    that loaded the provider first (one set of classes for every object of these tests)."""
    jvm = get_gateway().jvm
    if not _provider_loader:
        t_env = settings.configure(TableEnvironment.create(EnvironmentSettings.in_batch_mode()))
        create_classifier_model(t_env)  # puts the jar on this thread's class path
        _provider_loader.append(jvm.Thread.currentThread().getContextClassLoader())
    jvm.Thread.currentThread().setContextClassLoader(_provider_loader[0])
    return jvm


@pytest.fixture(scope="module")
def model():
    """The shared light ResNet-50 (ONNX), batches of 8, compiled through the provider's classes."""
    model = provider_jvm().dev.flinkimageudfs.model.openvino.ClassificationModel.acquire(spec_for({}))
    yield model
    model.release()


def crop() -> bytearray:
    return bytearray(224 * 224 * 3)


def new_queue(model, requests: int = 1):
    return provider_jvm().dev.flinkimageudfs.model.openvino.BatchingInferQueue(model, requests, "test-waiter", Sizes())


def test_a_throwing_callback_fails_only_its_own_image(model):
    queue = new_queue(model)
    try:
        throwing, later = Recorder(throw=True), Recorder()
        for _ in range(8):  # one full batch whose callbacks throw
            queue.submit(crop(), throwing)
        for _ in range(8):  # the next batch must still be delivered by the same waiter
            queue.submit(crop(), later)
        outcomes = later.wait_for(8, timeout=120)
        assert [kind for kind, _ in outcomes] == ["done"] * 8, f"the next batch after a throwing callback: {outcomes}"
        # each throwing callback's image is then failed, once
        assert [kind for kind, _ in throwing.wait_for(16, timeout=10)].count("failed") == 8
    finally:
        queue.close()


def test_close_on_an_interrupted_thread_waits_for_the_running_batch(model):
    """Flink interrupts a cancelled task's thread: close() must neither give up waiting at once nor
    free a request OpenVINO still runs; every crop has its outcome before close() returns."""
    jvm = provider_jvm()
    queue = new_queue(model, requests=2)
    recorder = Recorder()
    for _ in range(16):  # two batches of 8 start at once
        queue.submit(crop(), recorder)
    current = jvm.java.lang.Thread.currentThread()
    current.interrupt()
    assert jvm.java.lang.Thread.currentThread().isInterrupted(), "py4j ran the calls on different threads"
    freed = queue.close()
    closed_at = time.monotonic()
    interrupted_after = jvm.java.lang.Thread.interrupted()  # also clears it for the next test
    outcomes = recorder.wait_for(16, timeout=5)
    late = [t - closed_at for _, t in outcomes if t > closed_at]
    assert not late, f"callbacks ran {late} s after close() returned (the requests were freed under them)"
    assert len(outcomes) == 16, f"crops without an outcome: {16 - len(outcomes)}"
    assert interrupted_after, "close() must restore the interrupt flag"
    assert freed is True, "close() leaked the requests: the waiter did not stop in time"


def spec_for(options: dict[str, str]):
    """The provider's ModelSpec for classify.* ``options`` (light ResNet-50 unless overridden)."""
    jvm = provider_jvm()
    config = jvm.org.apache.flink.configuration.Configuration()
    for key, value in provider_options(model_options("resnet50_onnx") | {"classify.cache-dir": ""} | options).items():
        config.setString(key, value)
    classifier_settings = jvm.dev.flinkimageudfs.model.ClassifierSettings.of(config)
    return classifier_settings.modelSpec(classifier_settings.labels().size(), 8, 8)


def acquire_error(spec) -> str:
    from py4j.protocol import Py4JJavaError

    with pytest.raises(Py4JJavaError) as failure:
        provider_jvm().dev.flinkimageudfs.model.openvino.ClassificationModel.acquire(spec)
    return failure.value.java_exception.getMessage()


def test_failed_compiles_report_their_own_openvino_message_and_leave_nothing_behind(model, tmp_path):
    """OpenVINO's last-error message is read right after the failing call (and freed): each
    failure names its option and OpenVINO's own reason. A failing first compile frees the core it
    made; compiling works again afterwards. (The compiled model of the fixture is not shared with
    these specs: other file, other device.)"""
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not an ONNX model")
    for _ in range(3):
        device_error = acquire_error(spec_for({"classify.device": "NOPE"}))
        model_error = acquire_error(spec_for({"classify.model-path": str(corrupt)}))
        assert device_error.startswith("device: cannot compile") and "NOPE" in device_error, device_error
        assert model_error.startswith(f"model-path: cannot read model '{corrupt}': "), model_error
        assert "NOPE" not in model_error and "unknown error" not in model_error, model_error
    again = provider_jvm().dev.flinkimageudfs.model.openvino.ClassificationModel.acquire(spec_for({}))
    assert again.batchSize() == 8
    again.release()
