// Microsoft's own event handler dispatcher (@azure/web-pubsub-express) as the emulator's event handler:
// `node express_handler.mjs <hub>` serves the handler on a free loopback port under /api/webpubsub/hubs/<hub>/
// (the package's default path), prints `listening <port>`, then one JSON line for every event the
// dispatcher decoded: which callback it called, and what it handed to it. The test reads them.
// Express itself is not needed: the middleware reads only req.baseUrl, req.path and the node request.
import http from "node:http";
import { WebPubSubEventHandler } from "@azure/web-pubsub-express";

const hub = process.argv[2];
const report = (callback, request) => {
  const { context, ...rest } = request;
  const { signature, states, ...contextRest } = context;
  console.log(JSON.stringify({ callback, context: { ...contextRest, signed: Boolean(signature) }, ...rest }));
};

const handler = new WebPubSubEventHandler(hub, {
  handleConnect: (request, response) => {
    report("handleConnect", request);
    response.success();
  },
  onConnected: (request) => report("onConnected", request),
  onDisconnected: (request) => report("onDisconnected", request),
  onGroupJoined: (request) => report("onGroupJoined", request),
  onGroupLeft: (request) => report("onGroupLeft", request),
  handleUserEvent: (request, response) => {
    const data = request.data instanceof Buffer ? request.data.toString("base64") : request.data;
    report("handleUserEvent", { ...request, data });
    response.success();
  },
});
const middleware = handler.getMiddleware();

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  req.baseUrl = "";
  req.path = url.pathname;
  middleware(req, res, () => {
    console.log(JSON.stringify({ callback: "unhandled", method: req.method, path: url.pathname }));
    res.statusCode = 404;
    res.end();
  });
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
