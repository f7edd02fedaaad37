// Cold-start import benchmark for the ig Python Worker on Pyodide 0.28.2 in Node.
//
// Run it through the wrapper, which sets up node_modules and the wheel cache first:
//     uv run python bench/worker_import.py [--runs 5]
//
// Direct use:  node bench/worker_import.mjs '<config JSON>'
//   config: {"src": "/abs/src", "wheels": ["/abs/x.whl", ...], "runs": 5,
//            "variants": ["bare", "pydantic", "workers", "ig"], "breakdown": true}
//   child:   node bench/worker_import.mjs --child <variant> '<config JSON>'   (one fresh interpreter)
//
// Each measurement is a fresh Node process with a fresh Pyodide interpreter, prepared exactly the
// way tests/worker/harness.mjs prepares the one the Worker runs in (same loadPyodide options, same
// wheels in the same order, the same two runtime-internal JS modules the `workers` SDK imports, the
// source tree mounted read-only through NODEFS at /session/metadata). Only the Python import
// statement of the variant is timed; the setup phases are reported separately.
//
// Miniflare is deliberately not started: nothing is imported at module level that touches a
// binding, and the harness's Miniflare start-up would only add noise to the process.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { loadWorkerPyodide as loadRuntime } from "../tests/worker/pyodide_runtime.mjs";

const SELF = fileURLToPath(import.meta.url);

// What is timed per variant. Every variant gets the same interpreter, wheels and JS modules.
const VARIANTS = {
  bare: { label: "bare interpreter (import json)", code: "import json" },
  pydantic: {
    label: "pydantic alone (+1 BaseModel)",
    code: [
      "import pydantic",
      "class _Probe(pydantic.BaseModel):",
      "    name: str",
      "    count: int = 0",
      "    tags: list[str] = []",
    ].join("\n"),
  },
  workers: { label: "workers SDK alone", code: "import workers" },
  ig: { label: "ig Worker (import entry)", code: "import entry" },
};

// Incremental breakdown in one interpreter: each step pays only for what earlier steps did not load.
const BREAKDOWN_STEPS = [
  ["import json", "import json"],
  ["import pydantic", "import pydantic"],
  ["+ define 1 BaseModel", VARIANTS.pydantic.code],
  ["import workers", "import workers"],
  ["import ig.schemas", "import ig.schemas"],
  ["import ig.api", "import ig.api"],
  ["import ig.consumer", "import ig.consumer"],
  ["import entry", "import entry"],
];

// Interpreter set-up: the same Pyodide, wheels, runtime modules and source mount as the worker
// tests (tests/worker/pyodide_runtime.mjs), without Miniflare: nothing touches a binding at import.
async function loadWorkerPyodide({ src, wheels, args = [], onStderr = null }) {
  const options = { src, wheels, args };
  if (onStderr) options.stderr = onStderr;
  const { py, timings } = await loadRuntime(options);
  return { py, timings: { load_pyodide: timings.load_pyodide, wheels: timings.wheels } };
}

function timePython(py, code) {
  const t = performance.now();
  py.runPython(code);
  return performance.now() - t;
}

// ---------------------------------------------------------------------------------------------
// Child modes: one fresh interpreter each, one JSON line on stdout.
async function child(variant, cfg) {
  if (variant === "breakdown") {
    const { py } = await loadWorkerPyodide(cfg);
    const steps = BREAKDOWN_STEPS.map(([name, code]) => ({ name, ms: timePython(py, code) }));
    return { variant, steps };
  }
  if (variant === "importtime") {
    // python -X importtime: per-module self/cumulative microseconds, written to stderr.
    const lines = [];
    const { py } = await loadWorkerPyodide({ ...cfg, args: ["-X", "importtime"], onStderr: (s) => lines.push(...s.split("\n")) });
    lines.length = 0; // drop interpreter start-up and wheel-install imports
    timePython(py, "import entry");
    const rows = [];
    for (const l of lines) {
      const m = /^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)/.exec(l);
      if (m) rows.push({ self_us: +m[1], cum_us: +m[2], depth: (m[3].length - 1) / 2, module: m[4] });
    }
    return { variant, rows };
  }
  const v = VARIANTS[variant];
  if (!v) throw new Error(`unknown variant ${variant}`);
  const { py, timings } = await loadWorkerPyodide(cfg);
  const import_ms = timePython(py, v.code);
  const n = py.runPython("import sys; len(sys.modules)");
  return { variant, import_ms, load_pyodide_ms: timings.load_pyodide, wheels_ms: timings.wheels, modules: n };
}

