// Reference server for bench/fanout.py: Node.js with the `ws` package.
// Speaks just the subset of Switchboard's protocol the benchmark uses and keeps
// nothing on disk (Switchboard commits every change to PostgreSQL first).
"use strict";
const { WebSocketServer } = require("ws");

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/ws" });
const subscribers = new Set();
let seq = 0;

wss.on("connection", (ws) => {
  ws.on("message", (raw) => {
    const message = JSON.parse(raw);
    if (message.type === "hello") {
      ws.send(JSON.stringify({ type: "welcome", protocol: 1 }));
    } else if (message.type === "subscribe") {
      subscribers.add(ws);
      ws.send(JSON.stringify({ type: "subscribed", id: message.id, topic: message.topic,
                               seq, resumed: false, snapshot: {} }));
    } else if (message.type === "command") {
      seq += 1;
      const event = JSON.stringify({ type: "event", topic: "status:demo", seq,
        name: "service.updated",
        data: { service: { id: "api", name: "API", description: message.data.description,
                           status: "operational" } } });
      for (const client of subscribers) client.send(event);
      ws.send(JSON.stringify({ type: "ack", id: message.id }));
    }
  });
  ws.on("close", () => subscribers.delete(ws));
});

wss.on("listening", () => {
  console.log(`reference: listening on http://127.0.0.1:${wss.address().port}`);
});
