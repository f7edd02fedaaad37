// D1's own rows_read for each request ig's Worker answers, on Miniflare's local D1 (workerd's SQLite).
//
// Run it through the wrapper, which builds the libraries and sets up node_modules and the wheel
// cache first:
//     uv run python bench/d1_rows_read.py
//
// Direct use:  node bench/d1_rows_read.mjs '<config JSON>'
//   config: {"src": "/abs/src", "wheels": ["/abs/x.whl", ...], "seed": "/abs/library.sqlite3",
//            "persist": "/abs/empty-dir", "requests": [{"name": "...", "url": "http://ig.test/v1/..."}]}
//   output: one line "@@D1RR " + JSON: {"node", "pyodide", "requests": [{"name", "status", "items",
//           "jobs" and "results" (the sums of the items' counts, for /v1/usage), "next_cursor",
//           "statements": [{"sql", "rows_read", "rows_written", "rows"}]}]}
//
// ig's Worker (src/entry.py, class Default) runs unchanged on the interpreter the worker tests use
// (tests/worker/pyodide_runtime.mjs: Pyodide 0.28.2, the vendored workers SDK and pydantic). Its
// D1 binding is Miniflare's real D1 behind a thin wrapper that records the `meta` D1 returns with
// every statement (prepare/bind/all/run/first/raw, and each statement of a batch), so a request's
// figure is the sum of what D1 itself reported for everything that request ran. R2 and Queues are
// not used by the library's GET requests; their bindings refuse every call, so a request that
// reached them would fail loudly instead of being measured wrong.
//
// The library is not inserted through D1 (100,000 artifacts would take many minutes): the
// wrapper generates it as a SQLite file with ig's migrations and the benchmark's rows, and this
// script puts that file where Miniflare keeps the D1 database of a persisted run.

import fs from "node:fs";
import path from "node:path";
import { Miniflare, Log, LogLevel } from "miniflare";
import { DEFAULT_COMPAT_FLAGS, loadWorkerPyodide } from "../tests/worker/pyodide_runtime.mjs";

const PROTO = "@@D1RR ";
for (const k of ["log", "info", "debug"]) console[k] = (...a) => console.error(...a);
const cfg = JSON.parse(process.argv[2] ?? "{}");

function miniflare(persist) {
  return new Miniflare({
    modules: true,
    script: `export default { async fetch() { return new Response("d1 rows_read bench"); } };`,
    compatibilityDate: "2026-04-22",
    cf: false,
    d1Databases: { DB: "ig" },
    d1Persist: path.join(persist, "d1"),
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      stdout.pipe(process.stderr);
      stderr.pipe(process.stderr);
    },
  });
}

// Miniflare names the database file after its Durable Object id: let it create the file, then
// replace the file (and drop its WAL) with the generated library.
async function installSeed(persist, seed) {
  const first = miniflare(persist);
  await (await first.getD1Database("DB")).prepare("SELECT 1").all();
  await first.dispose();
  const dir = path.join(persist, "d1", "miniflare-D1DatabaseObject");
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (files.length !== 1) throw new Error(`expected one D1 database file in ${dir}, found ${files}`);
  const target = path.join(dir, files[0]);
  for (const suffix of ["-wal", "-shm"]) fs.rmSync(target + suffix, { force: true });
  fs.copyFileSync(seed, target);
}

// --- the counting D1 binding --------------------------------------------------------------------
let statements = []; // what the current request ran

function record(sql, result) {
  const meta = result?.meta ?? {};
  statements.push({
    sql,
    rows_read: meta.rows_read ?? null,
    rows_written: meta.rows_written ?? null,
    rows: Array.isArray(result?.results) ? result.results.length : null,
  });
  return result;
}

function plain(result) {
  return { results: result.results, meta: { ...result.meta }, success: result.success };
}

class D1PreparedStatement {
  constructor(real, sql) {
    this.real = real;
    this.sql = sql;
  }
  bind(...args) {
    return new D1PreparedStatement(this.real.bind(...args), this.sql);
  }
  async all() {
    return record(this.sql, plain(await this.real.all()));
  }
  async run() {
    return record(this.sql, plain(await this.real.run()));
  }
  // first() and raw() do not return D1's meta: the same statement runs as all(), which reads the
  // same rows (first() does not add a LIMIT), and the answer is shaped as first()/raw() shape it.
  async first(column) {
    const row = record(this.sql, plain(await this.real.all())).results[0] ?? null;
    return row === null || column === undefined ? row : row[column];
  }
  async raw(options) {
    const result = record(this.sql, plain(await this.real.all()));
    const rows = result.results.map((r) => Object.values(r));
    return options?.columnNames ? [Object.keys(result.results[0] ?? {}), ...rows] : rows;
  }
}

