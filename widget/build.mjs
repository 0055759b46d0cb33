// Builds the browser bundles into server/static/dist and writes manifest.json, which maps
// logical names (frame.js) to fingerprinted files. The loader keeps a stable name because
// it is served at /widget.js, which site owners paste once.
import { build } from "esbuild";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "server", "static", "dist");
const KB = 1024;
// gzip budgets from DESIGN.md; the build fails when one is exceeded.
// The call code is loaded by the frame only when a call starts: its own budget.
const budgets = { loader: 3 * KB, frame: 25 * KB, call: 15 * KB };

const common = {
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  platform: "browser",
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  outdir: dist,
};

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// The console's admin pages: every src/admin/pages/<slug>.ts is bundle admin-<slug>.js, loaded
// only by its own page (server/admin_pages.py).
const adminPages = Object.fromEntries(
  readdirSync(join(here, "src", "admin", "pages"))
    .filter((file) => file.endsWith(".ts"))
    .map((file) => [`admin-${file.slice(0, -3)}`, `src/admin/pages/${file}`]),
);

const [loader, apps, call, admin] = await Promise.all([
  build({ ...common, entryPoints: { loader: "src/loader.ts" }, entryNames: "[name]" }),
  build({
    ...common,
    entryPoints: { frame: "src/frame/main.ts", console: "src/console/main.ts" },
    entryNames: "[name]-[hash]",
  }),
  // An ES module, so the frame can `import()` it and use its exports.
  build({
    ...common,
    format: "esm",
    entryPoints: { call: "src/call/main.ts" },
    entryNames: "[name]-[hash]",
  }),
  build({ ...common, entryPoints: adminPages, entryNames: "[name]-[hash]" }),
]);

const manifest = {};
for (const { metafile } of [loader, apps, call, admin]) {
  for (const [path, output] of Object.entries(metafile.outputs)) {
    if (!output.entryPoint) continue;
    const name = basename(output.entryPoint).replace(/\.ts$/, "");
    const page = output.entryPoint.startsWith("src/admin/pages/");
    const app = page ? `admin-${name}` : name === "main" ? basename(dirname(output.entryPoint)) : name;
    manifest[`${app}.js`] = basename(path);
    if (output.cssBundle) manifest[`${app}.css`] = basename(output.cssBundle);
  }
}
writeFileSync(join(dist, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");

const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
const raw = (file) => readFileSync(join(dist, file)).length;
const totals = {};
const rows = Object.entries(manifest).map(([logical, file]) => {
  const app = logical.split(".")[0];
  totals[app] = (totals[app] ?? 0) + gz(file);
  return [logical, file, raw(file), gz(file)];
});
const pad = (s, n) => String(s).padEnd(n);
console.log(`${pad("asset", 18)}${pad("file", 30)}${pad("raw", 10)}gzip`);
for (const [logical, file, r, g] of rows) {
  console.log(`${pad(logical, 18)}${pad(file, 30)}${pad((r / KB).toFixed(2) + " KB", 10)}${(g / KB).toFixed(2)} KB`);
}
let over = false;
for (const [app, limit] of Object.entries(budgets)) {
  const size = totals[app] ?? 0;
  const ok = size <= limit;
  over ||= !ok;
  console.log(`${app} total ${(size / KB).toFixed(2)} KB gzip / budget ${limit / KB} KB ${ok ? "ok" : "OVER BUDGET"}`);
}
if (over) process.exit(1);