function runChild(variant, cfg) {
  const p = spawnSync(process.execPath, [SELF, "--child", variant, JSON.stringify(cfg)], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const line = p.stdout.split("\n").find((l) => l.startsWith("{"));
  if (line && p.status !== 0) {
    throw new Error(`child ${variant} failed (exit ${p.status}):\n${JSON.parse(line).error}`);
  }
  if (p.status !== 0 || !line) {
    const log = path.join(os.tmpdir(), `ig-bench-${variant}-${process.pid}.stderr`);
    fs.writeFileSync(log, p.stderr ?? "");
    const msg = (p.stderr ?? "").split("\n").filter((l) => l.length < 1000).slice(-40).join("\n");
    throw new Error(`child ${variant} failed (exit ${p.status}, signal ${p.signal}); full stderr in ${log}:\n${msg}`);
  }
  return JSON.parse(line);
}

// ---------------------------------------------------------------------------------------------
// Parent: interleaved runs, statistics, report.
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const min = (xs) => Math.min(...xs);
const f0 = (x) => x.toFixed(0);
const f1 = (x) => x.toFixed(1);
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

function machine() {
  let cpu = os.cpus()[0]?.model ?? "?";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8"));
    if (m) cpu = m[1].trim();
  } catch {}
  const pyodideVersion = JSON.parse(
    fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.resolve("pyodide"))), "package.json"), "utf8"),
  ).version;
  return {
    cpu,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    mem_gb: (os.totalmem() / 2 ** 30).toFixed(1),
    load: os.loadavg().map((x) => x.toFixed(2)).join(" "),
    node: process.version,
    pyodide: pyodideVersion,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

// Other people edit src/ while this runs; every run imports one frozen copy of it, so all runs
// measure the same code and a half-saved file cannot break a run midway.
function snapshotSrc(src) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ig-bench-src-"));
  fs.cpSync(src, dir, { recursive: true, filter: (p) => !p.includes("__pycache__") });
  return dir;
}

