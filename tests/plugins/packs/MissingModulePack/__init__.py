"""A pack whose heavy optional dependency is not installed (the commonest failure)."""
import cv2  # noqa: F401

NODE_CLASS_MAPPINGS = {}
