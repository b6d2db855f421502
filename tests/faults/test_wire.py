"""The server↔worker wire: every event, the request and a prompt error survive the codec (and a
pickle, as the pipe does it); previews cross as ``(format, bytes)``, never as objects."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from executor.errors import PromptError
from executor.events import (
    Event,
    JobFailed,
    JobInterrupted,
    JobStarted,
    JobSucceeded,
    NodeFinished,
    NodeOutput,
    NodeProgress,
    NodesCached,
    NodeStarted,
)
from executor.jobs import JobRequest
from executor.worker_handle import describe_exit
from executor.worker_wire import (
    EVENT_TYPES,
    WireError,
    encoded_bytes_only,
    event_from_wire,
    event_to_wire,
    prompt_error_from_wire,
    prompt_error_to_wire,
    request_from_wire,
    request_to_wire,
)

EVENTS: list[Event] = [
    JobStarted("j"), NodesCached("j", ("1", "2")), NodeStarted("j", "3", "KSampler"),
    NodeProgress("j", "3", 2, 20), NodeOutput("j", "4", {"images": [{"filename": "a.png"}]}),
    NodeFinished("j", "3", 0.25), JobSucceeded("j"),
    JobFailed("j", "3", "KSampler", "ValueError", "bad", ("line 1",), {"seed": "1"}, ("1",)),
    JobInterrupted("j", None, None, ()),
]


def across(message: dict[str, Any]) -> dict[str, Any]:
    return dict(pickle.loads(pickle.dumps(message)))


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event: Event) -> None:
    assert event_from_wire(across(event_to_wire(event, encoded_bytes_only))) == event


def test_every_event_type_is_covered() -> None:
    assert {type(e).__name__ for e in EVENTS} == set(EVENT_TYPES)


def test_previews_cross_as_bytes() -> None:
    event = NodeProgress("j", "3", 1, 2, ("png", b"\x89PNG", 256))
    sent = across(event_to_wire(event, encoded_bytes_only))
    assert sent["fields"]["preview"] == ("PNG", b"\x89PNG")
    dropped = event_to_wire(NodeProgress("j", "3", 1, 2, object()), encoded_bytes_only)
    assert dropped["fields"]["preview"] is None


def test_unknown_events_are_refused() -> None:
    class Custom(JobStarted):
        pass

    with pytest.raises(WireError, match="Custom"):
        event_to_wire(Custom("j"), encoded_bytes_only)
    with pytest.raises(WireError, match="Nope"):
        event_from_wire({"kind": "event", "type": "Nope", "fields": {}})


def test_requests_and_prompt_errors_round_trip() -> None:
    request = JobRequest("j", {"1": {"class_type": "X", "inputs": {}}}, ("1",), True,
                         frozenset({"1"}), {"workflow": {"nodes": []}})
    assert request_from_wire(across(request_to_wire(request))) == request
    error = PromptError("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                        "", {}, {"1": {"errors": [{"type": "value_not_in_list"}]}})
    back = prompt_error_from_wire(across(prompt_error_to_wire(error)))
    assert back.to_dict() == error.to_dict() and back.node_errors == error.node_errors


def test_exits_are_described() -> None:
    assert describe_exit(3) == "exited with status 3"
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(None) == "stopped answering"
