// openai-node against streamchat's /v1: node openai_node.mjs BASE_URL [case ...]
import OpenAI from "openai";
import { runCases, weather } from "./common.mjs";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "unused-locally", maxRetries: 0 });
const model = "gpt-4o-mini";
const user = (content) => [{ role: "user", content }];
const tools = [{ type: "function", function: { name: "get_weather", parameters: weather } }];

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const choices = chunks.filter((c) => c.choices.length).map((c) => c.choices[0]);
  return {
    chunks: chunks.length,
    first_delta: choices[0]?.delta ?? null,
    text: choices.map((c) => c.delta.content ?? "").join(""),
    refusal: choices.map((c) => c.delta.refusal ?? "").join(""),
    finish: choices.map((c) => c.finish_reason).filter(Boolean),
    usage: chunks.at(-1).usage ?? null,
    last_choices: chunks.at(-1).choices.length,
    ids: [...new Set(chunks.map((c) => c.id))].length,
  };
}

await runCases({
  // Tokens half a second apart: the heartbeat comments come between them.
  slow: async () =>
    collect(await client.chat.completions.create({ model, stream: true, messages: user("[[mock tokens=4 rate=2]]") })),
  stream: async () =>
    collect(
      await client.chat.completions.create({
        model,
        messages: user("[[mock tokens=6]]"),
        stream: true,
        stream_options: { include_usage: true },
      }),
    ),
  create: async () => {
    const done = await client.chat.completions.create({ model, messages: user("[[mock tokens=4]]") });
    return { message: done.choices[0].message, finish: done.choices[0].finish_reason, usage: done.usage };
  },
  tools_stream: async () => {
    const stream = await client.chat.completions.create({
      model,
      messages: user("[[mock tool_calls=1]]"),
      tools,
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const deltas = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta);
    const calls = {};
    for (const delta of deltas) {
      for (const piece of delta.tool_calls ?? []) {
        const call = (calls[piece.index] ??= { id: "", name: "", arguments: "" });
        call.id ||= piece.id ?? "";
        call.name ||= piece.function?.name ?? "";
        call.arguments += piece.function?.arguments ?? "";
      }
    }
    return {
      first_delta: deltas[0],
      calls: Object.values(calls),
      finish: chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean),
    };
  },
  tools_create: async () => {
    const done = await client.chat.completions.create({ model, messages: user("[[mock tool_calls=1]]"), tools });
    return { message: done.choices[0].message, finish: done.choices[0].finish_reason };
  },
  // The stream helper: tool calls accumulated by the SDK itself.
  tools_helper: async () => {
    const runner = client.chat.completions.stream({ model, messages: user("[[mock tool_calls=1]]"), tools });
    const final = await runner.finalChatCompletion();
    return { message: final.choices[0].message };
  },
  models_list: async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    return ids;
  },
  models_retrieve: async () => {
    const plain = await client.models.retrieve(model);
    const slashed = await client.models.retrieve("moonshotai/kimi-k2");
    return { plain, slashed };
  },
  models_retrieve_unknown: async () => client.models.retrieve("no-such-model"),
  error_unknown_model: async () => client.chat.completions.create({ model: "nope", messages: user("x") }),
  error_rate_limited: async () =>
    client.chat.completions.create({
      model,
      stream: true,
      messages: user("[[mock status=429 kind=rate_limit retry_after=30]]"),
    }),
  error_mid_stream: async () =>
    collect(await client.chat.completions.create({ model, stream: true, messages: user("[[mock tokens=8 error_after=3]]") })),
  error_strict_types: async () =>
    client.chat.completions.create({ model, messages: user("x"), stream: "yes" }),
  close_early: async () => {
    const stream = await client.chat.completions.create({
      model,
      stream: true,
      messages: user("[[mock tokens=400 rate=40]]"),
    });
    const started = Date.now();
    let received = 0;
    for await (const chunk of stream) {
      if (++received === 3) break; // the SDK aborts the request
    }
    const after = await client.chat.completions.create({ model, messages: user("[[mock tokens=2]]") });
    return { received, ms: Date.now() - started, after: after.choices[0].message.content };
  },
  refusal_stream: async () =>
    collect(await client.chat.completions.create({ model, stream: true, messages: user("[[mock refusal=1]]") })),
  refusal_create: async () => {
    const done = await client.chat.completions.create({ model, messages: user("[[mock refusal=1]]") });
    return { message: done.choices[0].message };
  },
});
