"""A ComfyUI V3 extension: io.ComfyNode classes listed by comfy_entrypoint()."""
from typing_extensions import override

from comfy_api.latest import ComfyExtension, io, ui

CALLS = []


class ScaleNumber(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3ScaleNumber",
            display_name="Scale Number (V3)",
            category="tests/v3",
            description="Multiplies a number.",
            inputs=[
                io.Float.Input("value", default=1.0, min=-100.0, max=100.0),
                io.Int.Input("factor", default=2, min=1, max=10,
                             display_mode=io.NumberDisplay.slider),
                io.Combo.Input("mode", options=["plain", "negated"], default="plain"),
            ],
            outputs=[io.Float.Output(display_name="scaled")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    async def execute(cls, value, factor, mode):
        CALLS.append(cls.hidden.unique_id)
        result = value * factor
        return io.NodeOutput(-result if mode == "negated" else result)

    @classmethod
    def fingerprint_inputs(cls, value, factor, mode):
        return f"{value}:{factor}:{mode}"

    @classmethod
    def validate_inputs(cls, value, factor, mode):
        if value == 13.0:
            return "13 is unlucky"
        return True


class ShowNumber(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3ShowNumber",
            category="tests/v3",
            inputs=[io.Float.Input("number", force_input=True)],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, number):
        return io.NodeOutput(ui=ui.PreviewText(f"{number:g}"))


class V3Extension(ComfyExtension):
    @override
    async def get_node_list(self):
        return [ScaleNumber, ShowNumber]


async def comfy_entrypoint():
    return V3Extension()
