"""Tab-indented source, a non-ASCII class name, extreme float bounds, combos of bools and ints."""
import sys


class Größe:
	@classmethod
	def INPUT_TYPES(cls):
		return {"required": {
			"scale": ("FLOAT", {"default": 1.0, "min": -sys.float_info.max, "max": sys.float_info.max}),
			"flag": ([True, False],),
			"count": ([1, 2, 3], {"default": 2}),
		}}

	RETURN_TYPES = ()
	OUTPUT_NODE = True
	FUNCTION = "run"
	CATEGORY = "tests/tabs"

	def run(self, scale, flag, count):
		return {"ui": {"out": [scale * count if flag else -scale]}}


NODE_CLASS_MAPPINGS = {"GrößeNode": Größe}
NODE_DISPLAY_NAME_MAPPINGS = {"GrößeNode": "Größe ✓"}
