// Runs the official JavaScript service client (@azure/web-pubsub) against the emulator and shows
// what an app's error handling sees for requests the service refuses as invalid:
// `node service_errors.mjs <connection string> <hub>` prints, as one JSON line, one entry per call
// with the error's statusCode, code and message, and `JSON.parse(error.message).message`, the
// way code written against the service reads the service's validation-problem body.
import { WebPubSubServiceClient } from "@azure/web-pubsub";

const [connectionString, hub] = process.argv.slice(2);
// http://localhost is not TLS: an app pointed at a local emulator allows that, as this one does.
const service = new WebPubSubServiceClient(connectionString, hub, { allowInsecureConnection: true });
const filter = "invalid filter";
const calls = {
  sendToAll: () => service.sendToAll("hello", { contentType: "text/plain", filter }),
  groupSendToAll: () => service.group("g").sendToAll("hello", { contentType: "text/plain", filter }),
  sendToUser: () => service.sendToUser("u", "hello", { contentType: "text/plain", filter }),
  addConnectionsToGroups: () => service.addConnectionsToGroups(["g"], filter),
  removeConnectionsFromGroups: () => service.removeConnectionsFromGroups(["g"], filter),
};

const report = {};
for (const [name, call] of Object.entries(calls)) {
  try {
    await call();
    report[name] = { ok: true };
  } catch (error) {
    let parsed = null;
    try {
      parsed = JSON.parse(error.message).message;
    } catch {
      parsed = null;
    }
    report[name] = { statusCode: error.statusCode, code: error.code, message: error.message, parsed };
  }
}
console.log(JSON.stringify(report));
