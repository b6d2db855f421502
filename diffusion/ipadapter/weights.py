"""The IPAdapter plugin's weight types: how the adapter's weight varies over the UNet's
SpatialTransformers (``t`` = ComfyUI's ``transformer_index``, ``layers`` their count: 16 SD1.x,
11 SDXL).

Ramps: ``ease in`` w·(0.05 + 0.95·(1 − t/layers)), ``ease out`` w·(0.05 + 0.95·t/layers),
``ease in-out`` / ``reverse in-out`` around the middle layer; ``weak input`` / ``weak output`` /
``weak middle`` scale those blocks by 0.2, ``strong middle`` scales the others. The style and
composition types keep only some layers (per family, ``layer_weights``); the ``precise``
variants also turn the image into the negative at the composition layers (style) or at every
other layer (composition).
"""

from __future__ import annotations

from dataclasses import dataclass

WEIGHT_TYPES = ("linear", "ease in", "ease out", "ease in-out", "reverse in-out", "weak input",
                "weak output", "weak middle", "strong middle", "style transfer", "composition",
                "strong style transfer", "style and composition", "style transfer precise",
                "composition precise")
SDXL_LAYERS = 11  # SDXL's SpatialTransformers; SD1.x has 16
LayerWeights = dict[int, float]


def _sd1_style(w: float) -> LayerWeights:
    return {i: w for i in (0, 1, 2, 3, 9, 10, 11, 12, 13, 14, 15)}


def _dict_weights(weight_type: str, w: float, comp: float, sdxl: bool) -> LayerWeights | None:
    """The plugin's per-layer dicts (``ipadapter_execute``); None for the other types."""
    if weight_type == "style transfer":
        return {6: w} if sdxl else _sd1_style(w)
    if weight_type == "composition":
        return {3: w} if sdxl else {4: w * 0.25, 5: w}
    if weight_type == "strong style transfer":
        keep = (0, 1, 2, 4, 5, 6, 7, 8, 9, 10) if sdxl else (0, 1, 2, 3, *range(6, 16))
        return {i: w for i in keep}
    if weight_type in ("style and composition", "style transfer precise"):
        if weight_type == "style transfer precise":
            comp = w
        return {3: comp, 6: w} if sdxl else {**_sd1_style(w), 4: comp * 0.25, 5: comp}
    if weight_type == "composition precise":
        if sdxl:
            return {i: (w if i in (3, 6) else w * 0.1) for i in range(11)}
        return {0: w, 1: w, 2: w, 3: w, 4: w * 0.25, 5: w, 6: w * 0.1, 7: w * 0.1, 8: w * 0.1,
                **{i: w for i in range(9, 16)}}
    return None


@dataclass(frozen=True)
class LayerWeight:
    """The weight at one layer, and whether the image is moved to the negative there."""

    weight: float
    image_as_negative: bool = False


def _precise_swap(weight_type: str, t: int, layers: int) -> bool:
    composition_layers = (3,) if layers == SDXL_LAYERS else (4, 5)
    if weight_type == "style transfer precise":
        return t in composition_layers
    if weight_type == "composition precise":
        return t not in composition_layers
    return False


def _ramp(weight_type: str, w: float, t: int, layers: int) -> float | None:
    half = layers / 2
    if weight_type == "ease in":
        return w * (0.05 + 0.95 * (1 - t / layers))
    if weight_type == "ease out":
        return w * (0.05 + 0.95 * (t / layers))
    if weight_type == "ease in-out":
        return w * (0.05 + 0.95 * (1 - abs(t - half) / half))
    if weight_type == "reverse in-out":
        return w * (0.05 + 0.95 * (abs(t - half) / half))
    return None


@dataclass(frozen=True)
class WeightSchedule:
    """A weight and weight type over a UNet with ``layers`` SpatialTransformers (``sdxl``
    selects the SDXL layer sets of the style and composition types)."""

    weight: float
    weight_type: str = "linear"
    layers: int = 16
    sdxl: bool = False
    weight_composition: float = 1.0

    def __post_init__(self) -> None:
        if self.weight_type not in WEIGHT_TYPES:
            raise ValueError(f"weight_type {self.weight_type!r}: choose one of "
                             f"{list(WEIGHT_TYPES)}")

    def at(self, t: int, block_type: str) -> LayerWeight:
        """The weight at SpatialTransformer ``t`` of a block of ``block_type`` (input, middle,
        output); weight 0 means the layer is left alone."""
        w, kind = self.weight, self.weight_type
        ramp = _ramp(kind, w, t, self.layers)
        if ramp is not None:
            return LayerWeight(ramp)
        weak = {"weak input": block_type == "input", "weak middle": block_type == "middle",
                "weak output": block_type == "output",
                "strong middle": block_type in ("input", "output")}
        if weak.get(kind):
            return LayerWeight(w * 0.2)
        table = _dict_weights(kind, w, self.weight_composition, self.sdxl)
        if table is None:
            return LayerWeight(w)
        if t not in table:
            return LayerWeight(0.0)
        return LayerWeight(table[t], _precise_swap(kind, t, self.layers))
