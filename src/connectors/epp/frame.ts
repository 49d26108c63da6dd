/**
 * RFC 5734 §4 data unit framing: every EPP message is a 32-bit big-endian total length (which counts
 * the 4 header bytes) followed by that many bytes minus 4 of UTF-8 XML.
 */
import { ProvisioError } from "../../errors.js";

/** Largest frame accepted (header included), in bytes. Anything larger is treated as a protocol error. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const HEADER_BYTES = 4;

/** Encode one XML document as an RFC 5734 frame. */
export function encodeFrame(xml: string): Buffer {
  const body = Buffer.from(xml, "utf8");
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  frame.writeUInt32BE(HEADER_BYTES + body.length, 0);
  body.copy(frame, HEADER_BYTES);
  return frame;
}

/** Raised on a length header below 5 or above {@link MAX_FRAME_BYTES}; code PV_EPP_FRAME. */
export class FrameError extends ProvisioError {
  constructor(message: string) {
    super("PV_EPP_FRAME", message);
  }
}

/**
 * Incremental decoder: push() socket chunks, get back the complete XML documents they finish.
 * @throws FrameError on an impossible length header; the connection must then be closed.
 */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): string[] {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const out: string[] = [];
    while (this.buffered.length >= HEADER_BYTES) {
      const total = this.buffered.readUInt32BE(0);
      if (total <= HEADER_BYTES || total > this.maxFrameBytes) {
        throw new FrameError(`EPP frame length ${total} outside ${HEADER_BYTES + 1}..${this.maxFrameBytes} bytes`);
      }
      if (this.buffered.length < total) break;
      out.push(this.buffered.subarray(HEADER_BYTES, total).toString("utf8"));
      this.buffered = this.buffered.subarray(total);
    }
    return out;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes(): number {
    return this.buffered.length;
  }
}
