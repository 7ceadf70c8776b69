/**
 * The part of a socket's public surface that needs none of its policy: its
 * events (safeEmit, report, drop), the Python-shaped conveniences over send()
 * (sendString, sendJson, sendMsgpack), and the receive API over the receive
 * queue (recv, recvIdentity, recvString, recvJson, recvMsgpack, messages,
 * identityMessages, for await). SocketBase (socket-base.ts) extends it with
 * send() and everything that decides.
 */
import { EventEmitter } from "node:events";
import { msgpack } from "./msgpack.js";
import type { Connection } from "./connection.js";
import { type AiomsgError, UsageError } from "./errors.js";
import { DEBUG, debug } from "./log.js";
import type { SendOptions } from "./options.js";
import type { ReceiveQueue } from "./queue.js";
import { OBSERVED, channels } from "./observe.js";
import type { DroppedMessage, SocketEvents } from "./socket-types.js";

export abstract class SocketApi extends EventEmitter<SocketEvents> {
  /** The receive queue the receive API reads (receive-flow.ts feeds it). */
  protected abstract readonly inbox: ReceiveQueue;

  /** Send one message (see SocketBase). */
  abstract send(data: Uint8Array | string, options?: SendOptions): Promise<void>;

  /** send() already encodes strings as UTF-8; this is the Python-shaped name for it. */
  sendString(text: string, options?: SendOptions): Promise<void> {
    return this.send(text, options);
  }

  sendJson(value: unknown, options?: SendOptions): Promise<void> {
    const text = JSON.stringify(value);
    if (text === undefined) return Promise.reject(new UsageError("ERR_AIOMSG_INVALID_OPTION", "value is not JSON-serialisable"));
    return this.send(text, options);
  }

  sendMsgpack(value: unknown, options?: SendOptions): Promise<void> {
    return this.send(msgpack().encode(value), options);
  }

  /** The next message's payload. Rejects with ERR_AIOMSG_SOCKET_CLOSED once closed and drained. */
  recv(options?: { signal?: AbortSignal }): Promise<Buffer> {
    return this.inbox.next(payloadOnly, options?.signal);
  }

  /** The next message as [sender identity, payload]. */
  recvIdentity(options?: { signal?: AbortSignal }): Promise<[Buffer, Buffer]> {
    return this.inbox.next(pair, options?.signal);
  }

  async recvString(options?: { signal?: AbortSignal }): Promise<string> {
    return (await this.recv(options)).toString("utf8");
  }

  async recvJson<T = unknown>(options?: { signal?: AbortSignal }): Promise<T> {
    return JSON.parse((await this.recv(options)).toString("utf8")) as T;
  }

  async recvMsgpack<T = unknown>(options?: { signal?: AbortSignal }): Promise<T> {
    return msgpack().decode(await this.recv(options)) as T;
  }

  /** Payloads as they arrive; ends when the socket closes. */
  messages(options?: { signal?: AbortSignal }): AsyncIterableIterator<Buffer> {
    return this.inbox.iterate(payloadOnly, options?.signal);
  }

  /** [identity, payload] pairs as they arrive; ends when the socket closes. */
  identityMessages(options?: { signal?: AbortSignal }): AsyncIterableIterator<[Buffer, Buffer]> {
    return this.inbox.iterate(pair, options?.signal);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this.messages();
  }

  /** Messages given up, by code (stats().dropped). */
  protected readonly dropped: Partial<Record<DroppedMessage["code"], number>> = {};

  /** A message given up: counted, published on aiomsg:drop, and emitted as a `dropped` event. */
  protected drop(code: DroppedMessage["code"], bytes: Uint8Array, identity: Buffer | undefined, reason?: AiomsgError): void {
    this.dropped[code] = (this.dropped[code] ?? 0) + 1;
    // The event carries a Buffer, as everywhere in the API (a view of what send() was given).
    const payload = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (OBSERVED && channels.drop.hasSubscribers) channels.drop.publish({ socket: this, code, bytes: payload.length, identity });
    this.safeEmit("dropped", reason === undefined ? { code, payload, identity } : { code, payload, identity, reason });
  }

  /** Network trouble: logged, and emitted only to an attached "error" listener (it never throws). */
  protected report(err: AiomsgError, conn?: Connection): void {
    if (DEBUG) debug("%s%s: %s", err.code, conn ? ` (${conn.describe()})` : "", err.message);
    if (this.listenerCount("error") > 0) this.safeEmit("error", err);
  }

  /** A listener that throws must not break the connection that triggered it. */
  protected safeEmit<K extends keyof SocketEvents>(event: K, ...args: SocketEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      if (DEBUG) debug("listener for %s threw: %s", event, (err as Error)?.message);
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

function payloadOnly(_id: Buffer, payload: Buffer): Buffer {
  return payload;
}

function pair(id: Buffer, payload: Buffer): [Buffer, Buffer] {
  return [id, payload];
}
