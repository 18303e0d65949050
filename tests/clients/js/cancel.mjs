// Every client's own cancel, after three chunks: node cancel.mjs BASE_URL TAG
// Stays alive for 3 s after the last cancel, so a provider call that goes on after it is seen
// at the mock upstream (the process's exit would close the connections anyway).
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { streamText } from "ai";
import OpenAI from "openai";
import { describeError } from "./common.mjs";

const [, , baseURL, tag] = process.argv;
const model = "gpt-4o-mini";
const client = new OpenAI({ baseURL, apiKey: "unused-locally", maxRetries: 0 });
const prompt = (name) => `${tag}-${name} [[mock tokens=3000 rate=100]]`;

async function breakAfterThree(iterable) {
  let received = 0;
  for await (const _ of iterable) if (++received === 3) break;
  return received;
}

async function aiSdk(languageModel, name) {
  const controller = new AbortController();
  const result = streamText({ model: languageModel, maxRetries: 0, prompt: prompt(name), abortSignal: controller.signal });
  let received = 0;
  try {
    for await (const part of result.fullStream) {
      if (part.type === "text-delta" && ++received === 3) controller.abort();
    }
  } catch (error) {
    if (error?.name !== "AbortError") throw error;
  }
  return received;
}

const cases = {
  "node-chat": async () =>
    breakAfterThree(await client.chat.completions.create({ model, stream: true, messages: [{ role: "user", content: prompt("node-chat") }] })),
  "node-responses": async () =>
    breakAfterThree(await client.responses.create({ model, stream: true, input: prompt("node-responses") })),
  "ai-compatible": async () =>
    aiSdk(createOpenAICompatible({ name: "s", baseURL, apiKey: "x", includeUsage: true })(model), "ai-compatible"),
  "ai-openai-chat": async () => aiSdk(createOpenAI({ baseURL, apiKey: "x" }).chat(model), "ai-openai-chat"),
  "ai-openai-responses": async () => aiSdk(createOpenAI({ baseURL, apiKey: "x" })(model), "ai-openai-responses"),
};
const results = {};
for (const [name, run] of Object.entries(cases)) {
  try {
    results[name] = { ok: true, value: { received: await run(), left_at: Date.now() / 1000 } };
  } catch (error) {
    results[name] = { ok: false, error: describeError(error) };
  }
}
await new Promise((resolve) => setTimeout(resolve, 3000));
process.stdout.write(JSON.stringify(results) + "\n");
