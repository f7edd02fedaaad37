// The Python Workers runtime as ig's tests and benchmarks rebuild it in Node: Pyodide 0.28.2 with
// the vendored workers SDK and pydantic wheels, the two runtime-internal modules the SDK imports,
// and the Worker's source mounted unchanged where workerd puts the bundle (/session/metadata).
// Shared by tests/worker/harness.mjs (which adds Miniflare bindings) and bench/worker_import.mjs.
import path from "node:path";
import { loadPyodide } from "pyodide";

export const DEFAULT_COMPAT_FLAGS = {
  python_workflows_implicit_dependencies: false,
  python_request_headers_preserve_commas: true, // enable date 2026-02-17
};

export async function loadWorkerPyodide({
  src,
  wheels,
  args = [],
  compatFlags = DEFAULT_COMPAT_FLAGS,
  stdout = (s) => process.stderr.write(`[py stdout] ${s}\n`),
  stderr = (s) => process.stderr.write(`[py stderr] ${s}\n`),
  cloudflareWorkersModule = { env: {}, waitUntil() {} },
  patchWaitUntil = () => {},
  patchEnvHelper = function* () { yield; },
}) {
  const timings = {};
  const t0 = performance.now();
  const py = await loadPyodide({ env: { HOME: "/home/pyodide", PYTHONDONTWRITEBYTECODE: "1" }, args });
  py.setStdout({ batched: stdout });
  py.setStderr({ batched: stderr });
  timings.load_pyodide = performance.now() - t0;

  const t1 = performance.now();
  for (const w of wheels) await py.loadPackage(path.resolve(w), { messageCallback: () => {}, errorCallback: (m) => console.error(m) });
  py.registerJsModule("_cloudflare_compat_flags", compatFlags);
  py.registerJsModule("_pyodide_entrypoint_helper", {
    cloudflareWorkersModule,
    cloudflareSocketsModule: {},
    doAnImport: (name) => (name === "cloudflare:workers" ? Promise.resolve(cloudflareWorkersModule) : import(name)),
    patchWaitUntil,
    patch_env_helper: patchEnvHelper,
  });
  timings.wheels = performance.now() - t1;

  const t2 = performance.now();
  py.FS.mkdirTree("/session/metadata");
  py.FS.mount(py.FS.filesystems.NODEFS, { root: src }, "/session/metadata");
  py.runPython(`
import sys, os
sys.dont_write_bytecode = True
sys.path.insert(0, "/session/metadata")
os.chdir("/session/metadata")
`);
  timings.mount = performance.now() - t2;
  return { py, timings };
}
