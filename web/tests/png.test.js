import { test } from "node:test";
import assert from "node:assert/strict";
import { readPngText } from "../js/png.js";

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  new DataView(out.buffer).setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  return out;  // the reader does not check CRCs (zeros here)
}

const latin1 = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const utf8 = (s) => new TextEncoder().encode(s);
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};

async function deflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

test("tEXt, compressed iTXt and zTXt chunks are read; the first keyword wins", async () => {
  const workflow = '{"nodes":[],"title":"café ✓"}';
  const png = concat(
    Uint8Array.from(SIGNATURE),
    chunk("IHDR", new Uint8Array(13)),
    chunk("tEXt", concat(latin1("prompt"), [0], latin1('{"1":{}}'))),
    chunk("iTXt", concat(latin1("workflow"), [0, 1, 0], latin1("en"), [0], [0],
      await deflate(utf8(workflow)))),
    chunk("zTXt", concat(latin1("note"), [0, 0], await deflate(latin1("zipped")))),
    chunk("tEXt", concat(latin1("prompt"), [0], latin1("second"))),
    chunk("IEND", new Uint8Array(0)),
  );
  const text = await readPngText(png.buffer);
  assert.deepEqual(text, { prompt: '{"1":{}}', workflow, note: "zipped" });
});

test("uncompressed iTXt and ComfyUI's comf chunk", async () => {
  const png = concat(Uint8Array.from(SIGNATURE),
    chunk("iTXt", concat(latin1("workflow"), [0, 0, 0], [0], [0], utf8("ü"))),
    chunk("comf", concat(latin1("prompt"), [0], utf8("{}"))),
    chunk("IEND", new Uint8Array(0)));
  assert.deepEqual(await readPngText(png), { workflow: "ü", prompt: "{}" });
});

test("not a PNG, or a truncated one, is refused", async () => {
  await assert.rejects(readPngText(new Uint8Array([1, 2, 3])), /not a PNG/);
  const cut = concat(Uint8Array.from(SIGNATURE), chunk("tEXt", latin1("a\0b")).slice(0, 10));
  await assert.rejects(readPngText(cut), /truncated/);
});
