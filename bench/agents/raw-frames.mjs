// Streaming decoder for `u32 big-endian length || body` frames, as a bare-Node
// baseline would write it: a frame that lies inside one chunk is handed out as
// a view; one that spans chunks is copied once into its own buffer.
const EMPTY = Buffer.alloc(0);

export class FrameDecoder {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.hdr = Buffer.alloc(4);
    this.hdrHave = 0;
    this.body = null;
    this.bodyHave = 0;
  }

  push(chunk) {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.body !== null) {
        const take = Math.min(this.body.length - this.bodyHave, n - off);
        chunk.copy(this.body, this.bodyHave, off, off + take);
        this.bodyHave += take;
        off += take;
        if (this.bodyHave === this.body.length) {
          const b = this.body;
          this.body = null;
          this.onFrame(b);
        }
        continue;
      }
      if (this.hdrHave === 0 && n - off >= 4) {
        const len = chunk.readUInt32BE(off);
        if (n - off - 4 >= len) {
          this.onFrame(chunk.subarray(off + 4, off + 4 + len));
          off += 4 + len;
        } else {
          off += 4;
          this.startBody(len);
        }
        continue;
      }
      while (this.hdrHave < 4 && off < n) this.hdr[this.hdrHave++] = chunk[off++];
      if (this.hdrHave === 4) {
        this.hdrHave = 0;
        this.startBody(this.hdr.readUInt32BE(0));
      }
    }
  }

  startBody(len) {
    if (len === 0) {
      this.onFrame(EMPTY);
      return;
    }
    this.body = Buffer.allocUnsafe(len);
    this.bodyHave = 0;
  }
}

export function frameOf(payload) {
  const f = Buffer.allocUnsafe(4 + payload.length);
  f.writeUInt32BE(payload.length, 0);
  f.set(payload, 4);
  return f;
}
