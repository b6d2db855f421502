"""unCLIP noise augmentation against diffusers' stable unCLIP path: ``StableUnCLIPImageNormalizer``
(random data statistics), ``DDPMScheduler(beta_schedule="squaredcos_cap_v2").add_noise`` and the
noise-level embedding (``get_timestep_embedding``, cos first), and ComfyUI's ``unclip_adm``
semantics (seeding, strength, merging several images, SDXL's pooled slice) by hand."""

from __future__ import annotations

import pytest
import torch

from diffusion.guidance.adm import encode_adm
from diffusion.guidance.cond import Cond, UnclipEntry
from diffusion.guidance.unclip import (
    AdmNoise,
    NoiseAugmentor,
    model_adm_noise,
    noise_level,
    unclip_adm,
    unclip_augmentor,
)

diffusers = pytest.importorskip("diffusers")
from diffusers.models.embeddings import get_timestep_embedding  # noqa: E402
from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (  # noqa: E402
    StableUnCLIPImageNormalizer,
)

DIM = 32


def _reference(embeds: torch.Tensor, level: int, noise: torch.Tensor, mean: torch.Tensor,
               std: torch.Tensor) -> torch.Tensor:
    normalizer = StableUnCLIPImageNormalizer(embedding_dim=DIM)
    normalizer.load_state_dict({"mean": mean, "std": std})
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=1000,
                                        beta_schedule="squaredcos_cap_v2")
    levels = torch.tensor([level] * embeds.shape[0])
    with torch.no_grad():
        scaled = normalizer.scale(embeds)
        noised = normalizer.unscale(scheduler.add_noise(scaled, noise, levels))
    emb = get_timestep_embedding(levels, DIM, flip_sin_to_cos=True, downscale_freq_shift=0)
    return torch.cat([noised, emb], dim=1)


@pytest.mark.parametrize("level", [0, 1, 250, 999])
def test_augmentation_matches_diffusers(level: int, rel_err) -> None:
    gen = torch.Generator().manual_seed(4)
    embeds = torch.randn(1, DIM, generator=gen)
    mean = torch.randn(1, DIM, generator=gen)
    std = torch.rand(1, DIM, generator=gen) + 0.5
    augmentor = NoiseAugmentor(DIM, mean, std)
    noised, level_emb = augmentor(embeds[0], level, torch.Generator().manual_seed(9))
    noise = torch.randn(1, DIM, generator=torch.Generator().manual_seed(9))
    want = _reference(embeds, level, noise, mean, std)
    assert rel_err(torch.cat([noised, level_emb], dim=1), want) <= 1e-5


def test_unclip_adm_seeds_scales_and_merges_as_comfyui() -> None:
    gen = torch.Generator().manual_seed(1)
    first = UnclipEntry(torch.randn(2, DIM, generator=gen), 0.7, 0.25)  # two images
    second = UnclipEntry(torch.randn(1, DIM, generator=gen), 1.5, 0.0)
    augmentor = NoiseAugmentor(DIM)
    noise = AdmNoise(augmentor, seed=42, merge=0.05)
    got = unclip_adm((first, second), noise)
    stream = torch.Generator()
    parts = []
    for entry in (first, second):
        for row in entry.image_embeds:
            stream.manual_seed(42 - 10)  # ComfyUI reseeds with seed - 10 for every image
            z, emb = augmentor(row, noise_level(entry.noise_augmentation), stream)
            parts.append(torch.cat([z, emb], 1) * entry.strength)
    summed = torch.stack(parts).sum(0)
    z, emb = augmentor(summed[:, :DIM], noise_level(0.05), stream)  # continues the stream
    assert noise_level(0.25) == 250 and noise_level(0.05) == 50
    assert torch.equal(got, torch.cat([z, emb], 1))
    single = unclip_adm((second,), noise)
    stream.manual_seed(32)
    z, emb = augmentor(second.image_embeds[0], 0, stream)
    assert torch.equal(single, torch.cat([z, emb], 1) * 1.5)


def test_zero_strength_gives_zero_adm_and_no_entry_gives_zeros() -> None:
    noise = model_adm_noise("unclip", 2 * DIM, None, seed=3)
    assert noise is not None and noise.merge == 0.05
    cond = Cond(torch.zeros(1, 2, 8))
    assert torch.equal(encode_adm(cond, "unclip", "positive", 8, 8, noise), torch.zeros(1, 64))
    entry = UnclipEntry(torch.randn(1, DIM), 0.0, 0.5)
    zero = Cond(torch.zeros(1, 2, 8), unclip=(entry,))
    assert torch.equal(encode_adm(zero, "unclip", "positive", 8, 8, noise), torch.zeros(1, 64))


def test_sdxl_revision_replaces_the_pooled_embedding() -> None:
    pooled_width = 16
    noise = model_adm_noise("sdxl", pooled_width + 6 * 256, None, seed=7)
    assert noise is not None and noise.augmentor.dim == pooled_width and noise.merge == 0.0
    entry = UnclipEntry(torch.randn(1, pooled_width), 1.0, 0.0)
    text = Cond(torch.zeros(1, 2, 8), pooled_output=torch.ones(1, pooled_width))
    with_image = Cond(torch.zeros(1, 2, 8), pooled_output=torch.ones(1, pooled_width),
                      unclip=(entry,))
    plain = encode_adm(text, "sdxl", "positive", 8, 8, noise)
    revised = encode_adm(with_image, "sdxl", "positive", 8, 8, noise)
    expected = unclip_adm((entry,), noise)[:, :pooled_width]
    assert torch.equal(revised[:, :pooled_width], expected)
    assert torch.equal(revised[:, pooled_width:], plain[:, pooled_width:])  # micro-conditions
    with pytest.raises(ValueError, match="needs the model's noise augmentation"):
        encode_adm(with_image, "sdxl", "positive", 8, 8, None)


def test_checkpoint_statistics_are_read_when_present() -> None:
    stats = {"noise_augmentor.data_mean": torch.full((1, DIM), 0.5),
             "noise_augmentor.data_std": torch.full((1, DIM), 2.0)}
    augmentor = unclip_augmentor(DIM, stats.get)
    assert augmentor.data_mean is not None and float(augmentor.data_mean[0, 0]) == 0.5
    assert unclip_augmentor(DIM, lambda key: None).data_mean is None
    with pytest.raises(ValueError, match="come together"):
        unclip_augmentor(DIM, {"noise_augmentor.data_mean": torch.zeros(1, DIM)}.get)
    with pytest.raises(ValueError, match="32-wide"):
        NoiseAugmentor(DIM)(torch.zeros(1, 8), 0, torch.Generator())
