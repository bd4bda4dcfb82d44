#!/usr/bin/env node
// Builds a JavaScript taskbox plugin: `node build.mjs DIR OUT.wasm`.
//
// DIR holds `app.js`, an ES module whose default export is `task({...})` or
// `retry({...})` from "taskbox-sdk". The build
//
// 1. bundles app.js with esbuild, resolving "taskbox-sdk" to this directory's
//    taskbox-sdk.js and other packages from DIR/node_modules, and imports the
//    bundle in Node to learn whether it is a task or a retry controller;
// 2. bundles an entry module that imports the host's `log` and
//    `update-progress` and exports the world's functions (see `exportsFor`
//    in taskbox-sdk.js);
// 3. hands that to componentize-js's `componentize()` with the repository's
//    WIT and the world, without the HTTP features (the host links WASI but
//    not wasi:http), and writes the component to OUT.
//
// Why the function and not the `jco componentize` command line: the CLI
// runs the componentize-js that jco itself depends on (0.19.x for the pinned
// jco 1.15.4), not the pinned 0.23.0, and some jco versions mishandle source
// paths; the build needs a Node step for bundling anyway.

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const sdkDir = dirname(fileURLToPath(import.meta.url));
const witDir = resolve(sdkDir, "../../wit");
const HOST = "taskbox:plugin/host@0.1.0";

// The toolchain (package.json here, pinned by package-lock.json) lives in
// TASKBOX_NODE_MODULES, which scripts/plugin-js.sh installs and sets.
const modules = resolve(process.env.TASKBOX_NODE_MODULES ?? join(sdkDir, "../../target/polyglot/node_modules"));
if (!existsSync(join(modules, "@bytecodealliance/componentize-js"))) {
  console.error(`the JavaScript toolchain is not in ${modules}; build with scripts/plugin-js.sh, which installs it`);
  process.exit(2);
}
const { build } = createRequire(join(modules, "resolve.js"))("esbuild");
const componentizeJs = join(modules, "@bytecodealliance/componentize-js");
const { exports: entryPoints } = JSON.parse(readFileSync(join(componentizeJs, "package.json"), "utf8"));
const { componentize } = await import(pathToFileURL(join(componentizeJs, entryPoints.import)).href);

const [dirArg, outArg] = process.argv.slice(2);
if (!dirArg) {
  console.error("usage: node build.mjs DIR [OUT.wasm]");
  process.exit(2);
}
const dir = resolve(dirArg);
const out = resolve(outArg ?? `${basename(dir)}.wasm`);
const app = join(dir, "app.js");
if (!existsSync(app)) {
  console.error(`${app} not found: a JavaScript plugin directory holds app.js`);
  process.exit(2);
}

const stage = await mkdtemp(join(tmpdir(), "taskbox-js-"));
try {
  const bundle = (contents, outfile, external = []) =>
    build({
      stdin: { contents, resolveDir: dir, sourcefile: basename(outfile), loader: "js" },
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      outfile,
      alias: { "taskbox-sdk": join(sdkDir, "taskbox-sdk.js") },
      nodePaths: [join(dir, "node_modules")],
      external,
      logLevel: "error",
    });

  const probe = join(stage, "probe.mjs");
  await bundle(`export { default } from ${JSON.stringify(app)};`, probe);
  const plugin = (await import(pathToFileURL(probe).href)).default;
  const world = plugin?.world;
  if (world !== "task" && world !== "retry") {
    throw new Error(`${app}: the default export must be task({...}) or retry({...})`);
  }
  const exported = world === "task" ? ["describe", "execute", "revert"] : ["describe", "execute", "revert", "onFailure"];

  const entry = join(stage, "component.js");
  await bundle(
    [
      `import { log, updateProgress } from ${JSON.stringify(HOST)};`,
      `import { exportsFor } from "taskbox-sdk";`,
      `import plugin from ${JSON.stringify(app)};`,
      `const exports = exportsFor(${JSON.stringify(world)}, plugin, { log, updateProgress });`,
      ...exported.map((name) => `export const ${name} = exports.${name};`),
    ].join("\n"),
    entry,
    [HOST],
  );

  const { component } = await componentize({
    sourcePath: entry,
    witPath: witDir,
    worldName: world,
    disableFeatures: ["http", "fetch-event"],
  });
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, component);
  console.log(`built ${world} ${basename(out, ".wasm")} -> ${out} (${component.length} bytes)`);
} finally {
  await rm(stage, { recursive: true, force: true });
}
