"""Where loaded weights live: the conversion arena, zero-copy half weights kept from the file,
one read of the file, patching and releasing idle components at the start of sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from diffusion.checkpoint_maker import make_checkpoint
from diffusion.loading import open_checkpoint
from diffusion.loading.arena import HUGE_PAGE, HostArena
from diffusion.loading.files import read_tensor_file
from diffusion.memory import ModelManager, module_nbytes
from diffusion.patching import PatchSet, patched_copy
from diffusion.patching.patches import WeightDiff
from diffusion.unet.model import UNetModel
from diffusion.weight_cast import CastConv2d, compute_dtype_of


def test_arena_hands_out_aligned_slots_that_outlive_it() -> None:
    arena = HostArena(1000)
    a = arena.take((3,), torch.float32).fill_(1.0)
    b = arena.take((2, 5), torch.float16).fill_(2.0)
    assert a.data_ptr() % HUGE_PAGE == 0 and b.data_ptr() % 64 == 0
    assert b.data_ptr() >= a.data_ptr() + 12
    empty = arena.take((0, 4), torch.float32)
    assert empty.shape == (0, 4)
    del arena  # each tensor keeps the map alive
    assert a.sum().item() == 3.0 and b.float().sum().item() == 20.0


def test_arena_overflow_and_bad_size_are_named() -> None:
    arena = HostArena(64)
    with pytest.raises(ValueError, match="cannot hold"):
        arena.take((1 << 24,), torch.float32)
    with pytest.raises(ValueError, match="nbytes=0"):
        HostArena(0)


@pytest.fixture(scope="module")
def tiny_fp16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint("sd15", tmp_path_factory.mktemp("ckpt") / "m.safetensors",
                           tiny=True, seed=3)


def test_kept_half_weights_compute_exactly_like_an_upcast_load(tiny_fp16: Path) -> None:
    opened = open_checkpoint(tiny_fp16)
    kept = opened.load("unet", keep_half=True)
    upcast = opened.load("unet")
    assert isinstance(kept, UNetModel) and isinstance(upcast, UNetModel)
    assert kept.input_blocks[0][0].weight.dtype == torch.float16
    assert type(kept.input_blocks[0][0]) is CastConv2d
    assert compute_dtype_of(kept) == torch.float32
    assert all(p.dtype == torch.float32 for p in upcast.parameters())
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 8)  # (B, 4, H/8, W/8)
    t = torch.tensor([500.0])
    ctx = torch.randn(1, 77, kept.config.context_dim)
    with torch.no_grad():
        assert torch.equal(kept(x, t, ctx), upcast(x, t, ctx))
    kept_bytes = opened.nbytes("unet", keep_half=True)
    assert kept_bytes == module_nbytes(kept) < opened.nbytes("unet")


def test_kept_text_encoder_and_vae_match_the_upcast_ones(tiny_fp16: Path) -> None:
    opened = open_checkpoint(tiny_fp16)
    ids = torch.randint(0, 1000, (1, 77))
    with torch.no_grad():
        a, b = opened.load("clip_l", keep_half=True)(ids), opened.load("clip_l")(ids)
        assert torch.equal(a.hidden, b.hidden) and torch.equal(a.pooled, b.pooled)
        z = torch.randn(1, 4, 4, 4)
        assert torch.equal(opened.load("vae", keep_half=True).decode(z),
                           opened.load("vae").decode(z))


def test_kept_weights_view_the_file_map_and_converted_ones_do_not(tiny_fp16: Path) -> None:
    source = read_tensor_file(tiny_fp16)
    key = "model.diffusion_model.input_blocks.0.0.weight"
    assert source.dtype_of(key) == torch.float16
    opened = open_checkpoint(tiny_fp16)
    unet = opened.load("unet", keep_half=True)
    kept = unet.input_blocks[0][0].weight
    raw = opened.source.get(key)  # the map of the latest load, while ``kept`` holds it
    assert kept.untyped_storage().data_ptr() == raw.untyped_storage().data_ptr()
    converted = opened.load("unet").input_blocks[0][0].weight
    assert converted.untyped_storage().data_ptr() != raw.untyped_storage().data_ptr()
    # each component load maps the file anew (a dropped component's pages leave the process
    # whatever else of the file stays loaded): the same key now reads from another map
    vae = opened.load("vae", keep_half=True)
    assert opened.source.get(key).data_ptr() != kept.data_ptr()
    del vae
    opened.source.populate([kept])  # faulting in again is harmless
    assert torch.equal(kept, raw)


def _diff(module: nn.Module, key: str) -> WeightDiff:
    weight = dict(module.named_parameters())[key]
    return WeightDiff(key, torch.ones(weight.shape), strength=0.5)


def test_patching_kept_half_weights_gives_what_patching_an_upcast_model_gives(
    tiny_fp16: Path,
) -> None:
    opened = open_checkpoint(tiny_fp16)
    kept, upcast = opened.load("unet", keep_half=True), opened.load("unet")
    key = "input_blocks.0.0.weight"
    patched_kept, nbytes = patched_copy(kept, PatchSet((_diff(kept, key),)))
    patched_up, _ = patched_copy(upcast, PatchSet((_diff(upcast, key),)))
    weight = dict(patched_kept.named_parameters())[key]
    assert weight.dtype == torch.float32 and nbytes == weight.numel() * 4
    assert torch.equal(weight, dict(patched_up.named_parameters())[key])
    assert dict(kept.named_parameters())[key].dtype == torch.float16  # base untouched


def test_taking_a_unet_releases_idle_components_beyond_the_allowance(tiny_fp16: Path) -> None:
    manager = ModelManager(budget_bytes=1 << 30, keep_half=True, sampling_idle_bytes=0)
    handles = manager.open(tiny_fp16)
    with handles["clip_l"].use() as clip:
        assert clip.text_model.final_layer_norm.weight.dtype == torch.float16
    with handles["vae"].use():
        pass
    assert {name for _, name, _ in manager.resident()} == {"clip_l", "vae"}
    with handles["unet"].use():
        assert [name for _, name, _ in manager.resident()] == ["unet"]
    keeping = ModelManager(budget_bytes=1 << 30, keep_half=True)  # None: nothing released
    handles = keeping.open(tiny_fp16)
    for name in ("clip_l", "unet"):
        with handles[name].use():
            pass
    assert len(keeping.resident()) == 2


def test_other_components_release_only_other_files_idle_ones(tiny_fp16: Path,
                                                              tmp_path: Path) -> None:
    """A base → refiner job: decoding with the base's VAE releases the refiner's idle UNet; a
    job on one checkpoint keeps every component of it however often its VAE or CLIP runs."""
    refiner = tmp_path / "refiner.safetensors"
    refiner.write_bytes(tiny_fp16.read_bytes())
    manager = ModelManager(budget_bytes=1 << 30, keep_half=True, sampling_idle_bytes=0)
    base, other = manager.open(tiny_fp16), manager.open(refiner)
    for handle in (base["unet"], base["clip_l"], base["vae"]):  # the UNet first: sampling
        with handle.use():  # releases what is idle; the CLIP and VAE after it, of its file, not
            pass
    assert sorted(name for _, name, _ in manager.resident()) == ["clip_l", "unet", "vae"]
    loads = manager.loads
    with base["clip_l"].use(), base["vae"].use():  # the same file: nothing released
        pass
    assert manager.loads == loads and len(manager.resident()) == 3
    with other["unet"].use():  # sampling: every idle component beyond the allowance goes
        pass
    assert [(Path(f).name, n) for f, n, _ in manager.resident()] == [("refiner.safetensors",
                                                                      "unet")]
    with base["vae"].use():  # decoding with the base's VAE releases the refiner's UNet
        assert [(Path(f).name, n) for f, n, _ in manager.resident()] == [(tiny_fp16.name,
                                                                          "vae")]


def test_negative_idle_allowance_is_named() -> None:
    with pytest.raises(ValueError, match="sampling_idle_bytes=-1"):
        ModelManager(budget_bytes=1, sampling_idle_bytes=-1)
