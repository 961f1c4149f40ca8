// llama.cpp as an oracle (through node-llama-cpp's prebuilt CPU binaries):
// greedy continuations and next-token probabilities for given token ids.
//
// stdin:  {"model": "m.gguf", "prompts": [[ids...], ...], "n_predict": 32, "top_k": 5,
//          "prob_steps": 8, "threads": 1}
// stdout: {"results": [{"greedy": [ids...],
//                       "top": [[{"id", "logit", "p"?}, ...] per generated step]}]}
//
// Teacher forcing: with "score": [[ids...], ...] instead of "prompts", each
// sequence is evaluated in one batch and the output is
// {"scored": [[[{"id", "logit"}, ...] top_k predicted after each position]]}.
//
// Tokenization: with "tokenize": ["text", ...] (and no prompts) only the
// vocabulary is loaded and the output is {"tokens": [[ids...], ...]}, special
// tokens written in the text parsed, no BOS added.
//
// Each prompt is evaluated in one batch, then the greedy token is fed back one
// at a time; "top" holds the top_k probabilities predicted before each greedy
// token (so top[i][0].id == greedy[i]). The KV cache is F32 (llama.cpp's
// default F16 cache would perturb the probabilities) and flash attention is
// off, so that with F32 weights the result is close to exact.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk) => (data += chunk));
    process.stdin.on("end", () => resolve(data));
    process.stdin.on("error", reject);
  });
}

// The k most likely tokens from a logits map (which node-llama-cpp sorts
// highest first); with the whole vocabulary's logits, also their softmax
// probabilities.
function topOf(logits, k, withProbabilities) {
  const top = [];
  for (const [id, logit] of logits) {
    if (top.length === k) break;
    top.push({ id, logit });
  }
  if (withProbabilities) {
    const max = top[0].logit;
    let sum = 0;
    for (const l of logits.values()) sum += Math.exp(l - max);
    for (const t of top) t.p = Math.exp(t.logit - max) / sum;
  }
  return top;
}

const request = JSON.parse(await readStdin());
if (request.tokenize) {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: request.model, vocabOnly: true });
  console.log(JSON.stringify({ tokens: request.tokenize.map((text) => Array.from(model.tokenize(text, true))) }));
  await model.dispose();
  process.exit(0);
}
const nPredict = request.n_predict ?? 32;
const topK = request.top_k ?? 5;
const threads = request.threads ?? 1;
const probSteps = request.prob_steps ?? nPredict;
const wanted = (step) =>
  ({ generateNext: { logits: step < probSteps ? true : { filter: { tokens: [], includeTop: topK } } } });
const sequences = request.score ?? request.prompts;
const longest = Math.max(...sequences.map((p) => p.length));

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath: request.model, useMmap: true });
const context = await model.createContext({
  contextSize: longest + nPredict + 8,
  batchSize: Math.max(longest, 1),
  sequences: 1,
  threads: { ideal: threads, min: threads },
  flashAttention: false,
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
});
const kF32 = 0;  // GgmlType.F32
if (context.kvCacheKeyType !== kF32 || context.kvCacheValueType !== kF32) {
  throw new Error("llama.cpp did not create an F32 KV cache");
}
const sequence = context.getSequence();

if (request.score) {
  const scored = [];
  for (const tokens of request.score) {
    await sequence.clearHistory();
    const out = await sequence.controlledEvaluate(
      tokens.map((id) => [id, { generateNext: { logits: { filter: { tokens: [], includeTop: topK } } } }]));
    scored.push(out.map((o) => {
      if (!o?.next?.logits) throw new Error("llama.cpp returned no logits");
      return topOf(o.next.logits, topK, false);
    }));
  }
  console.log(JSON.stringify({ scored }));
  await context.dispose();
  await model.dispose();
  process.exit(0);
}

const results = [];
for (const prompt of request.prompts) {
  await sequence.clearHistory();
  const greedy = [];
  const top = [];
  let input = prompt.map((id, i) => (i === prompt.length - 1 ? [id, wanted(0)] : id));
  for (let step = 0; step < nPredict; ++step) {
    const out = await sequence.controlledEvaluate(input);
    const logits = out[input.length - 1]?.next?.logits;
    if (!logits) throw new Error("llama.cpp returned no logits");
    const best = topOf(logits, topK, step < probSteps);
    greedy.push(best[0].id);
    top.push(best);
    input = [[best[0].id, wanted(step + 1)]];
  }
  results.push({ greedy, top });
}

console.log(JSON.stringify({ results }));
await context.dispose();
await model.dispose();
