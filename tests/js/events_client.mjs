// Runs the official JavaScript client (@azure/web-pubsub-client) against the emulator, whose hub
// sends events to the app's `events` function: `node events_client.mjs <client access URL>` sends
// an "order" event as text, JSON and binary and prints, as one JSON line, whether each was acked.
import { WebPubSubClient } from "@azure/web-pubsub-client";

const client = new WebPubSubClient(process.argv[2]);
const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 20000);
await client.start();
const results = [];
for (const [data, dataType] of [
  ["hello from node", "text"],
  [{ n: [1, 2] }, "json"],
  [new Uint8Array([0, 1, 255]).buffer, "binary"],
]) {
  try {
    await client.sendEvent("order", data, dataType);
    results.push({ ok: true });
  } catch (error) {
    results.push({ ok: false, error: String(error) });
  }
}
client.stop();
clearTimeout(timer);
console.log(JSON.stringify(results));
process.exit(0);
