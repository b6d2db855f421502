"""``latentgraph train-demo``: train the embedded demo model in resumable stages (issue 7) and
its ControlNet and LoRA add-ons (issue 21)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

STAGE_CHOICES = ["all", "data", "vae", "text", "decoder", "unet", "controlnet", "lora"]


def add_train_demo_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "train-demo", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="train the tiny shapes demo model in resumable stages (CPU)",
    )
    parser.add_argument("--out", type=Path, required=True,
                        help="folder holding each stage's state, loss log and outputs")
    parser.add_argument("--stage", default="all", choices=STAGE_CHOICES,
                        help="run one stage, or every unfinished base stage in order (all); "
                             "controlnet and lora train the add-ons for DIR's exported model, "
                             "or the embedded one when DIR has none")
    parser.add_argument("--steps-scale", type=float, default=1.0,
                        help="multiply every stage's steps and data size (smoke runs: 0.01)")
    parser.add_argument("--steps", type=int, default=None,
                        help="controlnet / lora: optimizer steps (default: the recipe's times "
                             "--steps-scale; the data size follows --steps-scale only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1 is fastest on a shared 2-core box)")


def train_demo_command(args: argparse.Namespace) -> int:
    from training.config import RunConfig
    from training.stages import run_stages

    try:
        cfg = RunConfig(args.out, seed=args.seed, steps_scale=args.steps_scale,
                        threads=args.threads, steps=args.steps)
        ran = run_stages(cfg, args.stage)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    print(f"{args.out}: ran {', '.join(ran) if ran else 'nothing (all requested stages done)'}")
    return 0
