"""``unet_step.py --smoke`` and ``vae_decode.py --smoke``: ours vs diffusers on tiny models run end
to end and print times, the ratio, FLOPs and the efficiency over the measured matmul rate."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RATIO = re.compile(r"ours ([0-9.]+) s  diffusers ([0-9.]+) s  ratio ([0-9.]+)  "
                   r"\(median per-round ratio ([0-9.]+); max rel diff ([0-9.e+-]+)\)")
EFFICIENCY = re.compile(r"(forward|decode) ([0-9.]+) GFLOP .* matmul ([0-9.]+) GFLOP/s  "
                        r"efficiency ([0-9.]+)  \(median per-round efficiency ([0-9.]+)\)")


@pytest.mark.parametrize("script", ["unet_step.py", "vae_decode.py"])
def test_smoke_run_reports_ratio_and_efficiency(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--smoke", "--repeat", "2"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    ratio, efficiency = RATIO.search(done.stdout), EFFICIENCY.search(done.stdout)
    assert ratio and efficiency, done.stdout
    ours, ref, quotient = (float(v) for v in ratio.group(1, 2, 3))
    # the printed seconds are rounded to ms: smoke calls take ~10 ms
    assert ours > 0 and ref > 0 and quotient == pytest.approx(ours / ref, rel=0.2)
    assert float(ratio.group(5)) < 1e-4  # the same weights give the same result
    assert float(efficiency.group(2)) > 0 and float(efficiency.group(3)) > 0
    assert 0 < float(efficiency.group(4)) and 0 < float(efficiency.group(5))
