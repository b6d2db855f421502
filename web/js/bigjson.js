// JSON that keeps integers beyond 2^53 exact: they parse to BigInt and print as bare digits.
// Seeds go up to 2^64-1; JSON.parse would round them to the nearest double.

/**
 * Parse JSON text; integer literals outside Number's safe range become BigInt.
 * @param {string} text
 * @returns {any}
 */
export function parse(text) {
  let i = 0;
  const n = text.length;
  const fail = (what) => {
    throw new SyntaxError(`${what} at position ${i} of JSON text`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const value = (depth) => {
    if (depth > 512) fail("nesting too deep");
    ws();
    const c = text[i];
    if (c === "{") return object(depth);
    if (c === "[") return array(depth);
    if (c === '"') return string();
    if (c === "-" || (c >= "0" && c <= "9")) return number();
    if (text.startsWith("true", i)) { i += 4; return true; }
    if (text.startsWith("false", i)) { i += 5; return false; }
    if (text.startsWith("null", i)) { i += 4; return null; }
    return fail(c === undefined ? "unexpected end" : `unexpected ${JSON.stringify(c)}`);
  };
  const object = (depth) => {
    i++;
    const out = {};
    ws();
    if (text[i] === "}") { i++; return out; }
    for (;;) {
      ws();
      if (text[i] !== '"') fail("expected a key");
      const key = string();
      ws();
      if (text[i] !== ":") fail("expected ':'");
      i++;
      const v = value(depth + 1);
      // defineProperty: a "__proto__" key stays an ordinary property, as with JSON.parse
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true,
        configurable: true });
      ws();
      if (text[i] === ",") { i++; continue; }
      if (text[i] === "}") { i++; return out; }
      fail("expected ',' or '}'");
    }
  };
  const array = (depth) => {
    i++;
    const out = [];
    ws();
    if (text[i] === "]") { i++; return out; }
    for (;;) {
      out.push(value(depth + 1));
      ws();
      if (text[i] === ",") { i++; continue; }
      if (text[i] === "]") { i++; return out; }
      fail("expected ',' or ']'");
    }
  };
  const string = () => {
    const start = i;
    i++;
    let escaped = false;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail("unterminated string");
      if (c === 92) { escaped = true; i += 2; continue; }
      if (c === 34) break;
      if (c < 32) fail("control character in string");
      i++;
    }
    i++;
    const raw = text.slice(start, i);
    return escaped ? JSON.parse(raw) : raw.slice(1, -1);
  };
  const number = () => {
    const m = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    m.lastIndex = i;
    const found = m.exec(text);
    if (!found) fail("bad number");
    i = m.lastIndex;
    const literal = found[0];
    if (!found[2] && !found[3]) {
      const asNumber = Number(literal);
      if (!Number.isSafeInteger(asNumber)) return BigInt(literal);
      return asNumber;
    }
    return Number(literal);
  };
  const result = value(0);
  ws();
  if (i !== n) fail("unexpected trailing text");
  return result;
}

/**
 * Serialise like JSON.stringify, but BigInt prints as bare digits (a JSON number).
 * @param {any} data
 * @param {number} [indent]
 * @returns {string}
 */
export function stringify(data, indent = 0) {
  const pad = indent ? " ".repeat(indent) : "";
  const seen = new Set();
  const write = (v, prefix, inArray) => {
    if (v !== null && typeof v === "object" && typeof v.toJSON === "function" &&
        !(v instanceof Array)) v = v.toJSON();
    switch (typeof v) {
      case "bigint": return v.toString();
      case "number": return Number.isFinite(v) ? String(v) : "null";
      case "boolean": return v ? "true" : "false";
      case "string": return JSON.stringify(v);
      case "undefined": case "function": case "symbol": return inArray ? "null" : undefined;
      default: break;
    }
    if (v === null) return "null";
    if (seen.has(v)) throw new TypeError("cannot serialise a cyclic structure");
    seen.add(v);
    const inner = prefix + pad;
    const sep = pad ? `,\n${inner}` : ",";
    const open = pad ? `\n${inner}` : "";
    const close = pad ? `\n${prefix}` : "";
    let out;
    if (Array.isArray(v)) {
      const items = [];
      for (let k = 0; k < v.length; k++) items.push(write(v[k], inner, true));
      out = items.length ? `[${open}${items.join(sep)}${close}]` : "[]";
    } else {
      const items = [];
      for (const key of Object.keys(v)) {
        const item = write(v[key], inner, false);
        if (item !== undefined) items.push(`${JSON.stringify(key)}:${pad ? " " : ""}${item}`);
      }
      out = items.length ? `{${open}${items.join(sep)}${close}}` : "{}";
    }
    seen.delete(v);
    return out;
  };
  return write(data, "", false);
}

/**
 * An integer value as Number when safe, else BigInt; digit strings are accepted.
 * Returns undefined for anything that is not an integer.
 * @param {unknown} v
 * @returns {number|bigint|undefined}
 */
export function toInt(v) {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  if (typeof v === "number") return Number.isInteger(v) ? v : undefined;
  if (typeof v === "string" && /^\s*-?\d+\s*$/.test(v)) return toInt(BigInt(v.trim()));
  return undefined;
}

/** Deep copy that keeps BigInt (litegraph's cloneObject goes through JSON). */
export function clone(data) {
  return data === undefined ? undefined : structuredClone(data);
}

// Litegraph copies nodes through JSON.stringify (copy/paste, clone); a BigInt must not throw
// there. It comes back as a digit string, which the integer widget turns back into BigInt.
if (typeof BigInt.prototype.toJSON !== "function") {
  Object.defineProperty(BigInt.prototype, "toJSON", {
    value() { return this.toString(); }, configurable: true, writable: true,
  });
}