async function parent(cfgIn) {
  const snap = snapshotSrc(cfgIn.src);
  process.on("exit", () => fs.rmSync(snap, { recursive: true, force: true }));
  const cfg = { ...cfgIn, src: snap };
  const runs = cfg.runs ?? 5;
  const variants = cfg.variants ?? ["bare", "pydantic", "workers", "ig"];
  const started = performance.now();
  const results = Object.fromEntries(variants.map((v) => [v, []]));

  runChild("bare", cfg); // warm-up (disk cache, V8 code cache); not recorded
  for (let r = 0; r < runs; r++) {
    // Interleaved, with the order rotated each round so no variant always runs first or last.
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const v of order) {
      const res = runChild(v, cfg);
      results[v].push(res);
      process.stderr.write(`round ${r + 1}/${runs} ${pad(v, 8)} import ${lpad(res.import_ms.toFixed(1), 7)} ms\n`);
    }
  }

  const m = machine();
  const out = [];
  out.push(`ig Worker cold-start import benchmark (Pyodide ${m.pyodide}, Node ${m.node})`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores, ${m.mem_gb} GiB RAM, ${m.platform}, loadavg ${m.load}`);
  out.push(`runs: ${runs} per variant, each a fresh Node process + fresh Pyodide interpreter, interleaved`);
  out.push("");
  out.push(`${pad("variant", 34)} ${lpad("median ms", 10)} ${lpad("min ms", 8)} ${lpad("max ms", 8)} ${lpad("modules", 8)}`);
  const stats = {};
  for (const v of variants) {
    const xs = results[v].map((x) => x.import_ms);
    stats[v] = { median: median(xs), min: min(xs), max: Math.max(...xs) };
    out.push(
      `${pad(VARIANTS[v].label, 34)} ${lpad(f1(stats[v].median), 10)} ${lpad(f1(stats[v].min), 8)} ${lpad(f1(stats[v].max), 8)} ${lpad(results[v][0].modules, 8)}`,
    );
  }
  out.push("");
  if (stats.ig && stats.pydantic) {
    out.push(
      `ratio ig / pydantic-alone: ${(stats.ig.median / stats.pydantic.median).toFixed(2)}x (medians), ` +
        `${(stats.ig.min / stats.pydantic.min).toFixed(2)}x (mins)`,
    );
  }
  const all = variants.flatMap((v) => results[v]);
  out.push(
    `setup, not in the figures above (median over all runs): loadPyodide ${f0(median(all.map((x) => x.load_pyodide_ms)))} ms, ` +
      `install wheels ${f0(median(all.map((x) => x.wheels_ms)))} ms`,
  );

  if (cfg.breakdown !== false) {
    const b = runChild("breakdown", cfg);
    out.push("");
    out.push("incremental, one interpreter (each line pays only for modules not yet loaded):");
    for (const s of b.steps) out.push(`  ${pad(s.name, 22)} ${lpad(f1(s.ms), 7)} ms`);
    const own = b.steps.filter((s) => s.name.startsWith("import ig") || s.name === "import entry").reduce((a, s) => a + s.ms, 0);
    out.push(`  => ig's own modules on top of pydantic + workers: ${f0(own)} ms`);

    const it = runChild("importtime", cfg);
    const total = it.rows.reduce((a, r) => a + r.self_us, 0);
    const pct = (us) => `${lpad(((100 * us) / total).toFixed(1), 5)}%`;
    const groups = new Map();
    for (const r of it.rows) {
      const parts = r.module.split(".");
      const key = parts[0] === "ig" || parts[0] === "entry" ? "ig (all modules)" : parts[0];
      groups.set(key, (groups.get(key) ?? 0) + r.self_us);
    }
    out.push("");
    out.push(`python -X importtime, "import entry" (times inflated by tracing; total ${f0(total / 1000)} ms):`);
    out.push("  self time by top-level package (class bodies, e.g. pydantic model building, count as the defining module's self time):");
    for (const [k, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
      out.push(`    ${pad(k, 28)} ${lpad(f0(us / 1000), 6)} ms ${pct(us)}`);
    }
    // -X importtime lists modules in post-order with indentation = depth; rebuild the tree and
    // print the subtrees that cost >= 8% of the total cumulatively, in import order.
    const pending = []; // pending[d]: finished nodes at depth d still waiting for their parent
    for (const r of it.rows) {
      const node = { ...r, children: pending[r.depth + 1] ?? [] };
      pending[r.depth + 1] = [];
      (pending[r.depth] ??= []).push(node);
    }
    const roots = pending[0] ?? [];
    out.push("  heaviest import chains (cumulative, >= 8% of total):");
    const walk = (n, indent) => {
      if (n.cum_us < 0.08 * total) return;
      out.push(`    ${pad("  ".repeat(indent) + n.module, 50)} ${lpad(f0(n.cum_us / 1000), 6)} ms ${pct(n.cum_us)}  (self ${f0(n.self_us / 1000)} ms)`);
      for (const c of n.children) walk(c, indent + 1);
    };
    for (const r of roots) walk(r, 0);
  }
  out.push("");
  out.push(`wall time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(out.join("\n"));
}

// ---------------------------------------------------------------------------------------------
const argv = process.argv.slice(2);
if (argv[0] === "--child") {
  try {
    const res = await child(argv[1], JSON.parse(argv[2]));
    process.stdout.write(JSON.stringify(res) + "\n");
    process.exit(0);
  } catch (e) {
    // Short message (a PythonError carries the Python traceback); Node's own uncaught-error report
    // would print the multi-megabyte minified source line of pyodide.asm.js instead.
    process.stdout.write(JSON.stringify({ error: String(e?.message ?? e).slice(-6000) }) + "\n");
    process.exit(1);
  }
} else {
  const cfg = JSON.parse(argv[0] ?? "{}");
  if (!cfg.src || !cfg.wheels) {
    console.error("usage: node bench/worker_import.mjs '{\"src\": ..., \"wheels\": [...]}'  (or: uv run python bench/worker_import.py)");
    process.exit(2);
  }
  await parent(cfg);
}
