#!/usr/bin/env node
// A peer with no aiomsg library at all: it builds the handshake and `count` data
// frames by hand and writes them in ONE socket write, so they reach the other end
// in one TCP segment (docs/protocol.md "v1: typed envelopes": frames that follow
// HELLO in the same TCP write belong to the connection and must be delivered).
// Whatever the other end sends is read and discarded; the socket stays open until
// the harness kills this process.
//
//   --role bind|connect  --host H  --port P  --wire v1|legacy  --count N  --prefix P
//
// stderr: `EVENT ready <port>` once listening/connecting, `EVENT wrote <bytes>`.
import net from "node:net";
import { randomBytes } from "node:crypto";

const args = { role: "connect", host: "127.0.0.1", port: "25000", wire: "v1", count: "10", prefix: "r" };
for (let i = 2; i < process.argv.length; i += 2) {
  const name = process.argv[i].replace(/^--/, "");
  if (!(name in args)) {
    process.stderr.write(`usage error: unknown flag ${process.argv[i]}\n`);
    process.exit(2);
  }
  args[name] = process.argv[i + 1];
}
const count = Number(args.count);
const event = (...parts) => process.stderr.write(`EVENT ${parts.join(" ")}\n`);

// docs/protocol.md "Framing": u32 big-endian length, then the body.
const frame = (body) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return [len, body];
};

function burst() {
  const identity = randomBytes(16);
  const parts = [];
  if (args.wire === "v1") {
    // HELLO: type 0x01, version 0x01, identity(16); DATA: type 0x03, payload.
    parts.push(...frame(Buffer.concat([Buffer.from([0x01, 0x01]), identity])));
    for (let i = 0; i < count; i++) {
      parts.push(...frame(Buffer.concat([Buffer.from([0x03]), Buffer.from(`${args.prefix}${i}`)])));
    }
  } else {
    // legacy: the identity frame is the 16 raw bytes; a data frame is the payload.
    parts.push(...frame(identity));
    for (let i = 0; i < count; i++) parts.push(...frame(Buffer.from(`${args.prefix}${i}`)));
  }
  return Buffer.concat(parts);
}

function writeBurst(socket) {
  const bytes = burst();
  socket.setNoDelay(true);
  socket.write(bytes); // one write call: one buffer
  event("wrote", bytes.length);
  socket.on("data", () => {}); // discard the peer's handshake/heartbeats
  socket.on("error", (err) => process.stderr.write(`raw-peer: ${err.message}\n`));
}

if (args.role === "bind") {
  const server = net.createServer((socket) => writeBurst(socket));
  server.listen(Number(args.port), args.host, () => event("ready", server.address().port));
} else {
  // The other end may not listen yet: retry until it does.
  const attempt = () => {
    const socket = net.connect(Number(args.port), args.host);
    socket.once("connect", () => writeBurst(socket));
    socket.once("error", (err) => {
      if (socket.connecting || err.code === "ECONNREFUSED") setTimeout(attempt, 100);
      else process.stderr.write(`raw-peer: ${err.message}\n`);
    });
  };
  event("ready", args.port);
  attempt();
}
