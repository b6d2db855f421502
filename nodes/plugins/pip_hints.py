"""The pip package that provides a module, for the modules node packs most often import whose
distribution name differs from the module name (a missing module is the commonest way a pack
fails on a new install). Unknown modules get no hint: the module name is shown as it is."""

from __future__ import annotations

PIP_PACKAGES: dict[str, str] = {
    "cv2": "opencv-python",
    "PIL": "pillow",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "git": "GitPython",
    "google.protobuf": "protobuf",
    "mediapipe": "mediapipe",
    "onnxruntime": "onnxruntime",
    "insightface": "insightface",
    "fitz": "PyMuPDF",
    "Crypto": "pycryptodome",
    "jwt": "PyJWT",
    "magic": "python-magic",
    "serial": "pyserial",
    "win32api": "pywin32",
    "sentencepiece": "sentencepiece",
    "segment_anything": "segment-anything",
    "ultralytics": "ultralytics",
    "kornia": "kornia",
    "rembg": "rembg",
    "timm": "timm",
    "einops": "einops",
    "transformers": "transformers",
    "diffusers": "diffusers",
    "accelerate": "accelerate",
    "omegaconf": "omegaconf",
    "matplotlib": "matplotlib",
    "pandas": "pandas",
    "numba": "numba",
    "piexif": "piexif",
    "imageio": "imageio",
    "simpleeval": "simpleeval",
    "color_matcher": "color-matcher",
    "spandrel": "spandrel",
    "huggingface_hub": "huggingface_hub",
}

# ComfyUI modules Latentgraph does not provide (packs needing them cannot load).
COMFY_MODULES = ("comfy", "comfy_extras", "comfy_execution", "comfy_api", "comfy_config",
                 "execution", "app", "folder_paths", "latent_preview", "node_helpers")


def pip_package(module: str) -> str | None:
    """The pip package for a top-level (or dotted) module name, when known."""
    for name in (module, module.split(".", 1)[0]):
        if name in PIP_PACKAGES:
            return PIP_PACKAGES[name]
    return None


def is_comfyui_module(module: str) -> bool:
    return module.split(".", 1)[0] in COMFY_MODULES
