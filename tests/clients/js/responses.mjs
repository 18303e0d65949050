// The Responses API through openai-node and @ai-sdk/openai's default model (openai(model)):
// node responses.mjs BASE_URL [case ...]
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, jsonSchema, streamText, tool } from "ai";
import OpenAI from "openai";
import { runCases, weather } from "./common.mjs";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "unused-locally", maxRetries: 0 });
const model = "gpt-4o-mini";
const sdk = createOpenAI({ baseURL, apiKey: "unused-locally" })(model); // the Responses API
const tools = { get_weather: tool({ description: "The weather", inputSchema: jsonSchema(weather) }) };

await runCases({
  node_create: async () => {
    const done = await client.responses.create({ model, input: "[[mock tokens=4]]" });
    return { text: done.output_text, status: done.status, usage: done.usage };
  },
  node_stream: async () => {
    const stream = await client.responses.create({ model, input: "[[mock tokens=3]]", stream: true });
    const events = [];
    for await (const event of stream) events.push(event);
    return {
      types: events.map((e) => e.type),
      sequence: events.map((e) => e.sequence_number),
      text: events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join(""),
    };
  },
  node_helper: async () => {
    const stream = client.responses.stream({
      model,
      input: "[[mock tool_calls=1]]",
      tools: [{ type: "function", name: "get_weather", parameters: weather, strict: false }],
    });
    const final = await stream.finalResponse();
    return { output: final.output.map((o) => ({ type: o.type, name: o.name, arguments: o.arguments })) };
  },
  node_error: async () => client.responses.create({ model: "nope", input: "x" }),
  ai_generate: async () => {
    const done = await generateText({ model: sdk, maxRetries: 0, prompt: "[[mock tokens=4]]" });
    return { text: done.text, finish: done.finishReason, usage: done.usage };
  },
  ai_stream: async () => {
    const result = streamText({ model: sdk, maxRetries: 0, prompt: "[[mock tokens=5]]" });
    const parts = [];
    for await (const part of result.fullStream) parts.push(part);
    return {
      text: parts.filter((p) => p.type === "text-delta").map((p) => p.text).join(""),
      finish: parts.filter((p) => p.type === "finish").map((p) => p.finishReason),
      errors: parts.filter((p) => p.type === "error").map((p) => String(p.error?.message ?? p.error)),
    };
  },
  ai_tools: async () => {
    const done = await generateText({ model: sdk, maxRetries: 0, prompt: "[[mock tool_calls=1]]", tools });
    return { finish: done.finishReason, calls: done.toolCalls.map((c) => ({ name: c.toolName, input: c.input })) };
  },
});
