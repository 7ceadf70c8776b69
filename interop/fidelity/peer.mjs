// The driver's side of a fidelity case: raw TCP connections to (or from) the
// subject under test, with no aiomsg library. A DriverConn records every frame
// the subject sends and how the connection ends; waitFor() waits on those events
// with a deadline (never a bare sleep). A CaseListener plays the bind end for a
// subject that connects: its first accepted connection is the case's, later ones
// (the subject redialling) are counted and held open, silent.
import { EventEmitter } from "node:events";
import net from "node:net";
import { FrameReader } from "./frames.mjs";

export class DriverConn extends EventEmitter {
  constructor(socket) {
    super();
    this.setMaxListeners(50);
    this.socket = socket;
    this.frames = []; // bodies received, in order
    this.ended = null; // "eof" | "reset" | "error: ..." once the subject closed
    this.reader = new FrameReader();
    this.port = socket.localPort; // kept: a closed socket forgets it
    socket.setNoDelay(true);
    socket.on("data", (chunk) => {
      for (const f of this.reader.push(chunk)) this.frames.push(f);
      this.emit("change");
    });
    socket.on("end", () => this.finish("eof"));
    socket.on("error", (err) => this.finish(err.code === "ECONNRESET" ? "reset" : `error ${err.code ?? err.message}`));
    socket.on("close", () => this.finish("eof"));
  }

  get localPort() {
    return this.port ?? this.socket.localPort;
  }

  finish(how) {
    if (this.ended) return;
    this.ended = how;
    this.emit("change");
  }

  /** Writes raw bytes (one write call). */
  write(bytes) {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /**
   * Resolves "ok" once `pred(this)` holds, "ended" once the subject closed the
   * connection first, "timeout" at the deadline.
   */
  waitFor(pred, timeoutMs) {
    return new Promise((resolve) => {
      let timer;
      const check = () => {
        const r = pred(this) ? "ok" : this.ended ? "ended" : null;
        if (!r) return;
        clearTimeout(timer);
        this.off("change", check);
        resolve(r);
      };
      timer = setTimeout(() => {
        this.off("change", check);
        resolve(pred(this) ? "ok" : this.ended ? "ended" : "timeout");
      }, timeoutMs);
      this.on("change", check);
      check();
    });
  }

  destroy() {
    this.socket.destroy();
  }
}

/** Opens a connection to the subject's bind port. */
export function dial(port, host = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    s.once("connect", () => {
      const c = new DriverConn(s);
      c.port = s.localPort;
      resolve(c);
    });
    s.once("error", reject);
  });
}

export class CaseListener extends EventEmitter {
  constructor() {
    super();
    this.setMaxListeners(50);
    this.conns = []; // every accepted connection, in order
    this.server = net.createServer((s) => {
      this.conns.push(new DriverConn(s));
      this.emit("change");
    });
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve(this.server.address().port));
    });
  }

  get port() {
    return this.server.address().port;
  }

  /** The case's connection: the first one accepted (waits for it up to the deadline). */
  first(timeoutMs) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!this.conns.length) return;
        clearTimeout(timer);
        this.off("change", check);
        resolve(this.conns[0]);
      };
      const timer = setTimeout(() => {
        this.off("change", check);
        reject(new Error(`the subject did not connect to port ${this.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on("change", check);
      check();
    });
  }

  /** Resolves true once more than `n` connections were accepted, false at the deadline. */
  waitConns(n, timeoutMs) {
    return new Promise((resolve) => {
      const check = () => {
        if (this.conns.length <= n) return;
        clearTimeout(timer);
        this.off("change", check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.off("change", check);
        resolve(this.conns.length > n);
      }, timeoutMs);
      this.on("change", check);
      check();
    });
  }

  close() {
    for (const c of this.conns) c.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
