import { test } from "node:test";
import assert from "node:assert/strict";
import { clone, parse, stringify, toInt } from "../js/bigjson.js";

const MAX = "18446744073709551615";

test("integers beyond 2^53 parse to BigInt and print back as bare digits", () => {
  const text = `{"seed":${MAX},"small":42,"neg":-9007199254740993,"f":1.5e3,"s":"${MAX}"}`;
  const data = parse(text);
  assert.equal(data.seed, 18446744073709551615n);
  assert.equal(data.small, 42);
  assert.equal(data.neg, -9007199254740993n);
  assert.equal(data.f, 1500);
  assert.equal(data.s, MAX);
  assert.equal(stringify(data), text.replace("1.5e3", "1500"));
});

test("parse agrees with JSON.parse on ordinary documents", () => {
  const text = '{"a":[1,2.5,-0.25,true,false,null,"x\\n\\u00e9\\"q"],"b":{},"c":[],' +
    '"__proto__":{"polluted":1},"d":9007199254740991}';
  assert.deepEqual(parse(text), JSON.parse(text));
  assert.equal({}.polluted, undefined);
  for (const bad of ["{", "[1,]", '{"a" 1}', "01", "1 2", '"\u0001"', "nul"]) {
    assert.throws(() => parse(bad), SyntaxError, bad);
  }
});

test("stringify matches JSON.stringify (undefined, NaN, nesting, indent)", () => {
  const value = { a: undefined, b: [undefined, NaN, Infinity], c: { d: "é\u2028" }, e: [] };
  assert.equal(stringify(value), JSON.stringify(value));
  assert.equal(stringify(value, 2), JSON.stringify(value, null, 2));
  assert.equal(stringify({ big: 2n ** 64n - 1n }, 2), `{\n  "big": ${MAX}\n}`);
});

test("toInt keeps safe values as numbers and big ones exact", () => {
  assert.equal(toInt(5), 5);
  assert.equal(toInt(5.5), undefined);
  assert.equal(toInt(MAX), 18446744073709551615n);
  assert.equal(toInt(" 12 "), 12);
  assert.equal(toInt(12n), 12);
  assert.equal(toInt("1e3"), undefined);
  assert.equal(toInt(null), undefined);
});

test("clone and JSON round trips of BigInt (litegraph's copies) stay usable", () => {
  const data = { v: [2n ** 60n] };
  assert.deepEqual(clone(data), data);
  assert.equal(JSON.stringify(data), '{"v":["1152921504606846976"]}');
  assert.equal(toInt(JSON.parse(JSON.stringify(data)).v[0]), 2n ** 60n);
});
