"""Reading GLIGEN files (``models/gligen``): ComfyUI's pruned ``gligen_sd14_textbox_pruned``
safetensors, or any flat file (weights-only pickles too) holding the fusers and the position net.

As ComfyUI's ``load_gligen``, only ``….fuser.…`` keys under a UNet transformer block and
``position_net.…`` keys are read, whatever prefix comes before them; other keys are ignored.
Widths come from the shapes (``linear.weight`` is query x key width; the position net's input and
output widths from its null feature and last layer). A file whose fusers sit at the SD1.x/SD2.x
UNet's transformer blocks with its widths is checked against that whole layout, so a file with
keys or whole blocks cut out is refused naming the missing keys; a file for another UNet (tiny
test models) is checked block by block.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import torch

from diffusion.gligen.model import FuserSpec, GligenConfig, GligenModel
from diffusion.loading.checkpoint import check_layout
from diffusion.loading.errors import CheckpointError, UnknownModelError
from diffusion.loading.files import TensorFile, read_tensor_file
from diffusion.unet.attention import BlockId
from diffusion.unet.blocks import BasicTransformerBlock, SpatialTransformer
from diffusion.unet.config import UNetConfig, sd1_config
from diffusion.unet.model import UNetModel

logger = logging.getLogger(__name__)

_FUSER = re.compile(
    r"(?:^|\.)(?P<path>(?P<kind>input|output)_blocks\.(?P<index>\d+)\.1|middle_block\.1)"
    r"\.transformer_blocks\.(?P<depth>\d+)\.fuser\.(?P<param>.+)$")
_POSITION = re.compile(r"(?:^|\.)(?P<key>position_net\..+)$")
Shapes = Mapping[str, tuple[int, ...]]


class GligenError(CheckpointError):
    """A file that is not a usable GLIGEN model."""


def unet_transformers(config: UNetConfig) -> list[tuple[BlockId, int, int]]:
    """(block id, depth, width) of every SpatialTransformer of a UNet, in execution order."""
    with torch.device("meta"):
        unet = UNetModel(config)
    out = []
    for module in unet.modules():
        if isinstance(module, SpatialTransformer):
            assert module.block is not None
            first = module.transformer_blocks[0]
            assert isinstance(first, BasicTransformerBlock)
            width = first.attn1.to_q.in_features
            out.append((module.block, len(module.transformer_blocks), width))
    return out


def config_for_unet(unet: UNetConfig, key_dim: int, position_in_dim: int) -> GligenConfig:
    """A GLIGEN model with one fuser per transformer block of ``unet``."""
    fusers = tuple(FuserSpec(block, depth, width, key_dim)
                   for block, depth, width in unet_transformers(unet))
    return GligenConfig(fusers, position_in_dim, key_dim)


@lru_cache(maxsize=1)
def _sd_transformers() -> tuple[tuple[BlockId, int, int], ...]:
    return tuple(unet_transformers(sd1_config()))  # SD2.x has the same blocks and widths


def canonical_keys(shapes: Shapes) -> dict[str, str]:
    """``{our key: file key}`` for the file's fuser and position-net keys."""
    out: dict[str, str] = {}
    for key in shapes:
        fuser, position = _FUSER.search(key), _POSITION.search(key)
        if fuser is not None:
            ours = (f"{fuser['path']}.transformer_blocks.{fuser['depth']}.fuser."
                    f"{fuser['param']}")
        elif position is not None:
            ours = position["key"]
        else:
            continue
        if ours in out:
            raise GligenError(f"GLIGEN keys {out[ours]!r} and {key!r} both mean {ours!r}")
        out[ours] = key
    return out


def _block(match: re.Match[str]) -> BlockId:
    if match["kind"] is None:
        return ("middle", 0)
    return ("input" if match["kind"] == "input" else "output", int(match["index"]))


