/**
 * The npm tools the npm build and the consumer tests use, pinned, installed
 * once into a build-local folder (`.tmp/npm-tools`, git-ignored) so that
 * nothing global is needed and every machine builds with the same compiler.
 *
 * @module
 */

/** The TypeScript compiler that emits the package (its `.js` and `.d.ts`). */
export const TYPESCRIPT = "typescript@5.9.3";
/** Node's types, for the `node:` modules the node transport imports. */
export const TYPES_NODE = "@types/node@20.19.43";
/** The Bun runtime the consumer tests run under (it ships as an npm package). */
export const BUN = "bun@1.4.5";

/** The repository root (this file lives in `scripts/`). */
export const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
/** Where the tools are installed. */
export const TOOLS_DIR = `${ROOT}/.tmp/npm-tools`;

/** Paths of the installed tools. */
export interface Tools {
  /** `tsc`, run with node. */
  tsc: string;
  /** The TypeScript package's main file, for `require`. */
  typescript: string;
  /** The folder holding `@types/node`. */
  typeRoots: string;
  /** The `bun` executable. */
  bun: string;
}

/** Runs a command, inheriting output; throws when it fails. */
export async function run(cmd: string, args: string[], cwd = ROOT): Promise<void> {
  const { code } = await new Deno.Command(cmd, { args, cwd, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${code}`);
}

/** Whether the package `name@version` is installed in the tools folder. */
async function installed(spec: string): Promise<boolean> {
  const at = spec.lastIndexOf("@");
  const name = spec.slice(0, at);
  try {
    const text = await Deno.readTextFile(`${TOOLS_DIR}/node_modules/${name}/package.json`);
    return JSON.parse(text).version === spec.slice(at + 1);
  } catch {
    return false;
  }
}

/** Installs the pinned tools unless they are already there; returns their paths. */
export async function ensureTools(): Promise<Tools> {
  const specs = [TYPESCRIPT, TYPES_NODE, BUN];
  const missing = [];
  for (const spec of specs) if (!(await installed(spec))) missing.push(spec);
  if (missing.length > 0) {
    await Deno.mkdir(TOOLS_DIR, { recursive: true });
    // A package.json of its own keeps npm from walking up to another project.
    await Deno.writeTextFile(
      `${TOOLS_DIR}/package.json`,
      JSON.stringify({ name: "hisock-npm-tools", private: true }, null, 2) + "\n",
    );
    await run("npm", [
      "install",
      "--no-audit",
      "--no-fund",
      "--save-exact",
      "--prefix",
      TOOLS_DIR,
      ...specs,
    ]);
  }
  const modules = `${TOOLS_DIR}/node_modules`;
  return {
    tsc: `${modules}/typescript/bin/tsc`,
    typescript: `${modules}/typescript/lib/typescript.js`,
    typeRoots: `${modules}/@types`,
    bun: `${modules}/.bin/bun`,
  };
}
