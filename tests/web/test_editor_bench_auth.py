"""A 300-node graph redraws fast enough (p95 printed); token entry and clean 401 handling;
the run state re-synced from /jobs after the server restarts."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tests.web.conftest import PageErrors, open_editor, start_server
from tests.web.helpers import open_json

log = logging.getLogger(__name__)
REDRAW_P95_LIMIT_MS = 33.0
TOKEN = "web-test-token-0123456789"

BENCH = """async (count) => {
  const { LiteGraph } = await import("/static/vendor/litegraph/litegraph.es.js");
  const types = ["KSampler", "CLIPTextEncode", "EmptyLatentImage", "VAEDecode", "SaveImage",
                 "CheckpointLoaderSimple", "LatentUpscale", "ImageScale"]
    .filter((t) => t in lgEditor.defs);
  const graph = lgEditor.graph;
  graph.clear();
  const nodes = [];
  for (let k = 0; k < count; k++) {
    const node = LiteGraph.createNode(types[k % types.length]);
    node.pos = [(k % 20) * 380, Math.floor(k / 20) * 420];
    graph.add(node);
    nodes.push(node);
  }
  let links = 0;
  for (let k = 1; k < nodes.length; k++) {  // link each node to an earlier compatible output
    const node = nodes[k];
    for (let slot = 0; slot < (node.inputs?.length ?? 0); slot++) {
      const input = node.inputs[slot];
      if (input.widget) continue;
      for (let j = k - 1; j >= Math.max(0, k - 12); j--) {
        const out = nodes[j].outputs?.findIndex((o) => o.type === input.type) ?? -1;
        if (out >= 0) { nodes[j].connect(out, node, slot); links++; break; }
      }
    }
  }
  const canvas = lgEditor.canvas;
  const measure = (frames, pan) => {
    const times = [];
    const start = [...canvas.ds.offset];
    for (let frame = 0; frame < frames; frame++) {
      canvas.ds.offset[0] = start[0] - frame * pan;
      canvas.setDirty(true, true);
      const t0 = performance.now();
      canvas.draw(true, true);
      times.push(performance.now() - t0);
    }
    canvas.ds.offset = start;
    times.sort((a, b) => a - b);
    return { p50: times[Math.floor(frames / 2)], p95: times[Math.floor(frames * 0.95)],
             visible: canvas.visible_nodes.length };
  };
  lgEditor.fitView();  // every node on screen (litegraph's low-detail mode at this zoom)
  const all = measure(120, 0.5);
  canvas.ds.scale = 1;  // full detail: widgets, labels, link curves
  canvas.ds.offset = [0, 0];
  const detail = measure(120, 10);
  return { all, detail, links, nodes: graph._nodes.length };
}"""


def test_300_node_graph_redraw_p95(page: Any) -> None:
    result = page.evaluate(BENCH, 300)
    all_, detail = result["all"], result["detail"]
    print(f"\nredraw of a 300-node graph ({result['links']} links): whole graph in view "
          f"({all_['visible']} nodes) p50 {all_['p50']:.1f} ms, p95 {all_['p95']:.1f} ms; "
          f"at 100% zoom ({detail['visible']} nodes) p50 {detail['p50']:.1f} ms, "
          f"p95 {detail['p95']:.1f} ms")
    assert result["nodes"] == 300 and result["links"] > 250
    assert all_["visible"] == 300 and detail["visible"] > 5
    assert all_["p95"] > 0 and detail["p95"] > 0  # frames were really drawn and timed
    # A benchmark, not a timed test: the figure is printed against the target (a loaded
    # machine must not turn CI red).
    worst = max(all_["p95"], detail["p95"])
    print(f"p95 target <= {REDRAW_P95_LIMIT_MS} ms: "
          f"{'met' if worst <= REDRAW_P95_LIMIT_MS else 'NOT met'} ({worst:.1f} ms)")


def test_token_entry_and_clean_401(browser: Any, tmp_path: Path) -> None:
    server = start_server(tmp_path, token=TOKEN, packs=())
    try:
        errors = PageErrors()
        page = open_editor(browser, f"{server.url}?token={TOKEN}", errors)
        assert "token=" not in page.url  # taken out of the address bar and history
        page.context.clear_cookies()  # as after the server restarted with another token
        page.evaluate("() => lgEditor.panels.loadHistory().catch(() => {})")
        page.wait_for_selector("#lg-token")
        page.fill("#lg-token-input", "wrong-token-wrong-token")
        page.click("#lg-token-submit")
        page.wait_for_function("() => document.querySelector('#lg-token-status').textContent")
        page.fill("#lg-token-input", TOKEN)
        page.click("#lg-token-submit")
        page.wait_for_selector("#lg-token", state="detached")
        stats = page.evaluate("() => lgEditor.api.get('/api/system_stats')")
        assert stats["system"]["instance_id"]
        page.wait_for_function("() => lgEditor.api.ws?.readyState === 1")
        page.context.close()
        assert not errors
    finally:
        server.stop()


def test_run_state_resyncs_from_jobs_after_a_server_restart(browser: Any, tmp_path: Path
                                                           ) -> None:
    server = start_server(tmp_path)
    errors = PageErrors()
    page = open_editor(browser, server.url, errors)
    try:
        open_json(page, {"1": {"class_type": "Sleep", "inputs": {"ms": 60000, "n": 3}},
                         "2": {"class_type": "Shout", "inputs": {"value": ["1", 0]}}},
                  "sleepy.json")
        page.click("#queue-button")
        page.wait_for_function("() => document.body.dataset.running === 'true'", timeout=20_000)
        prompt_id = page.evaluate("() => lgEditor.run.running.prompt")
        port = server.url.rsplit(":", 1)[1].strip("/")
        server.stop()  # graceful stop: the running job is put back in the queue
        page.wait_for_function("() => lgEditor.panels.status.textContent.includes('reconnect')")
        server = start_server(tmp_path, port_arg=port)
        started = time.monotonic()
        page.wait_for_function("() => lgEditor.panels.status.textContent === 'connected'",
                               timeout=30_000)
        # the editor believed the job was running; what /jobs says now wins
        deadline = time.monotonic() + 15
        while True:
            running = server.get("/api/jobs?status=in_progress")["jobs"]
            expected = running[0]["id"] if running else None
            shown = page.evaluate("() => lgEditor.run.running.prompt")
            if shown == expected:
                break
            assert time.monotonic() < deadline, (shown, expected)
            time.sleep(0.2)
        job = server.get(f"/api/jobs/{prompt_id}")
        assert job["status"] != "completed"
        if expected is None:
            page.wait_for_function("() => document.body.dataset.running === 'false'")
            page.wait_for_selector(f"#history-list li[data-id='{prompt_id}']")
        log.info("re-synced %.1f s after the restart", time.monotonic() - started)
        page.click("#cancel-button")
    finally:
        page.context.close()
        server.stop()
    assert not [e for e in errors if "WebSocket" not in e]
