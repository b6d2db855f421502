// PNG text chunks (tEXt, zTXt, iTXt and ComfyUI's "comf"), as ComfyUI's loader reads them.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function zeroAt(bytes, from) {
  const at = bytes.indexOf(0, from);
  return at < 0 ? bytes.length : at;
}

/**
 * The text chunks of a PNG as {keyword: text}; the first chunk of a keyword wins.
 * @param {ArrayBuffer|Uint8Array} buffer
 * @returns {Promise<Record<string, string>>}
 */
export async function readPngText(buffer) {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  if (bytes.length < 8 || SIGNATURE.some((b, k) => bytes[k] !== b)) {
    throw new Error("not a PNG file");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder("latin1");
  const utf8 = new TextDecoder("utf-8");
  /** @type {Record<string, string>} */
  const found = Object.create(null);
  let pos = 8;
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = latin1.decode(bytes.subarray(pos + 4, pos + 8));
    const start = pos + 8;
    const end = start + length;
    if (end + 4 > bytes.length) throw new Error(`truncated PNG chunk ${type}`);
    const data = bytes.subarray(start, end);
    if (type === "tEXt" || type === "comf" || type === "zTXt" || type === "iTXt") {
      const keyEnd = zeroAt(data, 0);
      const keyword = latin1.decode(data.subarray(0, keyEnd));
      let text;
      if (type === "tEXt" || type === "comf") {
        text = (type === "comf" ? utf8 : latin1).decode(data.subarray(keyEnd + 1));
      } else if (type === "zTXt") {
        text = latin1.decode(await inflate(data.subarray(keyEnd + 2)));
      } else {
        const compressed = data[keyEnd + 1] === 1;
        const langEnd = zeroAt(data, keyEnd + 3);
        const transEnd = zeroAt(data, langEnd + 1);
        const body = data.subarray(transEnd + 1);
        text = utf8.decode(compressed ? await inflate(body) : body);
      }
      if (!(keyword in found)) found[keyword] = text;
    }
    if (type === "IEND") break;
    pos = end + 4;
  }
  return { ...found };
}
