// Runs the official JavaScript client (@azure/web-pubsub-client) against the emulator:
// `node send_event.mjs <client access URL>` sends events and prints, as one JSON line, the
// results of sendEvent and the `server-message` answers the event handler sent back.
import { WebPubSubClient } from "@azure/web-pubsub-client";

const url = process.argv[2];
const client = new WebPubSubClient(url);
const answers = [];
client.on("server-message", (event) => {
  const data = event.message.data;
  answers.push({
    dataType: event.message.dataType,
    data: data instanceof ArrayBuffer ? Buffer.from(data).toString("base64") : data,
  });
});

const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 20000);
await client.start();
const results = [];
results.push(await client.sendEvent("echo", "hello from node", "text"));
results.push(await client.sendEvent("echo", { n: [1, 2] }, "json"));
results.push(await client.sendEvent("echo", new Uint8Array([0, 1, 255]).buffer, "binary"));
while (answers.length < results.length) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const stopped = new Promise((resolve) => client.on("stopped", resolve));
client.stop();
await stopped;
clearTimeout(timer);
console.log(JSON.stringify({ results, answers }));
// Once stopped, the client still holds timers that keep node alive for about 40 s; nothing is left to wait for.
process.exit(0);
