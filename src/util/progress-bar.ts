/** A text progress bar, `[#####.....]`: `width` cells (default 10), filled for `percent` (0-100, clamped). */
export function bar(percent: number, width = 10): string {
  const filled = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}
