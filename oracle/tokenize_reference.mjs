// Reference encoder for the tokenizer tests: real tokenizer files run
// through @lenml/tokenizers (a port of transformers.js).
//
//   node tokenize_reference.mjs qwen3|gpt4o|gptoss|deepseek_v3 strings.json [--hex]
//
// The files are read from the package @lenml/tokenizer-NAME (models/), the
// same files strata's tests load. strings.json holds a JSON list of strings;
// with --hex each string is the hex of raw bytes, decoded with TextDecoder
// (so invalid UTF-8 becomes U+FFFD by the WHATWG rule). Prints one JSON
// object per input line: {"ids": [...], "text": "...", "pieces": [...]}, the
// ids without BOS/EOS (add_special_tokens: false), their decoding, and the
// pre-tokenizer's pieces of the whole input (byte-level encoded; no added
// tokens split out, no normalizer).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { TokenizerLoader } from "@lenml/tokenizers";

const [name, path, mode] = process.argv.slice(2);
if (!["qwen3", "gpt4o", "gptoss", "deepseek_v3"].includes(name) || !path) {
  console.error("usage: node tokenize_reference.mjs qwen3|gpt4o|gptoss|deepseek_v3 strings.json [--hex]");
  process.exit(2);
}
const require = createRequire(import.meta.url);
const readJson = (file) => JSON.parse(readFileSync(require.resolve(`@lenml/tokenizer-${name}/models/${file}`), "utf8"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: readJson("tokenizer.json"),
  tokenizerConfig: readJson("tokenizer_config.json"),
});

const inputs = JSON.parse(readFileSync(path, "utf8"));
const decoder = new TextDecoder("utf-8");
const lines = inputs.map((s) => {
  const text = mode === "--hex" ? decoder.decode(Buffer.from(s, "hex")) : s;
  const ids = tokenizer.encode(text, { add_special_tokens: false });
  // decode() refuses an empty list.
  const pieces = tokenizer.pre_tokenizer(text);
  return JSON.stringify({ ids, text: ids.length ? tokenizer.decode(ids) : "", pieces });
});
process.stdout.write(lines.join("\n") + "\n");
