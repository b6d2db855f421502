"""The server's route tests, rerun against the Ray backend (2 actors): the same tests, with the
``client`` fixture serving over Ray instead of the in-process engine. Left out: the tests that
hold a job with ``stub_pack.Hold`` (a gate in the test's process, which an actor cannot see);
their behaviour over Ray (cancel, interrupt, crash) is in ``test_ray_faults.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient

pytest.importorskip("ray", reason="the Ray tests need ray (pip install latentgraph[ray])")

from tests.ray.conftest import serve_ray  # noqa: E402
from tests.server.conftest import ClientFactory  # noqa: E402
from tests.server.test_prompt_routes import (  # noqa: E402, F401
    test_client_prompt_id_never_overwrites_a_job,
    test_invalid_outputs_are_400_with_node_errors,
    test_json_is_parsed_whatever_the_content_type,
    test_missing_prompt_is_400_no_prompt,
    test_partial_execution_targets_run_only_those,
    test_post_prompt_answers_like_comfyui,
    test_run_waits_for_outputs,
    test_secrets_and_client_ids_are_never_stored_or_shown,
    test_some_valid_outputs_run_and_report_the_rest,
    test_ui_workflow_is_accepted_and_converted,
)
from tests.server.test_ws_sequence import (  # noqa: E402, F401
    test_cached_job_sends_cached_nodes_and_executed,
    test_failing_job_sequence_and_history,
    test_history_exists_before_queue_shows_empty,
    test_successful_job_sequence,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.ray, pytest.mark.slow,
              pytest.mark.usefixtures("local_ray")]


@pytest_asyncio.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> TestClient:
    """Overrides tests/server/conftest.py's: the same app, over two Ray actors."""
    return (await serve_ray(aiohttp_client, tmp_path)).client
