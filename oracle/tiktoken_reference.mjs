// Reference encoder for tiktoken vocabularies (Kimi K2): @dqbd/tiktoken,
// OpenAI's tiktoken (Rust, with its regex engine) compiled to WebAssembly,
// the library Kimi's tokenization_kimi.py runs.
//
//   node tiktoken_reference.mjs request.json
//
// request.json: {"tiktoken_model": path, "pattern": split regex,
// "special_tokens": {content: id}, "inputs": [hex of raw bytes]}. Each input
// is decoded with TextDecoder (invalid UTF-8 becomes U+FFFD by the WHATWG
// rule) and encoded with every special token allowed. Prints one JSON object
// per input line: {"ids": [...], "text": "..."}, text being the ids decoded.
import { readFileSync } from "node:fs";
import { Tiktoken } from "@dqbd/tiktoken";

const [path] = process.argv.slice(2);
if (!path) {
  console.error("usage: node tiktoken_reference.mjs request.json");
  process.exit(2);
}
const request = JSON.parse(readFileSync(path, "utf8"));
const encoding = new Tiktoken(readFileSync(request.tiktoken_model, "utf8"), request.special_tokens, request.pattern);
const decoder = new TextDecoder("utf-8");
const lines = request.inputs.map((hex) => {
  const ids = encoding.encode(decoder.decode(Buffer.from(hex, "hex")), "all");
  return JSON.stringify({ ids: Array.from(ids), text: decoder.decode(encoding.decode(ids)) });
});
encoding.free();
process.stdout.write(lines.join("\n") + "\n");
