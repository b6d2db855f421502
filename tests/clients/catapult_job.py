"""Runs one job through comfy-catapult 3.0.0 (in its own venv: it pins old aiohttp, attrs and
multidict) and writes the saved images' bytes as the client got them.

Usage: python catapult_job.py SERVER_URL PROMPT_JSON OUT_DIR
Prints one JSON line: {"images": [{"filename", "type", "bytes_path"}]}.
"""

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from anyio import Path as AsyncPath
from comfy_catapult.api_client import ComfyAPIClient
from comfy_catapult.catapult import ComfyCatapult


async def main(url: str, prompt_path: Path, out_dir: Path) -> None:
    prompt = json.loads(prompt_path.read_text())
    save_node = next(nid for nid, node in prompt.items() if node["class_type"] == "SaveImage")
    async with ComfyAPIClient(comfy_api_url=url) as client:
        async with ComfyCatapult(comfy_client=client, debug_path=AsyncPath(tempfile.mkdtemp())
                                 ) as catapult:
            _, future = await catapult.Catapult(job_id="latentgraph-check",
                                                prepared_workflow=prompt,
                                                important=[save_node], use_future_api=True)
            history = await asyncio.wait_for(future, 300)
        images = []
        for index, image in enumerate(history["outputs"][save_node]["images"]):
            target = out_dir / f"{index}_{image['filename']}"
            target.write_bytes(await client.GetView(folder_type=image["type"],
                                                    subfolder=image["subfolder"],
                                                    filename=image["filename"]))
            images.append({**image, "bytes_path": str(target)})
    print(json.dumps({"images": images}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
