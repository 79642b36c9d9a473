// The official openai npm package against `switchyard serve`: completions, chat and streaming,
// each answer checked. SWITCHYARD_URL is the server's base URL including /v1
// (tests/e2e/openai_node.sh starts the server and sets it).
import assert from "node:assert/strict";
import { test } from "node:test";

import OpenAI from "openai";

const baseURL = process.env.SWITCHYARD_URL;
assert.ok(baseURL, "set SWITCHYARD_URL, e.g. http://127.0.0.1:8000/v1");
// No retries: a failure must show, not be papered over.
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 60_000 });

let model;

function checkUsage(usage, maxTokens, finishReason) {
  assert.ok(usage.prompt_tokens > 0, "prompt_tokens");
  assert.ok(usage.completion_tokens >= 1 && usage.completion_tokens <= maxTokens, "completion_tokens");
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  if (finishReason === "length") assert.equal(usage.completion_tokens, maxTokens);
}

test("lists the served model", async () => {
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  model = models.data[0].id;
  assert.equal(model, "pydoc-moe");
  assert.equal(models.data[0].object, "model");
});

test("completions", async () => {
  const completion = await client.completions.create({
    model,
    prompt: "def fibonacci(n):",
    max_tokens: 24,
    temperature: 0,
  });
  assert.equal(completion.object, "text_completion");
  assert.match(completion.id, /^cmpl-/);
  assert.equal(completion.model, model);
  assert.equal(completion.choices.length, 1);
  const [choice] = completion.choices;
  assert.ok(choice.text.length > 0, "non-empty text");
  assert.ok(["stop", "length"].includes(choice.finish_reason), choice.finish_reason);
  checkUsage(completion.usage, 24, choice.finish_reason);
});

test("chat completions", async () => {
  const chat = await client.chat.completions.create({
    model,
    messages: [
      { role: "system", content: "You are a Python expert." },
      { role: "user", content: "How do I open a file?" },
    ],
    max_tokens: 32,
    temperature: 0,
  });
  assert.equal(chat.object, "chat.completion");
  assert.match(chat.id, /^chatcmpl-/);
  const [choice] = chat.choices;
  assert.equal(choice.message.role, "assistant");
  assert.ok(choice.message.content.length > 0, "non-empty content");
  assert.ok(["stop", "length"].includes(choice.finish_reason), choice.finish_reason);
  checkUsage(chat.usage, 32, choice.finish_reason);
});

test("streamed completions equal the whole answer", async () => {
  const request = { model, prompt: "import os\n", max_tokens: 40, temperature: 0 };
  const whole = await client.completions.create(request);
  const stream = await client.completions.create({
    ...request,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finishReason = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, "text_completion");
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.text;
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  }
  assert.ok(chunks > 2, "several chunks");
  assert.ok(text.length > 0, "non-empty text");
  assert.equal(text, whole.choices[0].text);
  assert.equal(finishReason, whole.choices[0].finish_reason);
  assert.deepEqual(usage, whole.usage);
});

test("streamed chat is the concatenation of its deltas", async () => {
  const request = {
    model,
    messages: [{ role: "user", content: "Write a function that reverses a list." }],
    max_tokens: 48,
    temperature: 0,
  };
  const whole = await client.chat.completions.create(request);
  const stream = await client.chat.completions.create({ ...request, stream: true });
  let content = "";
  let role = null;
  let finishReason = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    const [choice] = chunk.choices;
    if (choice.delta.role) role = choice.delta.role;
    content += choice.delta.content ?? "";
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
  assert.equal(role, "assistant");
  assert.ok(content.length > 0, "non-empty content");
  assert.equal(content, whole.choices[0].message.content);
  assert.equal(finishReason, whole.choices[0].finish_reason);
});

test("errors arrive as the SDK's typed errors", async () => {
  await assert.rejects(
    client.completions.create({ model: "no-such-model", prompt: "x" }),
    (error) => {
      assert.ok(error instanceof OpenAI.NotFoundError, String(error));
      assert.equal(error.code, "model_not_found");
      return true;
    },
  );
  await assert.rejects(
    client.completions.create({ model, prompt: "x", max_tokens: -3 }),
    (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, String(error));
      assert.equal(error.param, "max_tokens");
      return true;
    },
  );
  await assert.rejects(
    client.chat.completions.create({
      model,
      messages: [{ role: "user", content: "hi" }],
      logprobs: true,
    }),
    (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, String(error));
      assert.equal(error.param, "logprobs");
      return true;
    },
  );
});
