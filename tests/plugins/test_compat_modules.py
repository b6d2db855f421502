"""The ComfyUI modules packs import, one behaviour each: how the names resolve (and go away),
``folder_paths``, ``comfy.utils``, ``comfy.model_management``, ``node_helpers``,
``comfy_execution.graph_utils`` and ``server.PromptServer``."""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from executor.context import NodeRunContext
from executor.events import CollectingSink, NodeProgress
from latentgraph.app import build_registry, folders_under
from nodes.api import NodeInterrupted, Registry
from nodes.plugins.host import PluginHost, install, uninstall
from nodes.plugins.runtime import ActiveNode, running


@pytest.fixture
def host(tmp_path: Path) -> Iterator[PluginHost]:
    (tmp_path / "models" / "checkpoints" / "sub").mkdir(parents=True)
    (tmp_path / "models" / "checkpoints" / "a.safetensors").write_bytes(b"x")
    (tmp_path / "models" / "checkpoints" / "sub" / "b.safetensors").write_bytes(b"x")
    registry = build_registry(folders_under(tmp_path))
    active = install(PluginHost(registry))
    from nodes.plugins.compat.builtin_views import expose_builtins

    expose_builtins(active)
    yield active
    uninstall()


def context(registry: Registry, cancel: threading.Event | None = None
            ) -> tuple[NodeRunContext, CollectingSink]:
    sink = CollectingSink()
    ctx = NodeRunContext("7", "job", {"7": {}}, {}, registry.schema.folders, None,  # type: ignore[arg-type]
                         registry.schema.model_files, None, registry.samplers,  # type: ignore[arg-type]
                         logging.getLogger("t"), cancel or threading.Event(), sink)
    return ctx, sink


def test_comfyui_names_resolve_to_the_compatibility_modules_and_go_away(
        host: PluginHost) -> None:
    import comfy.utils
    import folder_paths

    import nodes
    from server import PromptServer

    assert comfy.utils is sys.modules["nodes.plugins.compat.comfy.utils"]
    assert folder_paths.__name__ == "nodes.plugins.compat.folder_paths"
    assert nodes.MAX_RESOLUTION == 16384 and nodes.KSampler.FUNCTION == "sample"
    assert nodes.NODE_CLASS_MAPPINGS["CLIPTextEncode"] is nodes.CLIPTextEncode
    assert PromptServer.instance is not None
    import comfy

    assert comfy.model_management.__name__.endswith("comfy.model_management")  # lazy access
    with pytest.raises(ModuleNotFoundError) as missing:
        importlib.import_module("comfy.ldm.modules.attention")
    assert missing.value.name.startswith("comfy.ldm")
    uninstall()
    assert "folder_paths" not in sys.modules and not hasattr(nodes, "NODE_CLASS_MAPPINGS")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("folder_paths")
    import server

    assert not hasattr(server, "PromptServer")


def test_builtin_views_take_comfyuis_positional_order(host: PluginHost) -> None:
    import nodes

    assert nodes.CLIPTextEncode._latentgraph_params == ("clip", "text")
    assert nodes.VAEDecode._latentgraph_params == ("vae", "samples")
    assert nodes.EmptyLatentImage.INPUT_TYPES()["required"]["width"][0] == "INT"
    assert nodes.KSampler.RETURN_TYPES == ("LATENT",)
    ctx, _ = context(host.registry)
    with running(ActiveNode(ctx, "t")):
        (latent,) = nodes.EmptyLatentImage().generate(64, 32, 3)
    assert latent["samples"].shape == (3, 4, 4, 8)
    with pytest.raises(RuntimeError, match="while a node runs"):
        nodes.EmptyLatentImage().generate(64, 64)


def test_folder_paths_lists_resolves_and_contains(host: PluginHost, tmp_path: Path) -> None:
    import folder_paths

    listed = folder_paths.get_filename_list("checkpoints")
    assert listed == host.registry.schema.model_files.files("checkpoints")  # the pickers' list
    assert {"a.safetensors", "sub/b.safetensors"} <= set(listed)
    assert folder_paths.get_full_path("checkpoints", "sub/b.safetensors") == str(
        (tmp_path / "models" / "checkpoints" / "sub" / "b.safetensors").resolve())
    assert folder_paths.get_full_path("checkpoints", "../../x") is None
    assert folder_paths.get_full_path("checkpoints", "missing.safetensors") is None
    assert folder_paths.get_output_directory() == str((tmp_path / "output").resolve())
    extra = tmp_path / "ipadapters"
    extra.mkdir()
    (extra / "ip.bin").write_bytes(b"x")
    folder_paths.add_model_folder_path("ipadapter", str(extra))
    assert folder_paths.get_filename_list("ipadapter") == ["ip.bin"]
    assert "ipadapter" in folder_paths.folder_names_and_paths
    folder_paths.folder_names_and_paths["mine"] = ([str(extra)], {".bin"})
    assert folder_paths.get_filename_list("mine") == ["ip.bin"]
    out = tmp_path / "output"
    (out / "ComfyUI_00004_.png").write_bytes(b"")
    folder, stem, counter, sub, _ = folder_paths.get_save_image_path("ComfyUI", str(out))
    assert (folder, stem, counter, sub) == (str(out.resolve()), "ComfyUI", 5, "")
    folder, _, counter, sub, _ = folder_paths.get_save_image_path("nested/x_%width%", str(out),
                                                                    32, 16)
    assert sub == "nested" and counter == 1 and folder.endswith("nested")
    with pytest.raises(ValueError):
        folder_paths.get_save_image_path("../escape", str(out))
    (tmp_path / "temp" / "t.png").write_bytes(b"")
    assert folder_paths.exists_annotated_filepath("t.png [temp]")
    assert not folder_paths.exists_annotated_filepath("t.png")


