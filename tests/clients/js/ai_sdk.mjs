// The Vercel AI SDK against streamchat's /v1: node ai_sdk.mjs BASE_URL PROVIDER [case ...]
// PROVIDER: "compatible" (@ai-sdk/openai-compatible) or "openai" (@ai-sdk/openai, openai.chat()).
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, jsonSchema, streamText, tool } from "ai";
import { runCases, weather } from "./common.mjs";

const [, , baseURL, kind] = process.argv;
process.argv.splice(3, 1); // the rest are case names
const model =
  kind === "openai"
    ? createOpenAI({ baseURL, apiKey: "unused-locally" }).chat("gpt-4o-mini")
    : createOpenAICompatible({ name: "streamchat", baseURL, apiKey: "unused-locally", includeUsage: true })(
        "gpt-4o-mini",
      );
const tools = { get_weather: tool({ description: "The weather", inputSchema: jsonSchema(weather) }) };
const base = { model, maxRetries: 0 };

async function parts(result) {
  const seen = [];
  for await (const part of result.fullStream) {
    seen.push(part.type === "error" ? { type: "error", error: String(part.error?.message ?? part.error) } : part);
  }
  return seen;
}

function summary(seen) {
  return {
    types: [...new Set(seen.map((p) => p.type))],
    text: seen.filter((p) => p.type === "text-delta").map((p) => p.text).join(""),
    empty_text_deltas: seen.filter((p) => p.type === "text-delta" && p.text === "").length,
    finish: seen.filter((p) => p.type === "finish").map((p) => p.finishReason),
    usage: seen.filter((p) => p.type === "finish").map((p) => p.totalUsage)[0] ?? null,
    tool_calls: seen.filter((p) => p.type === "tool-call").map((p) => ({ name: p.toolName, input: p.input })),
    errors: seen.filter((p) => p.type === "error").map((p) => p.error),
  };
}

await runCases({
  slow: async () => summary(await parts(streamText({ ...base, prompt: "[[mock tokens=4 rate=2]]" }))),
  stream: async () => summary(await parts(streamText({ ...base, prompt: "[[mock tokens=6]]" }))),
  generate: async () => {
    const done = await generateText({ ...base, prompt: "[[mock tokens=4]]" });
    return { text: done.text, finish: done.finishReason, usage: done.usage };
  },
  tools_stream: async () =>
    summary(await parts(streamText({ ...base, prompt: "[[mock tool_calls=1]]", tools }))),
  tools_generate: async () => {
    const done = await generateText({ ...base, prompt: "[[mock tool_calls=1]]", tools });
    return {
      text: done.text,
      content: done.content.map((p) => p.type),
      finish: done.finishReason,
      tool_calls: done.toolCalls.map((c) => ({ name: c.toolName, input: c.input })),
    };
  },
  error_unknown_model: async () => {
    const other =
      kind === "openai"
        ? createOpenAI({ baseURL, apiKey: "unused-locally" }).chat("nope")
        : createOpenAICompatible({ name: "streamchat", baseURL, apiKey: "x" })("nope");
    return generateText({ model: other, maxRetries: 0, prompt: "x" });
  },
  error_mid_stream: async () =>
    summary(await parts(streamText({ ...base, prompt: "[[mock tokens=8 error_after=3]]" }))),
  refusal_stream: async () => summary(await parts(streamText({ ...base, prompt: "[[mock refusal=1]]" }))),
});
