/**
 * The connector seam (docs/design.md "Where things live"): the engine knows no protocol. Nothing under src/
 * imports src/connectors/epp/ except the EPP adapter itself, the EPP simulator, the registry family
 * (src/families/registry/: its tasks reconcile on RFC 5730 result codes, and it registers the adapter)
 * and the demo. Checked on the import specifiers of every source file, static and dynamic.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SRC = path.join(ROOT, "src");
const EPP = path.join(SRC, "connectors", "epp");
const ALLOWED = ["src/connectors/epp/", "src/simulators/epp-registry/", "src/families/registry/", "src/demo/"];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : /\.(ts|mts|js)$/.test(e.name) ? [p] : [];
  });
}

/** Relative import specifiers of a module: `import ... from "x"`, `export ... from "x"`, `import("x")`, `import "x"`. */
export function importSpecifiers(text: string): string[] {
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;
  return [...text.matchAll(re)].map((m) => m[1]!);
}

/** Files under src/ (relative to the repository) that import a module under src/connectors/epp/ but may not. */
function violations(files: { file: string; text: string }[]): string[] {
  const out: string[] = [];
  for (const { file, text } of files) {
    const rel = path.relative(ROOT, file).split(path.sep).join("/");
    if (ALLOWED.some((a) => rel.startsWith(a))) continue;
    for (const spec of importSpecifiers(text)) {
      if (!spec.startsWith(".")) continue;
      const target = path.resolve(path.dirname(file), spec);
      if (target === EPP || target.startsWith(EPP + path.sep)) out.push(`${rel} imports ${spec}`);
    }
  }
  return out;
}

describe("import rule: the engine does not import the EPP adapter", () => {
  it("no file outside the adapter, its simulator, the registry family and the demo imports src/connectors/epp/", () => {
    const files = sourceFiles(SRC).map((file) => ({ file, text: readFileSync(file, "utf8") }));
    expect(files.length).toBeGreaterThan(40);
    expect(violations(files)).toEqual([]);
  });

  it("reports a violation (static, type-only and dynamic imports), so the rule can fail", () => {
    const fake = (rel: string, text: string) => ({ file: path.join(ROOT, rel), text });
    expect(
      violations([
        fake("src/engine/lifecycle.ts", 'import { EppCommandError } from "../connectors/epp/errors.js";'),
        fake("src/worker/runner.ts", 'import type { EppResult } from "../connectors/epp/errors.js";\nconst m = await import("../connectors/epp/xml.js");'),
        fake("src/families/registry/tasks/x.ts", 'import { EPP_RESULT } from "../../../connectors/epp/result-codes.js";'),
        fake("src/engine/other.ts", 'import { x } from "../connectors/eppish.js";'),
      ]),
    ).toEqual([
      "src/engine/lifecycle.ts imports ../connectors/epp/errors.js",
      "src/worker/runner.ts imports ../connectors/epp/errors.js",
      "src/worker/runner.ts imports ../connectors/epp/xml.js",
    ]);
  });
});
