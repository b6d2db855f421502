"""Nodes that loop until the job is interrupted: one checks ComfyUI's interrupt flag, one
reports progress through comfy.utils.ProgressBar."""
import threading
import time

import comfy.model_management
import comfy.utils

STARTED = threading.Event()


class LoopUntilInterrupted:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 60.0})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "loop"
    CATEGORY = "tests/isolation"

    def loop(self, seconds):
        STARTED.set()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            comfy.model_management.throw_exception_if_processing_interrupted()
            time.sleep(0.01)
        return {"ui": {"done": [True]}}


class ProgressUntilInterrupted:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 100000})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "loop"
    CATEGORY = "tests/isolation"

    def loop(self, steps):
        STARTED.set()
        bar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            time.sleep(0.01)
            bar.update(1)
        return {"ui": {"done": [True]}}


NODE_CLASS_MAPPINGS = {"LoopUntilInterrupted": LoopUntilInterrupted,
                       "ProgressUntilInterrupted": ProgressUntilInterrupted}
