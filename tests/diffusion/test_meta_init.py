"""diffusion.meta_init: building on meta skips initialisation, exactly and only there."""

from __future__ import annotations

import sys
import threading

import torch
from torch import nn

from diffusion.meta_init import meta_init_skipped


def test_meta_builds_skip_init_and_real_builds_initialise_as_torch_does() -> None:
    original = torch.nn.init.kaiming_uniform_

    with meta_init_skipped():
        with torch.device("meta"):
            layer = nn.Linear(8, 8)
            table = nn.Embedding(10, 4)
        assert layer.weight.is_meta and table.weight.is_meta
        torch.manual_seed(0)
        real = nn.Linear(8, 8)  # a real tensor is initialised as usual
    torch.manual_seed(0)
    assert torch.equal(real.weight, nn.Linear(8, 8).weight)
    assert torch.nn.init.kaiming_uniform_ is original  # restored on exit


def test_nested_and_concurrent_blocks_restore_torch_once_all_have_left() -> None:
    original = torch.nn.init.normal_
    entered, release = threading.Barrier(2), threading.Event()

    def other() -> None:
        with meta_init_skipped():
            entered.wait()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    with meta_init_skipped():
        with meta_init_skipped():
            entered.wait()
        assert torch.nn.init.normal_ is not original  # still inside one block
    assert torch.nn.init.normal_ is not original  # the other thread is still inside
    release.set()
    thread.join()
    assert torch.nn.init.normal_ is original


def test_text_towers_built_on_meta_import_no_dynamo() -> None:
    """normal_ on a meta tensor would import torch._dynamo (~1.3 s) just to do nothing."""
    import subprocess

    script = (
        "import sys, torch\n"
        "from diffusion.meta_init import meta_init_skipped\n"
        "from diffusion.text.clip import OpenCLIPTextModel, CLIPTextModel\n"
        "with torch.device('meta'), meta_init_skipped():\n"
        "    OpenCLIPTextModel(); CLIPTextModel()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120).stdout.strip()
    assert out == "False"