class D1Database {
  constructor(real) {
    this.real = real;
  }
  prepare(sql) {
    return new D1PreparedStatement(this.real.prepare(sql), sql);
  }
  async batch(list) {
    const results = await this.real.batch(list.map((s) => s.real));
    return results.map((r, i) => record(list[i].sql, plain(r)));
  }
  async exec(sql) {
    throw new Error(`the benchmark's D1 binding does not run exec(): ${sql.slice(0, 80)}`);
  }
}

function unused(className) {
  const cls = { [className]: class {} }[className];
  return new Proxy(new cls(), {
    get(target, prop) {
      if (prop === "constructor") return cls;
      if (typeof prop === "symbol" || prop === "then") return undefined;
      return () => {
        throw new Error(`${className}.${prop}: not expected in a library GET request`);
      };
    },
  });
}

// --- the Worker ----------------------------------------------------------------------------------
const GLUE_PY = String.raw`
import importlib
import inspect

from pyodide.code import relaxed_call
from workers import python_from_rpc, python_to_rpc

_mod = importlib.import_module("entry")


async def fetch(request, env, ctx):
    # As workerd calls fetch (tests/worker/harness.mjs does the same): arguments through
    # python_from_rpc, as many as the handler takes, and the answer through python_to_rpc.
    instance = _mod.Default(ctx, env)
    result = relaxed_call(instance.fetch, *[python_from_rpc(a) for a in (request, env, ctx)])
    if inspect.isawaitable(result):
        result = await result
    return python_to_rpc(result)
`;

class ExecutionContext {
  constructor(pending) {
    this.pending = pending;
  }
  waitUntil(p) {
    this.pending.push(p instanceof Promise ? p : Promise.resolve(p));
  }
  passThroughOnException() {}
  get props() {
    return {};
  }
}

async function main() {
  const persist = path.resolve(cfg.persist);
  if (cfg.seed) await installSeed(persist, path.resolve(cfg.seed));
  const mf = miniflare(persist);
  try {
    const env = {
      DB: new D1Database(await mf.getD1Database("DB")),
      ARTIFACTS: unused("R2Bucket"),
      JOBS: unused("WorkerQueue"),
      ...(cfg.vars ?? {}),
    };
    const cloudflareWorkersModule = { env, waitUntil() {} };
    const { py } = await loadWorkerPyodide({
      src: path.resolve(cfg.src),
      wheels: cfg.wheels ?? [],
      compatFlags: DEFAULT_COMPAT_FLAGS,
      cloudflareWorkersModule,
    });
    py.FS.writeFile("/tmp/_d1_rows_read.py", GLUE_PY);
    py.runPython("import sys; sys.path.insert(0, '/tmp')");
    const glue = py.pyimport("_d1_rows_read");

    const out = [];
    for (const { name, url } of cfg.requests ?? []) {
      statements = [];
      const pending = [];
      const response = await glue.fetch(new Request(url), env, new ExecutionContext(pending));
      await Promise.all(pending);
      const text = await response.text();
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {}
      out.push({
        name,
        url,
        status: response.status,
        items: Array.isArray(body?.items) ? body.items.length : null,
        jobs: Array.isArray(body?.items) ? body.items.reduce((n, item) => n + (item.jobs ?? 0), 0) : null,
        results: Array.isArray(body?.items) ? body.items.reduce((n, item) => n + (item.results ?? 0), 0) : null,
        next_cursor: body?.next_cursor ?? null,
        error: response.status === 200 ? null : text.slice(0, 500),
        statements,
      });
    }
    process.stdout.write(PROTO + JSON.stringify({ node: process.version, pyodide: py.version, requests: out }) + "\n");
  } finally {
    await mf.dispose();
  }
}

main().catch((e) => {
  console.error(e?.stack ?? String(e));
  process.exit(1);
});
