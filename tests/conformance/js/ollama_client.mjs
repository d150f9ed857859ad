// The `ollama` npm package pointed at a SOLLOL gateway, exactly as a user would point it at one
// Ollama: list, a streamed chat, embed. Prints one JSON object with what came back, for
// tests/conformance/test_js_ollama.py to check.
//   node ollama_client.mjs <gateway url> <chat model> <embed model> <num_predict>
import { Ollama } from "ollama";

const [host, chatModel, embedModel, numPredict] = process.argv.slice(2);
const client = new Ollama({ host });

const listed = await client.list();
const parts = [];
let final = null;
const stream = await client.chat({
  model: chatModel,
  messages: [{ role: "user", content: "Tell me about the sea." }],
  options: { num_predict: Number(numPredict) },
  stream: true,
});
for await (const chunk of stream) {
  parts.push(chunk.message.content);
  if (chunk.done) final = chunk;
}
const embedded = await client.embed({ model: embedModel, input: ["one text", "another text"] });

console.log(
  JSON.stringify({
    models: listed.models.map((m) => m.name),
    chunks: parts.length,
    content: parts.join(""),
    done_reason: final && final.done_reason,
    eval_count: final && final.eval_count,
    embeddings: embedded.embeddings.map((v) => v.length),
  }),
);
