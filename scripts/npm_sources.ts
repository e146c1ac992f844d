/**
 * Source handling for the npm build: which modules go in the package, which
 * tests can run on Node and Bun, and the rewriting of `.ts` specifiers. The
 * TypeScript compiler's own parser does the reading, so imports shown in doc
 * comments never count as imports, and identifiers are told from comments.
 *
 * @module
 */

import { createRequire } from "node:module";

// deno-lint-ignore no-explicit-any
type TypeScript = any;

/** Loads the pinned TypeScript compiler's API from its installed file. */
export function loadTypeScript(path: string): TypeScript {
  return createRequire(import.meta.url)(path);
}

/** The module specifiers a source imports or re-exports, comments excluded. */
export function imports(ts: TypeScript, text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((ref: { fileName: string }) => ref.fileName);
}

/** The relative module specifiers a source imports or re-exports. */
export function relativeImports(ts: TypeScript, text: string): string[] {
  return imports(ts, text).filter((spec) => spec.startsWith("./") || spec.startsWith("../"));
}

/** Whether the code (not its comments or strings) uses the identifier `name`. */
export function usesIdentifier(
  ts: TypeScript,
  fileName: string,
  text: string,
  name: string,
): boolean {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  let found = false;
  const visit = (node: { kind: number; text?: string }): void => {
    if (found) return;
    if (ts.isIdentifier(node) && node.text === name) found = true;
    else ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * Rewrites relative `.ts` specifiers of `import`/`export ... from`, bare
 * `import "..."` and `import("...")` with `map`. Doc-comment examples are
 * rewritten too, which keeps them in step with the emitted files.
 */
export function rewriteSpecifiers(text: string, map: (spec: string) => string): string {
  return text.replace(
    /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.\.?\/[^"'\n]*?\.ts)\2/g,
    (_match, lead: string, quote: string, spec: string) => `${lead}${quote}${map(spec)}${quote}`,
  );
}

/** `./x.ts` → `./x.js`. */
export function toJs(spec: string): string {
  return spec.replace(/\.ts$/, ".js");
}

/**
 * The modules reachable from `entries` through relative imports, as file
 * names relative to the root (all in the root folder). `read` gives a
 * module's text; modules whose text is replaced are read through it too.
 */
export async function moduleGraph(
  ts: TypeScript,
  entries: string[],
  read: (name: string) => Promise<string>,
): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    for (const spec of relativeImports(ts, await read(name))) {
      if (!spec.startsWith("./") || spec.slice(2).includes("/")) {
        throw new Error(`${name} imports ${spec}: the package is one flat folder`);
      }
      queue.push(spec.slice(2));
    }
  }
  return seen;
}

/**
 * Why a test module (a test or a helper it imports) cannot run against the
 * npm package, or `null` when it can.
 */
export function unportableReason(ts: TypeScript, name: string, text: string): string | null {
  if (name.endsWith("_test.ts") && !/["']node:test["']/.test(text)) return "not node:test";
  if (usesIdentifier(ts, name, text, "Deno")) return "uses Deno APIs";
  // Paths relative to the source file (testdata, fixtures) do not survive the move.
  if (/\bimport\.meta\b/.test(text)) return "uses import.meta";
  const foreign = imports(ts, text).find((spec) =>
    !spec.startsWith("./") && !spec.startsWith("node:")
  );
  if (foreign !== undefined) return `imports ${foreign}`;
  return null;
}
