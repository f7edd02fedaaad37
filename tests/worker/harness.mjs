// Local test harness for the ig Python Worker.
//
// Runs the Worker's Python source on the production Python Workers stack minus workerd's glue:
// Pyodide 0.28.2 (CPython 3.13.2, the wasm ABI of compat date >= 2025-09-29) inside Node, with the
// vendored `workers` SDK (workers-runtime-sdk) and pydantic wheels, and real local D1, R2 and Queues
// from Miniflare (workerd). Miniflare's Node-side binding proxies are handed to Python, wrapped so
// the SDK recognises them by constructor name, exactly as it recognises workerd's bindings.
//
// Usage:  node tests/worker/harness.mjs '<config JSON>'
// Config: {"src": "/abs/src", "module": "entry", "class": "Default",
//          "wheels": ["/abs/x.whl", ...], "vars": {"NAME": "value"},
//          "max_retries": 5, "max_batch_size": 10, "dlq_max_retries": 5, "dlq_max_batch_size": 1,
//          "compat_flags": {"python_request_headers_preserve_commas": true},
//          "relaxed": {"fetch": true, "queue": false, "scheduled": false},
//          "persist": null | "/abs/dir"}
//
// Protocol: JSON lines. Requests on stdin: {"id": 1, "cmd": "fetch", ...}. Every protocol line the
// harness writes on stdout starts with "@@IGH " followed by JSON; anything else on stdout/stderr is
// log output. First line: {"event": "ready", "startup_ms": {...}, ...} or {"event": "fatal", ...}.
// Replies: {"id": 1, "ok": true, "result": {...}} or {"id": 1, "ok": false, "error": "...", "stack": "..."}.
// Commands are processed one at a time, in order. See tests/worker/worker_harness.py for the list.

import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { createHash, randomUUID } from "node:crypto";
import { types as utilTypes } from "node:util";
const isProxy = utilTypes.isProxy;
import { Miniflare, Log, LogLevel } from "miniflare";
import { DEFAULT_COMPAT_FLAGS, loadWorkerPyodide } from "./pyodide_runtime.mjs";

const PROTO = "@@IGH ";
const writeProto = (obj) => process.stdout.write(PROTO + JSON.stringify(obj) + "\n");
// Keep stdout for the protocol only: everything that logs goes to stderr.
for (const k of ["log", "info", "debug"]) console[k] = (...a) => console.error(...a);

const T0 = performance.now();
const cfg = JSON.parse(process.argv[2] ?? "{}");
const SRC = path.resolve(cfg.src ?? path.join(process.cwd(), "src"));
const MODULE = cfg.module ?? "entry";
const CLASS = cfg.class ?? "Default";
const WHEELS = cfg.wheels ?? [];
const VARS = cfg.vars ?? {};
const QUEUE = "ig-jobs";
const DLQ = "ig-jobs-dlq";
const MAX_RETRIES = cfg.max_retries ?? 5;
const DLQ_MAX_RETRIES = cfg.dlq_max_retries ?? 5;
const MAX_BATCH_SIZE = cfg.max_batch_size ?? 10;
const DLQ_MAX_BATCH_SIZE = cfg.dlq_max_batch_size ?? MAX_BATCH_SIZE;
const RELAXED = { fetch: true, queue: false, scheduled: false, ...(cfg.relaxed ?? {}) };
// Compat flags the SDK reads (values for compatibility_date 2026-04-22).
const COMPAT_FLAGS = { ...DEFAULT_COMPAT_FLAGS, ...(cfg.compat_flags ?? {}) };

