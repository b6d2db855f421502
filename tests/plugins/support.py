"""Loading the synthetic packs (``tests/plugins/packs``) the way ``latentgraph`` does: copied
into ``<base>/custom_nodes``, loaded into a registry holding the built-in pack, run by an engine
built by the composition root. ``uninstall`` after each test removes every trace (host, aliases,
the packs' modules)."""

from __future__ import annotations

import itertools
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from executor.engine import Engine
from executor.events import CollectingSink
from executor.jobs import JobOutcome, JobRequest
from latentgraph.app import build_engine, build_registry, folders_under
from nodes.api import PackReport, Registry
from nodes.plugins import PluginSettings, load_plugins

PACKS = Path(__file__).parent / "packs"
_jobs = itertools.count()


@dataclass
class PluginEnv:
    """A base folder with packs loaded: registry, reports by pack name, engine."""

    base: Path
    registry: Registry
    reports: dict[str, PackReport]
    engine: Engine
    sinks: list[CollectingSink] = field(default_factory=list)

    def run(self, prompt: dict[str, Any], **kwargs: Any) -> JobOutcome:
        sink = CollectingSink()
        self.sinks.append(sink)
        return self.engine.execute(JobRequest(f"job-{next(_jobs)}", prompt, **kwargs), sink)

    def run_in_thread(self, prompt: dict[str, Any], job_id: str) -> tuple[threading.Thread,
                                                                           list[JobOutcome]]:
        results: list[JobOutcome] = []
        thread = threading.Thread(target=lambda: results.append(
            self.engine.execute(JobRequest(job_id, prompt))))
        thread.start()
        return thread, results


def copy_packs(base: Path, names: Iterable[str]) -> Path:
    target = base / "custom_nodes"
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = PACKS / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    return target


def load_env(base: Path, packs: Iterable[str], **settings: Any) -> PluginEnv:
    copy_packs(base, packs)
    folders = folders_under(base)
    registry = build_registry(folders)
    reports = load_plugins(registry, PluginSettings.for_base(base, **settings))
    return PluginEnv(base, registry, {r.name: r for r in reports},
                     build_engine(registry, folders))
