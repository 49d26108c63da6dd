import { describe, expect, it } from "vitest";
import { FrameDecoder, FrameError, encodeFrame } from "../../../src/connectors/epp/frame.js";

describe("RFC 5734 framing", () => {
  it("prefixes the total length (header included) as 32-bit big-endian", () => {
    const f = encodeFrame("<epp/>");
    expect(f.readUInt32BE(0)).toBe(4 + 6);
    expect(f.subarray(4).toString()).toBe("<epp/>");
  });

  it("reassembles frames split and joined at any byte", () => {
    const bytes = Buffer.concat([encodeFrame("<a>é</a>"), encodeFrame("<b/>")]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      expect(out).toEqual(["<a>é</a>", "<b/>"]);
      expect(d.pendingBytes).toBe(0);
    }
  });

  it("rejects impossible and oversized length headers", () => {
    const tiny = Buffer.alloc(4);
    tiny.writeUInt32BE(3);
    expect(() => new FrameDecoder().push(tiny)).toThrow(FrameError);
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(0xffffffff);
    expect(() => new FrameDecoder(1024).push(huge)).toThrow(/outside/);
  });
});