// ---------------------------------------------------------------------------------------------
// Per-command log capture
let currentLogs = null;
function logLine(stream, line) {
  if (currentLogs) currentLogs.push(`[${stream}] ${line}`);
  process.stderr.write(`[py ${stream}] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// JSON helpers
const b64 = (buf) => Buffer.from(buf instanceof ArrayBuffer ? new Uint8Array(buf) : buf).toString("base64");
const unb64 = (s) => new Uint8Array(Buffer.from(s ?? "", "base64"));

function jsonSafe(v, depth = 0) {
  if (depth > 50) return "<too deep>";
  if (v === undefined) return null;
  if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "bigint") return { $bigint: v.toString() };
  if (v instanceof Date) return { $date: v.toISOString() };
  if (v instanceof ArrayBuffer) return { $bytes: b64(v) };
  if (ArrayBuffer.isView(v)) return { $bytes: b64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
  if (Array.isArray(v)) return v.map((x) => jsonSafe(x, depth + 1));
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [jsonSafe(k, depth + 1), jsonSafe(x, depth + 1)]) };
  if (v instanceof Set) return { $set: [...v].map((x) => jsonSafe(x, depth + 1)) };
  if (typeof v === "function") return "<function>";
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = jsonSafe(x, depth + 1);
  return out;
}

function fromJsonSafe(v) {
  if (Array.isArray(v)) return v.map(fromJsonSafe);
  if (v && typeof v === "object") {
    if (typeof v.$bytes === "string" && Object.keys(v).length === 1) return unb64(v.$bytes);
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = fromJsonSafe(x);
    return out;
  }
  return v;
}

function errInfo(e) {
  return { error: String(e?.message ?? e), name: e?.name ?? null, type: e?.type ?? null, stack: e?.stack ?? null };
}

// ---------------------------------------------------------------------------------------------
// Miniflare: real local D1 / R2 / Queues. The script is only the queue consumer sink for the
// real queues (messages forwarded there by the producer wrapper below are acked and dropped).
const SINK = `export default {
  async fetch() { return new Response("ig harness sink"); },
  async queue(batch) { batch.ackAll(); },
};`;

const persist = cfg.persist ? path.resolve(cfg.persist) : false;
const mf = new Miniflare({
  modules: true,
  script: SINK,
  compatibilityDate: "2026-04-22",
  cf: false, // never fetch the Request.cf placeholder from the internet
  d1Databases: { DB: "ig" },
  r2Buckets: { ARTIFACTS: "ig-artifacts" },
  images: { binding: "IMAGES" }, // offline: Miniflare transforms with sharp (resize and transcode)
  queueProducers: { JOBS: { queueName: QUEUE }, JOBS_DLQ: { queueName: DLQ } },
  queueConsumers: {
    [QUEUE]: { maxBatchSize: MAX_BATCH_SIZE, maxBatchTimeout: 1, maxRetries: MAX_RETRIES, deadLetterQueue: DLQ },
    [DLQ]: { maxBatchSize: DLQ_MAX_BATCH_SIZE, maxBatchTimeout: 1, maxRetries: DLQ_MAX_RETRIES },
  },
  d1Persist: persist && path.join(persist, "d1"),
  r2Persist: persist && path.join(persist, "r2"),
  log: new Log(LogLevel.WARN),
  handleRuntimeStdio(stdout, stderr) {
    stdout.pipe(process.stderr);
    stderr.pipe(process.stderr);
  },
});

// Miniflare's Node-side binding objects are Proxies whose every property read is a synchronous
// round trip to workerd, and Pyodide probes a dozen properties (then, next, get, has, length,
// Symbol.iterator, ...) on every JS object it wraps. So each Miniflare proxy handed to Python is
// wrapped in a caching Proxy: property reads and `in` checks are memoised (these objects are
// immutable snapshots; only `bodyUsed` is read live), method results that are Miniflare proxies are
// wrapped the same way, and the top-level bindings get a `constructor` whose `name` is the workerd
// class name the SDK's _EnvWrapper looks for (D1Database, R2Bucket, ...).
const LIVE_PROPS = new Set(["bodyUsed"]);
// Properties Pyodide probes that none of the proxied workerd types (D1Database, D1PreparedStatement,
// R2Bucket, R2Object(Body), R2MultipartUpload) have; answered locally instead of by a round trip.
// (`get` is absent too, except on R2Bucket.)
const ABSENT = new Set(["then", "next", "set", "has", "includes", "type",
  Symbol.iterator, Symbol.asyncIterator, Symbol.toStringTag]);
const absent = (className, prop) => ABSENT.has(prop) || (prop === "get" && className !== "R2Bucket");
// CPU spent inside Miniflare's binding proxies (D1, R2, the real queue producer): serialising
// each call to workerd and back costs Node ~10 ms per D1 statement here, where on Cloudflare a
// binding call is I/O, not the Worker's CPU. Counted while at least one call is in flight, so
// overlapping calls count once; reported per command beside its whole CPU (`binding_cpu_us`).
let bindingDepth = 0, bindingSince = null, bindingCpuUs = 0, bindingCalls = 0, d1Statements = 0;
function bindingEnter() {
  bindingCalls++;
  if (bindingDepth++ === 0) bindingSince = process.cpuUsage();
}
function bindingLeave() {
  if (--bindingDepth === 0) {
    const d = process.cpuUsage(bindingSince);
    bindingCpuUs += d.user + d.system;
  }
}
function timedBinding(call) {
  bindingEnter();
  let r;
  try {
    r = call();
  } catch (e) {
    bindingLeave();
    throw e;
  }
  if (r instanceof Promise) return r.finally(bindingLeave);
  bindingLeave();
  return r;
}
function wrapResult(v) {
  return v !== null && typeof v === "object" && isProxy(v) && !ourProxies.has(v) ? cached(v) : v;
}
const ourProxies = new WeakSet();
function cached(target, className = null, overrides = {}) {
  const ctor = className ? { [className]: class {} }[className] : null;
  const memo = new Map();
  const hasMemo = new Map();
  // The Proxy's own target is a local empty object, so that V8's invariant checks and Pyodide's
  // own-keys enumeration (python_from_rpc -> to_py) never reach Miniflare; reads are forwarded to `t`.
  const t = target;
  const p = new Proxy({}, {
    get(_dummy, prop) {
      if (process.env.IGH_TRACE) console.error(`[trace] ${className ?? "?"}.${String(prop)}`);
      if (prop === "constructor" && ctor) return ctor;
      if (Object.hasOwn(overrides, prop)) return overrides[prop];
      if (absent(className, prop)) return undefined;
      if (LIVE_PROPS.has(prop)) return timedBinding(() => Reflect.get(t, prop));
      if (memo.has(prop)) return memo.get(prop);
      let v = timedBinding(() => Reflect.get(t, prop));
      if (typeof v === "function") {
        const f = v;
        const statement = className === "D1Database" && prop === "prepare";
        v = function (...args) {
          if (statement) d1Statements++;
          const r = timedBinding(() => f.apply(t, args));
          return r instanceof Promise ? r.then(wrapResult) : wrapResult(r);
        };
      } else v = wrapResult(v);
      memo.set(prop, v);
      return v;
    },
    has(_dummy, prop) {
      if ((prop === "constructor" && ctor) || Object.hasOwn(overrides, prop)) return true;
      if (absent(className, prop)) return false;
      if (!hasMemo.has(prop)) hasMemo.set(prop, timedBinding(() => Reflect.has(t, prop)));
      return hasMemo.get(prop);
    },
  });
  ourProxies.add(p);
  return p;
}
const named = (className, target, overrides = {}) => cached(target, className, overrides);

// Known-length streams. workerd's R2 put()/uploadPart() accept a ReadableStream only if its length
// is known (request/response bodies with Content-Length, FixedLengthStream). Miniflare's Node proxy
// forwards every stream to workerd without a length, so the wrapper below buffers streams whose
// length would be known in production (outbound fetch responses with Content-Length and no
// Content-Encoding, incoming request bodies) and passes everything else through, where workerd
// raises the production TypeError "Provided readable stream must have a known length".
const knownLength = new WeakMap();
const nodeFetch = globalThis.fetch;
globalThis.fetch = async function fetch(...args) {
  const res = await nodeFetch(...args);
  const len = res.headers.get("content-length");
  const enc = (res.headers.get("content-encoding") ?? "identity").toLowerCase();
  if (res.body && len !== null && /^\d+$/.test(len) && enc === "identity") knownLength.set(res.body, Number(len));
  return res;
};

// workerd globals Node lacks, emulated as workerd defines them. crypto.DigestStream: a WritableStream
// whose `digest` promise gives the ArrayBuffer digest of everything written once it closes.
// FixedLengthStream: an identity TransformStream whose readable has a known length (so R2 takes it)
// and which errors when the bytes written are more or fewer than that.
const DIGESTS = { "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512", MD5: "md5" };
class DigestStream extends WritableStream {
  constructor(algorithm) {
    const name = DIGESTS[String(typeof algorithm === "string" ? algorithm : algorithm?.name).toUpperCase()];
    if (!name) throw new TypeError(`unsupported digest algorithm ${algorithm}`);
    const hash = createHash(name);
    let resolve, reject;
    const digest = new Promise((res, rej) => { resolve = res; reject = rej; });
    digest.catch(() => {});
    super({
      write(chunk) { hash.update(chunk); },
      close() { const d = hash.digest(); resolve(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)); },
      abort(reason) { reject(reason); },
    });
    this.digest = digest;
  }
}
globalThis.crypto.DigestStream = DigestStream;
class FixedLengthStream extends TransformStream {
  constructor(length) {
    const expected = Number(length);
    let seen = 0;
    super({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > expected) controller.error(new TypeError("Attempt to write too many bytes through a FixedLengthStream."));
        else controller.enqueue(chunk);
      },
      flush(controller) {
        if (seen !== expected) controller.error(new TypeError("FixedLengthStream did not see all expected bytes before close()."));
      },
    });
    knownLength.set(this.readable, expected);
  }
}
globalThis.FixedLengthStream = FixedLengthStream;

async function r2Value(value) {
  if (!(value instanceof ReadableStream) || !knownLength.has(value)) return value;
  const expected = knownLength.get(value);
  const buf = new Uint8Array(await new Response(value).arrayBuffer());
  if (buf.byteLength !== expected) throw new RangeError(`stream length ${buf.byteLength} != declared ${expected}`);
  return buf;
}

function wrapUpload(up) {
  return named("R2MultipartUpload", up, {
    uploadPart: (partNumber, value, options) => timedBinding(async () =>
      options === undefined ? up.uploadPart(partNumber, await r2Value(value)) : up.uploadPart(partNumber, await r2Value(value), options)),
  });
}

// How the Worker handed each single put its value: "stream" (a known-length ReadableStream, as a
// fetch body piped through a FixedLengthStream) or "bytes" (a buffer, e.g. bytes from Python).
const r2Puts = [];
function wrapR2(r2) {
  return named("R2Bucket", r2, {
    put: (key, value, options) => {
      r2Puts.push({ key, value: value instanceof ReadableStream ? "stream" : "bytes" });
      return timedBinding(async () =>
        options === undefined ? r2.put(key, await r2Value(value)) : r2.put(key, await r2Value(value), options));
    },
    createMultipartUpload: (...a) => timedBinding(async () => wrapUpload(await r2.createMultipartUpload(...a))),
    resumeMultipartUpload: (...a) => wrapUpload(r2.resumeMultipartUpload(...a)),
  });
}

// ---------------------------------------------------------------------------------------------
// Queues. Capture strategy: the JOBS binding given to Python is a WorkerQueue whose send/sendBatch
// (1) structured-clone and record each message in this process's own queue model, and (2) forward
// the call unchanged to Miniflare's real `ig-jobs` producer, so workerd validates the body, the
// options and the size limits as production would (its errors propagate to Python). Delivery to
// the Worker is driven by the test (`queue` / `drain` commands) from the recorded copy, with
// workerd's consumer semantics; the real queue's own deliveries go to the sink and are dropped.
const queues = { [QUEUE]: [], [DLQ]: [] };
const sentLog = []; // every message the Worker sent, in order, for assertions
const queueConfig = {
  [QUEUE]: { maxRetries: MAX_RETRIES, dlq: DLQ, maxBatchSize: MAX_BATCH_SIZE },
  [DLQ]: { maxRetries: DLQ_MAX_RETRIES, dlq: null, maxBatchSize: DLQ_MAX_BATCH_SIZE },
};

function enqueue(queueName, body, opts = {}, source = "worker") {
  const contentType = opts.contentType ?? "v8";
  let stored;
  if (contentType === "text" && typeof body !== "string") throw new TypeError("contentType text needs a string body");
  stored = structuredClone(body); // throws DataCloneError like workerd's serializer for non-cloneables
  const msg = {
    id: randomUUID().replaceAll("-", ""),
    timestamp: Date.now(),
    body: stored,
    contentType,
    delaySeconds: opts.delaySeconds ?? 0,
    failedAttempts: 0,
  };
  msg.visibleAt = msg.timestamp + msg.delaySeconds * 1000;
  queues[queueName].push(msg);
  sentLog.push({ queue: queueName, id: msg.id, body: jsonSafe(stored), contentType, delaySeconds: msg.delaySeconds, source });
  return msg;
}

function plainOpts(o) {
  if (o === undefined || o === null) return undefined;
  return { ...o };
}

class WorkerQueue {
  #real;
  #queueName;
  constructor(real, queueName) {
    this.#real = real;
    this.#queueName = queueName;
  }
  async send(body, options) {
    const opts = plainOpts(options);
    await timedBinding(() => this.#real.send(body, opts)); // real workerd validation first
    enqueue(this.#queueName, body, opts ?? {});
  }
  async sendBatch(messages, options) {
    const opts = plainOpts(options);
    const list = Array.from(messages, (m) => ({ ...m }));
    await timedBinding(() => this.#real.sendBatch(list, opts));
    for (const m of list) {
      enqueue(this.#queueName, m.body, {
        contentType: m.contentType,
        delaySeconds: m.delaySeconds ?? opts?.delaySeconds ?? 0,
      });
    }
  }
}

// What workerd hands to queue(): a QueueController-like batch of QueueMessage objects.
class QueueMessage {
  #m;
  #state;
  constructor(m, state) {
    this.#m = m;
    this.#state = state;
  }
  get id() { return this.#m.id; }
  get timestamp() { return new Date(this.#m.timestamp); }
  get body() { return this.#m.body; }
  get attempts() { return this.#m.failedAttempts + 1; }
  ack() {
    if (this.#state.explicit.has(this.#m.id)) return; // first call wins
    this.#state.explicit.set(this.#m.id, { outcome: "acked" });
  }
  retry(options) {
    if (this.#state.explicit.has(this.#m.id)) return;
    const delaySeconds = options?.delaySeconds;
    this.#state.explicit.set(this.#m.id, { outcome: "retried", delaySeconds, options: jsonSafe(plainOpts(options)) });
  }
}

class QueueController {
  #queue;
  #messages;
  #state;
  constructor(queueName, msgs, state) {
    this.#queue = queueName;
    this.#state = state;
    this.#messages = msgs.map((m) => new QueueMessage(m, state));
  }
  get queue() { return this.#queue; }
  get messages() { return this.#messages; }
  ackAll() {
    if (!this.#state.all) this.#state.all = { outcome: "acked" };
  }
  retryAll(options) {
    if (!this.#state.all) this.#state.all = { outcome: "retried", delaySeconds: options?.delaySeconds, options: jsonSafe(plainOpts(options)) };
  }
}

class ScheduledController {
  #cron;
  #time;
  constructor(cron, scheduledTime) {
    this.#cron = cron;
    this.#time = scheduledTime;
  }
  get cron() { return this.#cron; }
  get scheduledTime() { return this.#time; }
  noRetry() {}
}

// ctx: waitUntil promises are collected and awaited before a command answers.
class ExecutionContext {
  #pending;
  constructor(pending) {
    this.#pending = pending;
  }
  waitUntil(p) {
    this.#pending.push(toPromise(p));
  }
  passThroughOnException() {}
  get props() { return {}; }
}

let py; // the Pyodide instance
let imagesBinding = null; // Miniflare's Images binding, in env unless a test leaves it out (set_var IMAGES "")

// A fake Media Transformations binding (Miniflare has no offline one: the real binding is remote
// only), in env when a test asks (set_var MEDIA "1"). It keeps the real chain (input, optional
// transform, output, then the result's response/media/contentType promises), reads the whole
// input stream, and answers a still of a video (an ISO BMFF ftyp or a Matroska/WebM header) with a
// real FAKE_FRAME JPEG made by sharp (what Miniflare's Images emulation uses), else throws a
// MediaError. What it was asked is kept for media_calls.
const FAKE_FRAME = { width: 1280, height: 720, colour: { r: 230, g: 40, b: 40 } };
const mediaCalls = [];
function isVideo(bytes) {
  const ftyp = bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === "ftyp";
  const ebml = bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3;
  return ftyp || ebml;
}
const fakeMedia = {
  input(stream) {
    const call = { input_bytes: null, input_head: null, transform: null, output: null };
    mediaCalls.push(call);
    const read = new Response(stream).arrayBuffer().then((buffer) => {
      const bytes = new Uint8Array(buffer);
      call.input_bytes = bytes.length;
      call.input_head = Buffer.from(bytes.subarray(0, 12)).toString("hex");
      return bytes;
    });
    const transformer = {
      transform(options) {
        call.transform = JSON.parse(JSON.stringify(options));
        return transformer;
      },
      output(options) {
        call.output = JSON.parse(JSON.stringify(options));
        const still = read.then(async (bytes) => {
          if (!isVideo(bytes) || options.mode !== "frame") {
            const error = new Error(`MediaError: not a video (${bytes.length} bytes) or not a frame`);
            error.name = "MediaError";
            throw error;
          }
          const { default: sharp } = await import("sharp");
          const { width, height, colour } = FAKE_FRAME;
          return sharp({ create: { width, height, channels: 3, background: colour } }).jpeg().toBuffer();
        });
        return {
          response: async () => new Response(await still, { headers: { "content-type": "image/jpeg" } }),
          media: async () => new Response(await still).body,
          contentType: async () => "image/jpeg",
        };
      },
    };
    return transformer;
  },
};
let currentCtx = null;
let env = null;

// A Python awaitable passed into JS as an argument is a borrowed PyProxy that Pyodide destroys when
// the call returns, so it must be turned into a Promise synchronously (PyProxy.then schedules it).
function toPromise(p) {
  if (py && p instanceof py.ffi.PyProxy) {
    const keep = p.copy();
    return new Promise((resolve, reject) => keep.then(resolve, reject)).finally(() => keep.destroy?.());
  }
  return Promise.resolve(p);
}

// ---------------------------------------------------------------------------------------------
// The runtime-internal modules the SDK imports.
const cloudflareWorkersModule = {
  get env() { return env; },
  waitUntil(p) {
    if (!currentCtx) throw new Error("waitUntil called outside a request");
    currentCtx.waitUntil(p);
  },
};

function* patchEnvHelper(kwds) {
  // Used by workers.patch_env: temporarily overlay names onto cloudflare:workers env.
  const saved = {};
  const keys = Object.keys(kwds ?? {});
  for (const k of keys) {
    saved[k] = Object.getOwnPropertyDescriptor(env, k);
    env[k] = kwds[k];
  }
  try {
    yield;
  } finally {
    for (const k of keys) {
      if (saved[k]) Object.defineProperty(env, k, saved[k]);
      else delete env[k];
    }
  }
}

const HARNESS_PY = String.raw`
import importlib
import inspect
import sys

from pyodide.code import relaxed_call
from workers import python_from_rpc, python_to_rpc

_mod = None


def load(module_name):
    global _mod
    _mod = importlib.import_module(module_name)
    return _mod


def make_instance(class_name, ctx, env):
    cls = getattr(_mod, class_name)
    return cls(ctx, env)


async def call(relaxed, inst, prop, *args):
    # Same shape as workerd's introspection.wrapper_func: every JS argument goes through
    # python_from_rpc, the result through python_to_rpc.
    method = getattr(inst, prop)
    py_args = [python_from_rpc(a) for a in args]
    result = relaxed_call(method, *py_args) if relaxed else method(*py_args)
    if inspect.isawaitable(result):
        result = await result
    return python_to_rpc(result)


async def run(code):
    from pyodide.code import eval_code_async

    ns = {"__name__": "__ig_eval__", "env": _env_wrapper(), "mod": _mod}
    value = await eval_code_async(code, ns)
    return repr(value)


def _env_wrapper():
    from workers import env

    return env
`;

// ---------------------------------------------------------------------------------------------
async function start() {
  const t = {};
  await mf.ready;
  const d1 = await mf.getD1Database("DB");
  const r2 = await mf.getR2Bucket("ARTIFACTS");
  const jobsReal = await mf.getQueueProducer("JOBS");
  imagesBinding = named("ImagesBindingImpl", (await mf.getBindings()).IMAGES);
  t.miniflare = Math.round(performance.now() - T0);

  env = {
    DB: named("D1Database", d1),
    ARTIFACTS: wrapR2(r2),
    JOBS: new WorkerQueue(jobsReal, QUEUE),
    IMAGES: imagesBinding,
    ...VARS,
  };

  const t1 = performance.now();
  // Our ExecutionContext.waitUntil already accepts Python awaitables, so patchWaitUntil stays a no-op.
  const loaded = await loadWorkerPyodide({
    src: SRC,
    wheels: WHEELS,
    compatFlags: COMPAT_FLAGS,
    stdout: (s) => logLine("stdout", s),
    stderr: (s) => logLine("stderr", s),
    cloudflareWorkersModule,
    patchEnvHelper,
  });
  py = loaded.py;
  t.pyodide = Math.round(loaded.timings.load_pyodide);
  t.wheels = Math.round(loaded.timings.wheels);
  const t3 = performance.now();
  py.FS.writeFile("/tmp/_ig_harness.py", HARNESS_PY);
  py.runPython("import sys; sys.path.insert(0, '/tmp')");
  const glue = py.pyimport("_ig_harness");
  glue.load(MODULE);
  t.import_entry = Math.round(performance.now() - t3);
  t.total = Math.round(performance.now() - T0);

  return { d1, r2, jobsReal, glue, timings: t };
}

// ---------------------------------------------------------------------------------------------
// Invoking the Worker
async function invoke(handler, makeArgs) {
  const pending = [];
  const ctx = new ExecutionContext(pending);
  currentCtx = ctx;
  let inst;
  try {
    inst = state.glue.make_instance(CLASS, ctx, env);
    const result = await state.glue.call(RELAXED[handler] ?? false, inst, handler, ...makeArgs(ctx));
    return { result, pending, ctx };
  } finally {
    inst?.destroy?.();
  }
}

async function settleWaitUntil(pending) {
  const out = [];
  // waitUntil may be called from inside other waitUntil promises; drain until stable.
  let i = 0;
  while (i < pending.length) {
    const batch = pending.slice(i);
    i = pending.length;
    const settled = await Promise.allSettled(batch);
    for (const s of settled) out.push(s.status === "fulfilled" ? { ok: true } : { ok: false, ...errInfo(s.reason) });
  }
  return out;
}

// A request body that records what the Worker did with it (`track_body`): "untouched", "partly
// read", "read to end" or "cancelled". It is served in two chunks, and only when read
// (highWaterMark 0), so a Worker that stops after the first chunk is told apart from one that
// never reads. An answer that leaves a body untouched or partly read stalls the next request on a
// keep-alive connection behind `wrangler dev`'s proxy.
function trackedBody(bytes) {
  const chunks = bytes.byteLength > 1 ? [bytes.subarray(0, bytes.byteLength >> 1), bytes.subarray(bytes.byteLength >> 1)] : [bytes];
  const tracked = { fate: "untouched" };
  const stream = new ReadableStream(
    {
      pull(controller) {
        if (chunks.length) {
          tracked.fate = "partly read";
          controller.enqueue(chunks.shift());
        } else {
          tracked.fate = "read to end";
          controller.close();
        }
      },
      cancel() {
        tracked.fate = "cancelled";
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, tracked };
}

async function cmdFetch(req) {
  const method = (req.method ?? "GET").toUpperCase();
  const headers = new Headers(req.headers ?? []);
  const init = { method, headers };
  let bytes, tracked = null;
  if (req.body_b64 != null && method !== "GET" && method !== "HEAD") bytes = unb64(req.body_b64);
  if (bytes !== undefined && req.track_body) {
    ({ stream: init.body, tracked } = trackedBody(bytes));
    init.duplex = "half";
  } else if (bytes !== undefined) init.body = bytes;
  const request = new Request(req.url ?? "http://localhost/", init);
  if (bytes !== undefined && request.body) knownLength.set(request.body, bytes.byteLength);
  let status, respHeaders, body, exception = null, pending = [];
  try {
    const r = await invoke("fetch", (ctx) => [request, env, ctx]);
    pending = r.pending;
    const res = r.result;
    if (!(res instanceof Response)) throw new TypeError(`fetch handler returned ${res?.constructor?.name ?? typeof res}, not a Response`);
    status = res.status;
    respHeaders = [...res.headers];
    body = b64(await res.arrayBuffer());
  } catch (e) {
    // workerd answers an uncaught exception with a 500 and logs it.
    exception = errInfo(e);
    status = 500;
    respHeaders = [["content-type", "text/plain;charset=UTF-8"]];
    body = b64(new TextEncoder().encode("Internal Server Error"));
  } finally {
    currentCtx = null;
  }
  const waitUntil = await settleWaitUntil(pending);
  return { status, headers: respHeaders, body_b64: body, exception, wait_until: waitUntil, body_fate: tracked?.fate ?? null };
}

function takeBatch(queueName, maxBatchSize, respectDelays) {
  const q = queues[queueName];
  const now = Date.now();
  const batch = [];
  for (let i = 0; i < q.length && batch.length < maxBatchSize; ) {
    const m = q[i];
    if (respectDelays && m.visibleAt > now) {
      i++;
      continue;
    }
    batch.push(m);
    q.splice(i, 1);
  }
  return batch;
}

async function deliverBatch(queueName, opts = {}) {
  const maxBatchSize = opts.max_batch_size ?? queueConfig[queueName].maxBatchSize;
  const batch = takeBatch(queueName, maxBatchSize, !!opts.respect_delays);
  if (batch.length === 0) return null;
  const st = { explicit: new Map(), all: null };
  const controller = new QueueController(queueName, batch, st);
  let exception = null, pending = [];
  try {
    const r = await invoke("queue", (ctx) => [controller, env, ctx]);
    pending = r.pending;
  } catch (e) {
    exception = errInfo(e);
  } finally {
    currentCtx = null;
  }
  const waitUntil = await settleWaitUntil(pending);
  const failed = exception !== null || waitUntil.some((w) => !w.ok);
  const { maxRetries, dlq } = queueConfig[queueName];
  const report = [];
  const toDlq = [];
  for (const m of batch) {
    const ex = st.explicit.get(m.id);
    const call = ex?.outcome ?? (st.all ? `${st.all.outcome}_all` : "none");
    let retried, delaySeconds;
    if (ex?.outcome === "acked") retried = false;
    else if (failed) { retried = true; delaySeconds = ex?.delaySeconds ?? st.all?.delaySeconds; }
    else if (ex?.outcome === "retried") { retried = true; delaySeconds = ex.delaySeconds; }
    else if (st.all?.outcome === "retried") { retried = true; delaySeconds = st.all.delaySeconds; }
    else retried = false; // acked explicitly, by ackAll, or implicitly by a successful return
    const entry = {
      id: m.id,
      attempts: m.failedAttempts + 1,
      body: jsonSafe(m.body),
      call, // what the Worker called: acked | retried | acked_all | retried_all | none
      outcome: retried ? "retried" : "acked", // what the queue did with it
      retry_delay_seconds: retried ? (delaySeconds ?? 0) : null,
      fate: null,
    };
    if (retried) {
      m.failedAttempts += 1;
      if (m.failedAttempts < maxRetries + 1) {
        m.delaySeconds = delaySeconds ?? 0;
        // A retry delay counts from now; the message keeps its original send time (timestamp).
        m.visibleAt = Date.now() + m.delaySeconds * 1000;
        queues[queueName].push(m);
        entry.fate = "requeued";
      } else if (dlq) {
        toDlq.push(m);
        entry.fate = `dead_lettered:${dlq}`;
      } else {
        entry.fate = "dropped";
      }
    } else entry.fate = "done";
    report.push(entry);
  }
  for (const m of toDlq) {
    // Moves to the DLQ as a fresh delivery (attempts restart at 1), same id/body/timestamp.
    queues[dlq].push({ ...m, failedAttempts: 0, delaySeconds: 0, visibleAt: Date.now() });
  }
  return {
    queue: queueName,
    messages: report,
    exception,
    wait_until: waitUntil,
    ack_all: st.all?.outcome === "acked",
    retry_all: st.all?.outcome === "retried",
    remaining: { [QUEUE]: queues[QUEUE].length, [DLQ]: queues[DLQ].length },
  };
}

async function cmdQueue(req) {
  const queueName = req.queue ?? QUEUE;
  if (!queues[queueName]) throw new Error(`unknown queue ${queueName}`);
  return await deliverBatch(queueName, req);
}

async function cmdDrain(req) {
  const batches = [];
  const max = req.max_batches ?? 100;
  while (batches.length < max) {
    let b = await deliverBatch(QUEUE, req);
    if (!b) b = await deliverBatch(DLQ, req);
    if (!b) break;
    batches.push(b);
  }
  return { batches, remaining: { [QUEUE]: queues[QUEUE].length, [DLQ]: queues[DLQ].length } };
}

async function cmdScheduled(req) {
  const controller = new ScheduledController(req.cron ?? "* * * * *", req.scheduled_time ?? Date.now());
  let exception = null, pending = [];
  try {
    const r = await invoke("scheduled", (ctx) => [controller, env, ctx]);
    pending = r.pending;
  } catch (e) {
    exception = errInfo(e);
  } finally {
    currentCtx = null;
  }
  return { exception, wait_until: await settleWaitUntil(pending) };
}

// Split a .sql file into statements: handles '...' "..." `...` [...] quoting, -- and /* */
// comments, and BEGIN ... END bodies of CREATE TRIGGER.
function splitSql(sql) {
  const out = [];
  let cur = "", i = 0, depth = 0;
  const n = sql.length;
  const flushWord = () => {};
  while (i < n) {
    const c = sql[i];
    if (c === "-" && sql[i + 1] === "-") { const j = sql.indexOf("\n", i); i = j < 0 ? n : j + 1; cur += "\n"; continue; }
    if (c === "/" && sql[i + 1] === "*") { const j = sql.indexOf("*/", i + 2); i = j < 0 ? n : j + 2; cur += " "; continue; }
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      while (j < n) { if (sql[j] === close) { if (close !== "]" && sql[j + 1] === close) { j += 2; continue; } break; } j++; }
      cur += sql.slice(i, j + 1); i = j + 1; continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i; while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (/^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(cur + word + " ")) {
        if (word === "BEGIN" || word === "CASE") depth++;
        else if (word === "END" && depth > 0) depth--;
      }
      cur += sql.slice(i, j); i = j; continue;
    }
    if (c === ";" && depth === 0) { if (cur.trim()) out.push(cur.trim()); cur = ""; i++; continue; }
    cur += c; i++;
  }
  if (cur.trim()) out.push(cur.trim());
  flushWord();
  return out;
}

async function cmdApplySql(req) {
  const sql = req.sql ?? fs.readFileSync(req.path, "utf8");
  const statements = splitSql(sql);
  if (statements.length === 0) return { statements: 0 };
  const res = await state.d1.batch(statements.map((s) => state.d1.prepare(s)));
  return { statements: statements.length, changes: res.map((r) => r.meta?.changes ?? null) };
}

async function cmdD1(req) {
  const stmt = state.d1.prepare(req.sql).bind(...(req.params ?? []).map(fromJsonSafe));
  const mode = req.mode ?? "all";
  let r;
  if (mode === "all" || mode === "run") r = await stmt[mode]();
  else if (mode === "first") r = await stmt.first(req.column ?? undefined);
  else if (mode === "raw") r = await stmt.raw({ columnNames: !!req.column_names });
  else throw new Error(`unknown d1 mode ${mode}`);
  return jsonSafe(r);
}

function r2Meta(o) {
  if (!o) return null;
  return {
    key: o.key, size: o.size, etag: o.etag, httpEtag: o.httpEtag, version: o.version,
    uploaded: o.uploaded instanceof Date ? o.uploaded.toISOString() : String(o.uploaded),
    httpMetadata: jsonSafe(o.httpMetadata ?? {}), customMetadata: jsonSafe(o.customMetadata ?? {}),
    checksums: jsonSafe(o.checksums?.toJSON ? o.checksums.toJSON() : o.checksums ?? {}),
  };
}

async function cmdR2Get(req) {
  const o = await state.r2.get(req.key);
  if (!o) return null;
  return { ...r2Meta(o), body_b64: b64(await o.arrayBuffer()) };
}

async function cmdR2List(req) {
  const opts = { include: ["httpMetadata", "customMetadata"] };
  for (const k of ["prefix", "limit", "cursor", "delimiter"]) if (req[k] != null) opts[k] = req[k];
  const r = await state.r2.list(opts);
  return { objects: r.objects.map(r2Meta), truncated: r.truncated, cursor: r.cursor ?? null, delimitedPrefixes: r.delimitedPrefixes ?? [] };
}

async function cmdR2Put(req) {
  const opts = {};
  if (req.httpMetadata != null) opts.httpMetadata = req.httpMetadata;
  if (req.customMetadata != null) opts.customMetadata = req.customMetadata;
  const o = await state.r2.put(req.key, unb64(req.body_b64), opts);
  return r2Meta(o);
}

const COMMANDS = {
  ping: async () => ({ pong: true }),
  fetch: cmdFetch,
  queue: cmdQueue,
  drain: cmdDrain,
  scheduled: cmdScheduled,
  d1: cmdD1,
  apply_sql: cmdApplySql,
  r2_get: cmdR2Get,
  r2_list: cmdR2List,
  r2_put: cmdR2Put,
  r2_puts: async () => r2Puts.splice(0),
  // The reference for what storing a download costs with no ig code: fetch, body straight to R2.
  r2_put_url: async (req) => {
    const res = await fetch(req.url);
    if (!res.ok) throw new Error(`GET ${req.url}: HTTP ${res.status}`);
    return r2Meta(await env.ARTIFACTS.put(req.key, res.body));
  },
  r2_delete: async (req) => {
    const keys = req.keys ?? [];
    if (keys.length) await state.r2.delete(keys);
    return { deleted: keys.length };
  },
  queue_send: async (req) => {
    const m = enqueue(req.queue ?? QUEUE, fromJsonSafe(req.body), { contentType: req.content_type, delaySeconds: req.delay_seconds }, "test");
    return { id: m.id };
  },
  queue_pending: async (req) => {
    const names = req.queue ? [req.queue] : Object.keys(queues);
    const out = {};
    for (const q of names) out[q] = queues[q].map((m) => ({ id: m.id, body: jsonSafe(m.body), attempts: m.failedAttempts + 1, delaySeconds: m.delaySeconds, contentType: m.contentType }));
    return out;
  },
  queue_sent: async (req) => {
    const out = sentLog.slice();
    if (req.clear) sentLog.length = 0;
    return out;
  },
  media_calls: async () => mediaCalls.slice(), // what the fake Media binding was asked, in order
  queue_clear: async () => {
    for (const q of Object.keys(queues)) queues[q].length = 0;
    sentLog.length = 0;
    return {};
  },
  set_var: async (req) => {
    // IMAGES is the Images binding, not a var: "" leaves it out (a deployment without [images]), any other value puts it in.
    // MEDIA likewise puts in (or leaves out) the fake Media binding.
    if (req.name === "IMAGES") {
      if (req.value) env.IMAGES = imagesBinding;
      else delete env.IMAGES;
    } else if (req.name === "MEDIA") {
      if (req.value) env.MEDIA = fakeMedia;
      else delete env.MEDIA;
      mediaCalls.length = 0;
    } else env[req.name] = req.value;
    return {};
  },
  eval_python: async (req) => {
    currentCtx = new ExecutionContext([]);
    try {
      return { repr: await state.glue.run(req.code) };
    } finally {
      currentCtx = null;
    }
  },
  js_globals: async (req) => Object.fromEntries((req.names ?? []).map((n) => {
    const parts = n.split(".");
    let v = globalThis;
    for (const p of parts) v = v?.[p];
    return [n, typeof v];
  })),
};

// ---------------------------------------------------------------------------------------------
let state;
try {
  state = await start();
  writeProto({ event: "ready", startup_ms: state.timings, node: process.version, pyodide: py.version, src: SRC });
} catch (e) {
  writeProto({ event: "fatal", ...errInfo(e) });
  await mf.dispose().catch(() => {});
  process.exit(1);
}

let chain = Promise.resolve();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      writeProto({ id: null, ok: false, error: `bad JSON: ${e.message}` });
      return;
    }
    if (req.cmd === "shutdown") {
      writeProto({ id: req.id, ok: true, result: {} });
      await shutdown();
      return;
    }
    const fn = COMMANDS[req.cmd];
    currentLogs = [];
    const t = performance.now();
    const cpu = process.cpuUsage();
    bindingCpuUs = 0;
    bindingCalls = 0;
    d1Statements = 0;
    // The process's CPU (user + system) while the command ran: commands run one at a time, so it is
    // the Worker's Python and JS work for it, plus the Node side of Miniflare's bindings.
    const cpuUs = () => { const d = process.cpuUsage(cpu); return d.user + d.system; };
    try {
      if (!fn) throw new Error(`unknown command ${req.cmd}`);
      const result = await fn(req);
      writeProto({ id: req.id, ok: true, result, logs: currentLogs, ms: Math.round(performance.now() - t), cpu_us: cpuUs(), binding_cpu_us: bindingCpuUs, binding_calls: bindingCalls, d1_statements: d1Statements });
    } catch (e) {
      writeProto({ id: req.id, ok: false, ...errInfo(e), logs: currentLogs, ms: Math.round(performance.now() - t), cpu_us: cpuUs() });
    } finally {
      currentLogs = null;
    }
  });
});
rl.on("close", () => {
  chain = chain.then(shutdown);
});

let shuttingDown = false;
async function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  try {
    await mf.dispose();
  } catch {}
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
