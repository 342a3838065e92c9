"""The first-images hang: OpenVINO's Python binding deadlocked when threads of a fresh process
read their first tensors at once (see ``udfs.runtime._initialise_numpy_bridge``). Each run is a
fresh process (``tests/first_infer_race.py``); without the warm-up, 4 threads hung 126 of 200
such runs here, so 8 clean runs make a missing warm-up all but certain to fail (0.37^8 < 0.001)."""

from first_infer_race import run_many, write_tiny_model

RUNS = 8


def test_threads_reading_their_first_tensors_together_never_hang(tmp_path):
    model = write_tiny_model(tmp_path / "tiny.xml")
    outcomes = run_many(model, RUNS, threads=4, timeout=60)
    assert outcomes == ["ok"] * RUNS, f"hung {outcomes.count('hung')} of {RUNS}: {sorted(set(outcomes))}"
