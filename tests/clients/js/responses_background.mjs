// Background responses through openai-node (create with background and stream, retrieve with
// stream and starting_after, the stream helper by response_id, cancel) and @ai-sdk/openai's
// previousResponseId: node responses_background.mjs BASE_URL TAG [case ...]
import { createOpenAI } from "@ai-sdk/openai";
import { generateText } from "ai";
import OpenAI from "openai";
import { runCases } from "./common.mjs";

const baseURL = process.argv[2];
const tag = process.argv[3];
process.argv.splice(3, 1); // runCases reads the case names after the base URL
const client = new OpenAI({ baseURL, apiKey: "unused-locally", maxRetries: 0 });
const model = "gpt-4o-mini";
const sdk = createOpenAI({ baseURL, apiKey: "unused-locally" })(model);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const deltas = (events) =>
  events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");

await runCases({
  node_resume: async () => {
    const stream = await client.responses.create({
      model, input: "[[mock tokens=40 rate=80]]", background: true, stream: true,
    });
    const first = [];
    for await (const event of stream) {
      first.push(event);
      if (first.length === 6) break;
    }
    const id = first[0].response.id;
    const after = first[first.length - 1].sequence_number;
    const rest = [];
    for await (const event of await client.responses.retrieve(id, { stream: true, starting_after: after })) {
      rest.push(event);
    }
    const helper = client.responses.stream({ response_id: id, starting_after: 2 });
    const helped = [];
    for await (const event of helper) helped.push(event.sequence_number);
    const final = await helper.finalResponse();
    return {
      sequence: [...first, ...rest].map((e) => e.sequence_number),
      last: rest[rest.length - 1].type,
      text: deltas(first) + deltas(rest),
      helper: { first: helped[0], text: final.output[0].content[0].text, status: final.status },
    };
  },
  node_cancel: async () => {
    const started = await client.responses.create({
      model, input: `${tag} [[mock tokens=3000 rate=100]]`, background: true,
    });
    await sleep(300);
    const asked = Date.now() / 1000;
    const cancelled = await client.responses.cancel(started.id);
    const again = await client.responses.cancel(started.id);
    const kept = await client.responses.retrieve(started.id);
    return { asked, status: [started.status, cancelled.status, again.status, kept.status] };
  },
  node_previous: async () => {
    const first = await client.responses.create({ model, input: "[[mock tokens=2]]" });
    const next = await client.responses.create({
      model, input: "[[mock tokens=4]]", previous_response_id: first.id,
    });
    return { text: next.output_text, previous: next.previous_response_id === first.id };
  },
  node_delete: async () => {
    const started = await client.responses.create({ model, input: "[[mock tokens=5]]", background: true });
    await client.responses.delete(started.id);
    try {
      await client.responses.retrieve(started.id);
      return { gone: false };
    } catch (error) {
      return { gone: error.status === 404, name: error.constructor.name };
    }
  },
  ai_previous: async () => {
    const first = await generateText({ model: sdk, maxRetries: 0, prompt: "[[mock tokens=2]]" });
    const id = first.providerMetadata?.openai?.responseId ?? first.response?.id;
    const next = await generateText({
      model: sdk,
      maxRetries: 0,
      prompt: "[[mock tokens=3]]",
      providerOptions: { openai: { previousResponseId: id } },
    });
    return { id, text: next.text };
  },
});