def _fuser_specs(shapes: Shapes, path: Path) -> tuple[FuserSpec, ...]:
    depths: dict[BlockId, int] = {}
    widths: dict[BlockId, tuple[int, int]] = {}
    for key, shape in shapes.items():
        match = _FUSER.search(key)
        if match is None:
            continue
        block = _block(match)
        depths[block] = max(depths.get(block, 0), int(match["depth"]) + 1)
        if match["param"] == "linear.weight" and len(shape) == 2:
            widths[block] = (shape[0], shape[1])
    unsized = sorted(set(depths) - set(widths))
    if unsized:
        raise GligenError(f"{path}: GLIGEN fusers of blocks {unsized} lack fuser.linear.weight "
                          "(their widths cannot be read)")
    return tuple(FuserSpec(b, depths[b], *widths[b]) for b in sorted(depths, key=_order))


def _order(block: BlockId) -> tuple[int, int]:
    return ({"input": 0, "middle": 1, "output": 2}[block[0]], block[1])


def _expected_fusers(found: tuple[FuserSpec, ...]) -> tuple[FuserSpec, ...]:
    """The whole SD1.x/SD2.x layout when ``found`` fits inside it, else ``found`` itself."""
    key_dim = found[0].key_dim
    sd = {block: (depth, width) for block, depth, width in _sd_transformers()}
    fits = all(sd.get(s.block, (0, 0))[1] == s.query_dim and s.key_dim == key_dim
               for s in found)
    if not fits:
        return found
    return tuple(FuserSpec(block, depth, width, key_dim)
                 for block, depth, width in _sd_transformers())


def gligen_config(shapes: Shapes, path: Path) -> GligenConfig:
    """The configuration a GLIGEN file's keys (under our names) describe."""
    specs = _fuser_specs(shapes, path)
    if not specs:
        sample = sorted(shapes)[:3]
        raise GligenError(f"{path}: not a GLIGEN model: no '…transformer_blocks.N.fuser.…' keys "
                          f"({len(shapes)} keys, e.g. {sample})")
    null, last = shapes.get("position_net.null_positive_feature"), shapes.get(
        "position_net.linears.4.weight")
    if null is None or last is None:
        raise GligenError(f"{path}: GLIGEN model without a text-box position net "
                          "(position_net.null_positive_feature / linears.4.weight missing)")
    return GligenConfig(_expected_fusers(specs), null[0], last[0])


def check_gligen_layout(shapes: Shapes, path: Path) -> GligenConfig:
    """The configuration of a GLIGEN file's keys (under our names), its layout checked: raises
    ``GligenError`` naming missing, unexpected and mis-shaped keys."""
    config = gligen_config(shapes, path)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in GligenModel(config).state_dict().items()}
    try:
        check_layout(path, shapes, expected)
    except UnknownModelError as exc:
        raise GligenError(str(exc).replace("the detected model", "a GLIGEN model")) from exc
    return config


def load_gligen(path: str | Path) -> GligenModel:
    """The GLIGEN model in ``path``, on the CPU in float32, its layout checked."""
    path = Path(path)
    try:
        source: TensorFile = read_tensor_file(path)
    except (CheckpointError, OSError) as exc:
        raise GligenError(f"GLIGEN file {path.name!r} cannot be read: {exc}") from exc
    names = canonical_keys(source.shapes)
    ignored = len(source.shapes) - len(names)
    if ignored:
        logger.debug("%s: ignoring %d keys that are no GLIGEN fuser or position net", path,
                     ignored)
    config = check_gligen_layout({ours: source.shapes[theirs] for ours, theirs in names.items()},
                                 path)
    with torch.device("meta"):
        model = GligenModel(config)
    state = {ours: tensor.float() for ours, (_, tensor) in zip(
        names, source.tensors(list(names.values())), strict=True)}
    model.load_state_dict(state, strict=True, assign=True)
    logger.info("%s: GLIGEN model with %d fused transformers", path, len(config.fusers))
    return model.eval().requires_grad_(False)
