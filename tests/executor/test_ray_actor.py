"""The Ray actor's body without Ray (``executor.ray_actor`` imports none): the wire messages of
a job, output files as bytes, inputs by content hash, the state it reports."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from executor.jobs import JobOutcome, JobRequest
from executor.ray_actor import EngineActor, sha256
from executor.worker_wire import event_from_wire, request_to_wire
from tests.faults.fault_pack import build_worker
from tests.ray.model_pack import build_worker as model_worker
from tests.ray.model_pack import load_prompt
from tests.server.stub_pack import png_bytes, save_prompt, show_prompt


@pytest.fixture
def actor(tmp_path: Path) -> EngineActor:
    for sub in ("input", "output", "temp"):
        (tmp_path / sub).mkdir()
    return EngineActor(lambda: build_worker(str(tmp_path)), "worker-1")


def test_a_job_streams_its_events_then_its_outcome(actor: EngineActor) -> None:
    messages = list(actor.run(request_to_wire(JobRequest("j", show_prompt(2.0)))))
    kinds = [m["kind"] for m in messages]
    assert kinds[-1] == "outcome" and set(kinds[:-1]) == {"event"}
    events = [type(event_from_wire(m)).__name__ for m in messages[:-1]]
    assert events[0] == "JobStarted" and events[-1] == "JobSucceeded"
    outcome = JobOutcome.from_dict(messages[-1]["outcome"])
    assert outcome.outputs == {"3": {"numbers": [3.0], "labels": [""]}}


def test_output_files_come_as_bytes_before_the_outcome(actor: EngineActor) -> None:
    messages = list(actor.run(request_to_wire(JobRequest("j", save_prompt()))))
    files = [m for m in messages if m["kind"] == "file"]
    assert len(files) == 1 and files[0]["data"] == png_bytes() and files[0]["subfolder"] == ""
    assert [m["kind"] for m in messages].index("file") == len(messages) - 2


def test_state_of_a_store_that_cannot_list_its_models(actor: EngineActor) -> None:
    state = actor.state()
    assert state["name"] == "worker-1" and state["models"] == [] and state["loads"] == 0
    assert state["devices"][0]["name"].startswith("fault-worker:")


def test_state_lists_the_models_held(tmp_path: Path) -> None:
    for sub in ("input", "output", "temp"):
        (tmp_path / sub).mkdir()
    actor = EngineActor(lambda: model_worker(str(tmp_path), 2), "w")
    for n, name in enumerate(("a.ckpt", "sub/b.ckpt", "c.ckpt")):
        list(actor.run(request_to_wire(JobRequest(f"j{n}", load_prompt(name, n)))))
    state = actor.state()
    assert state["models"] == ["b.ckpt", "c.ckpt"] and state["loads"] == 3  # LRU: a evicted


def test_inputs_by_content_hash_and_contained(actor: EngineActor, tmp_path: Path) -> None:
    data = png_bytes()
    assert actor.missing_inputs({"pic.png": sha256(data)}) == ["pic.png"]
    actor.put_input("pic.png", data)
    assert actor.missing_inputs({"pic.png": sha256(data)}) == []
    assert actor.missing_inputs({"pic.png": sha256(b"other")}) == ["pic.png"]
    assert actor.missing_inputs({"../escape.png": sha256(data)}) == []  # never asked for
    with pytest.raises(ValueError, match="leaves the input folder"):
        actor.put_input("../escape.png", data)
    assert not (tmp_path / "escape.png").exists()


def test_cancel_reaches_the_running_job(actor: EngineActor) -> None:
    prompt = {"1": {"class_type": "Sleep", "inputs": {"ms": 60_000, "n": 1}},
              "2": {"class_type": "Shout", "inputs": {"value": ["1", 0]}}}
    stream = actor.run(request_to_wire(JobRequest("long", prompt)))
    first = next(stream)  # the job has started
    assert first["kind"] == "event"
    assert actor.cancel("other") is False
    done = threading.Timer(0.2, actor.cancel, ("long",))
    done.start()
    messages = list(stream)
    assert JobOutcome.from_dict(messages[-1]["outcome"]).status.value == "interrupted"
    assert actor.state()["running"] == []