def test_progress_bar_reports_and_stops_a_cancelled_job(host: PluginHost) -> None:
    import comfy.utils

    cancel = threading.Event()
    ctx, sink = context(host.registry, cancel)
    with running(ActiveNode(ctx, "t")):
        bar = comfy.utils.ProgressBar(4)
        bar.update(1)
        bar.update_absolute(3, preview=("JPEG", "image", 512))
        cancel.set()
        with pytest.raises(NodeInterrupted):
            bar.update(1)
    progress = sink.of_type(NodeProgress)
    assert [(p.value, p.max) for p in progress] == [(1, 4), (3, 4)]
    assert progress[1].preview == ("JPEG", "image", 512) and progress[0].node_id == "7"


def test_full_size_png_previews_become_client_images(host: PluginHost) -> None:
    """ComfyUI's SaveImageWebsocket reports ``("PNG", image, None)``: sent whatever the preview
    method, as ComfyUI sends it; sized previews stay previews."""
    import comfy.utils
    from PIL import Image

    from nodes.api import ClientImage

    ctx, sink = context(host.registry, threading.Event())
    image = Image.new("RGB", (600, 20))
    with running(ActiveNode(ctx, "t")):
        bar = comfy.utils.ProgressBar(2)
        bar.update_absolute(0, 2, ("PNG", image, None))
        bar.update_absolute(1, 2, ("PNG", image, 512))
    first, second = (p.preview for p in sink.of_type(NodeProgress))
    assert first == ClientImage(image)
    assert second == ("PNG", image, 512)


def test_interruption_checks(host: PluginHost) -> None:
    import comfy.model_management as mm

    cancel = threading.Event()
    ctx, _ = context(host.registry, cancel)
    mm.throw_exception_if_processing_interrupted()  # outside a node: nothing to check
    with running(ActiveNode(ctx, "t")):
        assert not mm.processing_interrupted()
        mm.throw_exception_if_processing_interrupted()
        cancel.set()
        assert mm.processing_interrupted()
        with pytest.raises(mm.InterruptProcessingException) as caught:
            mm.throw_exception_if_processing_interrupted()
    assert isinstance(caught.value, NodeInterrupted)
    assert mm.get_torch_device().type in ("cpu", "cuda")


def test_common_upscale_and_tiled_scale(host: PluginHost) -> None:
    import comfy.utils

    x = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))  # (B, C, H, W)
    assert comfy.utils.common_upscale(x, 12, 8, "bilinear", "center").shape == (2, 3, 8, 12)
    assert comfy.utils.common_upscale(x, 48, 32, "bislerp", "disabled").shape == (2, 3, 32, 48)
    assert comfy.utils.common_upscale(x, 48, 32, "lanczos", "disabled").shape == (2, 3, 32, 48)

    def double(tile: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(tile, scale_factor=2, mode="nearest")

    tiled = comfy.utils.tiled_scale(x, double, tile_x=8, tile_y=8, overlap=2,
                                    upscale_amount=2, out_channels=3)
    torch.testing.assert_close(tiled, double(x))


def test_load_torch_file_loads_only_safely(host: PluginHost, tmp_path: Path) -> None:
    import comfy.utils
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(tmp_path / "m.safetensors"), metadata={"k": "v"})
    state, meta = comfy.utils.load_torch_file(tmp_path / "m.safetensors", return_metadata=True)
    assert torch.equal(state["w"], torch.ones(2)) and meta == {"k": "v"}
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "m.ckpt")
    assert list(comfy.utils.load_torch_file(tmp_path / "m.ckpt")) == ["w"]
    torch.save({"evil": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="Weights only load failed"):
        comfy.utils.load_torch_file(tmp_path / "evil.pt", safe_load=False)


class Evil:
    def __reduce__(self) -> Any:
        return (print, ("this must never run",))


def test_node_helpers_and_graph_utils(host: PluginHost) -> None:
    import node_helpers
    from comfy_execution.graph_utils import GraphBuilder, is_link

    options = {"strength": 1.0}
    conditioning = [[torch.zeros(1, 2, 3), options]]
    out = node_helpers.conditioning_set_values(conditioning, {"strength": 0.5})
    assert out[0][1] == {"strength": 0.5} and options == {"strength": 1.0}
    assert out[0][0] is conditioning[0][0]
    assert is_link(["5", 0]) and not is_link([5, 0]) and not is_link(("5", 0))
    from comfy_execution.graph_utils import default_prefix

    with default_prefix("9", 2):
        first, second = GraphBuilder(), GraphBuilder()
    assert first.prefix == "9.2.0." and second.prefix == "9.2.1."
    node = first.node("Add", a=1)
    assert node.out(0) == ["9.2.0.1", 0]
    assert first.finalize() == {"9.2.0.1": {"class_type": "Add", "inputs": {"a": 1}}}


def test_prompt_server_routes_and_messages(host: PluginHost) -> None:
    from aiohttp import web

    from server import PromptServer

    @PromptServer.instance.routes.get("/x/y")
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    PromptServer.instance.app.router.add_post("/x/z", handler)
    assert host.route_count() == 2
    PromptServer.instance.send_sync("event", {"a": 1})  # no server: dropped, never raises
    sent: list[Any] = []
    host.send = lambda event, data, sid: sent.append((event, data, sid))
    PromptServer.instance.send_sync("event", {"a": 1}, "sid1")
    assert sent == [("event", {"a": 1}, "sid1")]
