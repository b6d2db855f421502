"""IS_CHANGED as a plain attribute (always re-run) and as a method (a file's mtime)."""
import os

import folder_paths

RUNS = []


class AlwaysNew:
    IS_CHANGED = True  # not callable: ComfyUI then treats the node as always changed

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tag": ("STRING", {"default": "x"})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"
    CATEGORY = "tests/change"

    def run(self, tag):
        RUNS.append(("always", tag))
        return {"ui": {"runs": [len(RUNS)]}}


class FileStamp:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {"default": "stamp.txt"})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "read"
    CATEGORY = "tests/change"

    @classmethod
    def IS_CHANGED(cls, name):
        return os.path.getmtime(folder_paths.get_annotated_filepath(name))

    def read(self, name):
        RUNS.append(("file", name))
        with open(folder_paths.get_annotated_filepath(name), encoding="utf-8") as f:
            return {"ui": {"text": [f.read()]}}


NODE_CLASS_MAPPINGS = {"AlwaysNew": AlwaysNew, "FileStamp": FileStamp}
