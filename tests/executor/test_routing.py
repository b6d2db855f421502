"""Routing policies (pure, no Ray) and the model files a prompt names."""

from __future__ import annotations

import pytest

from executor.model_refs import model_names
from executor.routing import (
    AffinityPolicy,
    JobView,
    RoundRobinPolicy,
    WorkerView,
    make_policy,
)


def job(job_id: str, *models: str, bypassed: int = 0) -> JobView:
    return JobView(job_id, frozenset(models), bypassed)


def test_model_names_come_from_literal_loader_inputs() -> None:
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd/v1.ckpt"}},
        "2": {"class_type": "LoraLoader", "inputs": {"lora_name": "style.safetensors",
                                                     "model": ["1", 0]}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": ["9", 0]}},  # linked: unknown
        "4": {"class_type": "KSampler", "inputs": {"seed": 1, "sampler_name": "euler"}},
        "5": "not a node",
    }
    assert model_names(prompt) == {"v1.ckpt", "style.safetensors"}


def test_affinity_prefers_the_idle_worker_holding_the_models() -> None:
    workers = [WorkerView("w1", ("a.ckpt",)), WorkerView("w2", ("b.ckpt",))]
    assert AffinityPolicy().assign([job("j", "b.ckpt")], workers) == (0, "w2")


def test_affinity_looks_ahead_for_a_job_an_idle_worker_holds() -> None:
    workers = [WorkerView("w1", ("a.ckpt",), idle=False), WorkerView("w2", ("b.ckpt",))]
    jobs = [job("j1", "a.ckpt"), job("j2", "c.ckpt"), job("j3", "b.ckpt")]
    assert AffinityPolicy().assign(jobs, workers) == (2, "w2")


def test_affinity_else_sends_the_head_where_loading_costs_least() -> None:
    workers = [WorkerView("w1", ("a.ckpt",), free_memory=10),
               WorkerView("w2", ("b.ckpt", "v.pt"), free_memory=5),
               WorkerView("w3", (), free_memory=50)]
    assert AffinityPolicy().assign([job("j", "b.ckpt", "x.pt")], workers) == (0, "w2")
    assert AffinityPolicy().assign([job("j", "c.ckpt")], workers) == (0, "w3")  # most free


def test_affinity_waits_without_an_idle_worker_and_never_starves_the_head() -> None:
    busy = [WorkerView("w1", ("a.ckpt",), idle=False)]
    assert AffinityPolicy().assign([job("j", "a.ckpt")], busy) is None
    workers = [WorkerView("w1", ("b.ckpt",))]
    jobs = [job("old", "a.ckpt", bypassed=8), job("new", "b.ckpt")]
    assert AffinityPolicy(max_bypass=8).assign(jobs, workers) == (0, "w1")
    assert AffinityPolicy(max_bypass=9).assign(jobs, workers) == (1, "w1")


def test_round_robin_takes_the_head_to_the_next_idle_worker() -> None:
    policy = RoundRobinPolicy()
    workers = [WorkerView("w1", ("b.ckpt",)), WorkerView("w2", ("b.ckpt",), idle=False),
               WorkerView("w3")]
    jobs = [job("j1", "a.ckpt"), job("j2", "b.ckpt")]
    assert [policy.assign(jobs, workers) for _ in range(3)] == [(0, "w1"), (0, "w3"),
                                                                (0, "w1")]
    assert policy.assign([], workers) is None


def test_unknown_policy_is_named() -> None:
    assert make_policy("round-robin").name == "round-robin"
    with pytest.raises(ValueError, match="unknown routing policy 'fastest'"):
        make_policy("fastest")
