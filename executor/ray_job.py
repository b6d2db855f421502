"""One job on one Ray worker, watched from the server: events, files, cancel, the worker's death.

The counterpart of ``executor.job_watch`` for an actor: the same wire messages arrive through
Ray's streaming generator instead of a pipe. Events go to the sink in order, output files are
written to the server's output folder, the job's end comes last. A cancel is sent to the actor
(cooperative); a job still running ``grace`` seconds later is stopped by killing the actor (the
pool starts another) and ends interrupted. An actor that dies on its own (OOM, its node lost,
``kill -9``) fails the job with ``WorkerCrashed``, and the outcome's ``crash`` says so: the
queue re-queues it once (on another worker) or fails it with that reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, RayActorError

from executor.events import EventSink
from executor.job_watch import RemoteJob, WorkerJobError, crash_outcome
from executor.jobs import JobOutcome, JobRequest
from executor.ray_actor import inside
from executor.worker_wire import (
    Message,
    event_from_wire,
    request_to_wire,
)

logger = logging.getLogger(__name__)
POLL_S = 0.05
ACTOR_GONE = (RayActorError, ActorUnavailableError)


class RayJob(RemoteJob):
    """Runs ``request`` on ``actor`` (named ``worker``); used once."""

    def __init__(self, actor: Any, worker: str, request: JobRequest, sink: EventSink,
                 cancel: threading.Event, grace: float, output_dir: Path | None,
                 kill: Callable[[], None]) -> None:
        super().__init__(request, sink, grace)
        self.actor, self.worker, self.cancel = actor, worker, cancel
        self.output_dir, self._kill = output_dir, kill
        self.killed = False
        self._done = threading.Event()

    def run(self) -> JobOutcome:
        """The outcome; raises ``PromptError`` or ``WorkerJobError`` as the process
        backend does."""
        watcher = threading.Thread(target=self._watch_cancel, daemon=True,
                                   name=f"cancel-{self.job_id[:8]}")
        watcher.start()
        try:
            stream = self.actor.run.options(num_returns="streaming").remote(
                request_to_wire(self.request))
            for ref in stream:
                outcome = self._take(ray.get(ref))
                if outcome is not None:
                    return outcome
            raise WorkerJobError("RayStreamEnded", "the worker ended the job without an "
                                 "outcome", [])
        except ACTOR_GONE as exc:
            return self._interrupted() if self.killed else self._crashed(exc)
        finally:
            self._done.set()

    def _watch_cancel(self) -> None:
        """Sends the cancel to the actor; kills the actor ``grace`` seconds later."""
        while not self._done.wait(POLL_S):
            if self.cancel.is_set():
                break
        else:
            return
        self.actor.cancel.remote(self.job_id)
        if self._done.wait(self.grace):
            return
        logger.warning("job %s did not stop within %.1f s of the cancel%s; killing the Ray "
                       "worker %s", self.job_id, self.grace, self._where(), self.worker)
        self.killed = True
        self._kill()

    def _take(self, message: Message) -> JobOutcome | None:
        kind = message.get("kind")
        if kind == "event":
            self._forward(event_from_wire(message))
        elif kind == "file":
            self._write(message)
        else:
            return self._end(message, "the Ray worker")
        return None

    def _write(self, message: Message) -> None:
        """An output file into the server's output folder (unless already there as is)."""
        if self.output_dir is None:
            return
        path = inside(self.output_dir, str(message["subfolder"]), str(message["filename"]))
        data = message["data"]
        if path is None or not isinstance(data, bytes):
            logger.error("job %s: refusing output file %r", self.job_id, message["filename"])
            return
        if path.is_file():
            if path.read_bytes() != data:  # another machine's counter chose the same name
                logger.error("job %s: output file %s exists with other content; kept, the "
                             "worker's copy is not written (share output/ between machines)",
                             self.job_id, path.name)
            return  # else the worker shares this folder
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{time.monotonic_ns()}.part")
        tmp.write_bytes(data)
        tmp.replace(path)

    def _crashed(self, exc: BaseException) -> JobOutcome:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"the Ray worker {self.worker} died{self._where()}: {reason}"
        return crash_outcome(self.job_id, self.node, self.executed, message, self.sink)

    def _interrupted(self) -> JobOutcome:
        return self._killed_after_cancel(f"the Ray worker {self.worker} was replaced")
