"""``benchmarks/gpu_suite.py --dry-run``: the prepared GPU suite runs end to end on tiny models
on the CPU (ours through the engine, diffusers' SD1.5 and SDXL pipelines from the same file)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ITS = re.compile(r"^\s+(ours|diffusers)\s+([0-9.]+) it/s", re.MULTILINE)


def test_dry_run_reports_load_time_and_it_s_for_both_pipelines_and_sides() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--dry-run", "--steps", "1"],
        capture_output=True, text=True, timeout=900, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "sd15 64x64, 1 steps" in out and "sdxl 64x64, 1 steps" in out, out
    assert len(re.findall(r"checkpoint load \(ours, to device\): [0-9.]+ s", out)) == 2, out
    rates = ITS.findall(out)
    assert [side for side, _ in rates] == ["ours", "diffusers"] * 2, out
    assert all(float(rate) > 0 for _, rate in rates), out


def test_without_cuda_the_full_suite_refuses_and_names_the_dry_run() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys, torch; torch.cuda.is_available = lambda: False; "
         "sys.argv = ['gpu_suite.py']; sys.path.insert(0, 'benchmarks'); "
         "import runpy; runpy.run_path('benchmarks/gpu_suite.py', run_name='__main__')"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert done.returncode != 0 and "--dry-run" in done.stderr, done.stderr[-2000:]
