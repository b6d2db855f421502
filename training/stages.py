"""``train-demo`` stages: data -> vae -> text -> decoder -> unet, each resumable in DIR/<stage>,
and the add-ons ``controlnet`` and ``lora`` (not part of ``all``; they train against this run's
exported model if it has one, else the embedded one: ``training.addon_base``).

A stage that finished writes ``DIR/<stage>/done.json`` and is skipped next time. A stage that was
interrupted resumes from its last checkpoint (the data stage simply reruns: it takes seconds).
Every random draw is a function of the run seed (and the step), so a run is reproducible and a
resumed run follows the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import numpy as np
import torch

from training import shapes_data
from training.config import RunConfig
from training.progress import ProgressBar

logger = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("data", "vae", "text", "decoder", "unet")
ADDON_STAGES: tuple[str, ...] = ("controlnet", "lora")
STAGE_CHOICES: tuple[str, ...] = ("all", *STAGES, *ADDON_STAGES)
DATA_IMAGES = 10_000  # training images at --steps-scale 1
DATA_CHUNK = 1_000


def is_done(cfg: RunConfig, stage: str) -> bool:
    return (cfg.stage_dir(stage) / "done.json").exists()


def mark_done(cfg: RunConfig, stage: str, summary: dict[str, object]) -> None:
    (cfg.stage_dir(stage) / "done.json").write_text(json.dumps(summary, indent=2) + "\n")


def run_data(cfg: RunConfig) -> dict[str, object]:
    """Training images (uint8 .npy, memory-mapped later) and their captions and labels (JSONL)."""
    folder = cfg.stage_dir("data")
    count = cfg.scaled(DATA_IMAGES, minimum=64)
    started = time.perf_counter()
    images = np.lib.format.open_memmap(
        folder / "images.npy", mode="w+", dtype=np.uint8,
        shape=(count, cfg.resolution, cfg.resolution, 3),
    )
    bar = ProgressBar("data", count)
    with (folder / "labels.jsonl").open("w") as fh:
        for start in range(0, count, DATA_CHUNK):
            n = min(DATA_CHUNK, count - start)
            batch = shapes_data.generate(
                n, seed=cfg.seed, resolution=cfg.resolution, mode="train", start=start
            )
            images[start : start + n] = batch.images
            for caption, label in zip(batch.captions, batch.labels, strict=True):
                fh.write(json.dumps({"caption": caption, **label.as_dict()}) + "\n")
            bar.update(start + n)
    bar.close()
    images.flush()
    seconds = time.perf_counter() - started
    return {"count": count, "resolution": cfg.resolution, "seed": cfg.seed,
            "seconds": round(seconds, 2), "images_per_s": round(count / seconds, 1)}


def _runner(stage: str) -> Callable[[RunConfig], dict[str, object]]:
    if stage == "vae":
        from training.vae_stage import run_vae

        return run_vae
    if stage == "text":
        from training.text_stage import run_text

        return run_text
    if stage == "decoder":
        from training.decoder_stage import run_decoder

        return run_decoder
    if stage == "unet":
        from training.unet_stage import run_unet

        return run_unet
    if stage == "controlnet":
        from training.controlnet_stage import run_controlnet

        return run_controlnet
    if stage == "lora":
        from training.lora_stage import run_lora

        return run_lora
    return run_data


def run_stages(cfg: RunConfig, stage: str = "all") -> list[str]:
    """Runs ``stage`` (or every stage in order); returns the stages that ran (not skipped)."""
    if stage not in STAGE_CHOICES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {list(STAGE_CHOICES)}")
    if cfg.steps is not None and stage not in ADDON_STAGES:
        raise ValueError(f"steps={cfg.steps} is for the add-on stages {list(ADDON_STAGES)}, "
                         f"not stage {stage!r} (use --steps-scale)")
    torch.set_num_threads(cfg.threads)
    ran: list[str] = []
    for name in STAGES if stage == "all" else (stage,):
        if is_done(cfg, name):
            logger.info("stage %s already finished; skipping", name)
            continue
        for earlier in STAGES[: STAGES.index(name)] if name in STAGES else ():
            if not is_done(cfg, earlier):
                raise ValueError(f"stage {name!r} needs stage {earlier!r} to finish first")
        runner = _runner(name)
        cfg.stage_dir(name).mkdir(parents=True, exist_ok=True)
        summary = runner(cfg)
        mark_done(cfg, name, summary)
        logger.info("stage %s finished: %s", name, summary)
        ran.append(name)
    return ran
