// strata serve end to end with the official `openai` npm client (the version
// pinned in oracle/package.json): models, completions and chat, streaming
// and not, usage, tools and errors as the client sees them.
//
//   node tests/e2e/openai_client.mjs http://127.0.0.1:8000/v1 MODEL_NAME
//
// Exits non-zero on the first failed check. The model has random weights,
// so replies are checked for shape and consistency, not meaning; it never
// decides to call a tool by itself, so tool-call extraction is covered by the
// parser tests (tests/test_reasoning_tool_parsers.cpp), and here the tools
// path is checked up to the template and the reply's shape.
import assert from "node:assert/strict";

const { default: OpenAI } = await import(new URL("../../oracle/node_modules/openai/index.mjs", import.meta.url));

const [baseURL, model] = process.argv.slice(2);
if (!baseURL || !model) {
  console.error("usage: node openai_client.mjs BASE_URL MODEL");
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: process.env.STRATA_API_KEY ?? "none", maxRetries: 0 });
const greedy = { temperature: 0, ignore_eos: true };

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (error) {
    console.error(`FAIL ${name}: ${error.stack ?? error}`);
    process.exit(1);
  }
}

await check("models.list", async () => {
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].id, model);
  assert.equal(models.data[0].object, "model");
  assert.ok(models.data[0].max_model_len > 0);
});

let wholeCompletion;
await check("completions.create", async () => {
  const out = await client.completions.create({ model, prompt: "The history of the printing press", max_tokens: 6, ...greedy });
  assert.equal(out.object, "text_completion");
  assert.equal(out.choices.length, 1);
  assert.equal(out.choices[0].finish_reason, "length");
  assert.equal(out.usage.completion_tokens, 6);
  assert.equal(out.usage.total_tokens, out.usage.prompt_tokens + 6);
  assert.equal(typeof out.usage.prompt_tokens_details.cached_tokens, "number");
  wholeCompletion = out.choices[0].text;
});

await check("completions.create stream with usage", async () => {
  const stream = await client.completions.create({
    model, prompt: "The history of the printing press", max_tokens: 6, stream: true,
    stream_options: { include_usage: true }, ...greedy,
  });
  let text = "", usage = null, finish = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      text += choice.text;
      finish = choice.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, wholeCompletion);
  assert.equal(finish, "length");
  assert.equal(usage.completion_tokens, 6);
});

const messages = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Name a colour." },
];
let wholeChat;
await check("chat.completions.create", async () => {
  const out = await client.chat.completions.create({
    model, messages, max_completion_tokens: 5, n: 2, chat_template_kwargs: { enable_thinking: false }, ...greedy,
  });
  assert.equal(out.object, "chat.completion");
  assert.equal(out.choices.length, 2);
  assert.equal(out.choices[0].message.role, "assistant");
  assert.equal(out.choices[0].message.content, out.choices[1].message.content);
  assert.equal(out.usage.completion_tokens, 10);
  wholeChat = out.choices[0].message;
});

await check("chat.completions.create stream", async () => {
  const stream = await client.chat.completions.create({
    model, messages, max_completion_tokens: 5, stream: true, stream_options: { include_usage: true },
    chat_template_kwargs: { enable_thinking: false }, ...greedy,
  });
  let content = "", reasoning = "", role = null, usage = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      role = choice.delta.role ?? role;
      content += choice.delta.content ?? "";
      reasoning += choice.delta.reasoning_content ?? "";
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(role, "assistant");
  assert.equal(content, wholeChat.content ?? "");
  assert.equal(reasoning, wholeChat.reasoning_content ?? "");
  assert.equal(usage.completion_tokens, 5);
});

const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
}];
// Random weights never write tool-call markup in 4 tokens, so this checks
// that every tool_choice is accepted, rendered and answered in the client's
// shape with no calls; extracting calls from model output is tested in
// test_reasoning_tool_parsers.cpp.
await check("chat.completions.create with tools", async () => {
  for (const tool_choice of ["auto", "required", { type: "function", function: { name: "get_weather" } }]) {
    const out = await client.chat.completions.create({
      model, messages: [{ role: "user", content: "Weather in Paris?" }], tools, tool_choice, max_tokens: 4, ...greedy,
    });
    assert.deepEqual(out.choices[0].message.tool_calls, []);
    assert.ok(["length", "stop"].includes(out.choices[0].finish_reason));
  }
  // A conversation that already holds a tool call and its result renders.
  const followUp = await client.chat.completions.create({
    model, tools, max_tokens: 3, ...greedy,
    messages: [
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function",
        function: { name: "get_weather", arguments: "{\"city\": \"Paris\"}" } }] },
      { role: "tool", tool_call_id: "call_1", content: "sunny" },
    ],
  });
  assert.equal(followUp.usage.completion_tokens, 3);
});

await check("errors", async () => {
  await assert.rejects(
    client.completions.create({ model: "no-such-model", prompt: "x", max_tokens: 1 }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  await assert.rejects(
    client.completions.create({ model, prompt: "x", max_tokens: 10_000_000 }),
    (e) => e instanceof OpenAI.BadRequestError && /maximum context length is \d+ tokens/.test(e.message) &&
      e.error.code === "context_length_exceeded");
  await assert.rejects(
    client.chat.completions.create({ model, messages, temperature: -1 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "temperature");
});
