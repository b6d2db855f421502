import { test } from "node:test";
import assert from "node:assert/strict";
import { markdownText } from "../js/markdown.js";

test("a Markdown note is shown as its text", () => {
  assert.equal(markdownText("🛈 [Learn more about this workflow](https://example.org/x)"),
    "🛈 Learn more about this workflow");
  assert.equal(markdownText("## Models\n- **clip**: `t5xxl.safetensors`\n> quoted"),
    "Models\n- clip: t5xxl.safetensors\nquoted");
  assert.equal(markdownText("![diagram](a.png) and *soft* _words_ in snake_case_names"),
    "diagram and soft words in snake_case_names");
  assert.equal(markdownText('<img src=x onerror="1">text<br/>'), "text");
  assert.equal(markdownText("2 * 3 * 4"), "2 * 3 * 4");
});
