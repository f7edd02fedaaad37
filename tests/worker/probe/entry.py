"""Throwaway probe Worker: exercises the FFI operations the real Cloudflare adapter will need.

Every experiment records what it observed (types, values, or the exception) instead of failing,
and the fetch routes return those observations as JSON, so tests/worker/test_probe_harness.py
can assert on them and a human can read them.

Routes: GET /d1, POST /echo, GET /r2, GET /r2/serve?key=, GET /fetch-stream?url=,
POST /r2/from-fetch?url=&key=, GET /send, GET /globals, GET /facts (queue/scheduled observations),
GET /wait-until, GET /env, GET /boom.
"""

import hashlib
import json
import traceback
from urllib.parse import parse_qs, urlparse

import js
from pyodide.ffi import JsProxy, create_proxy, to_js
from workers import Response, WorkerEntrypoint, fetch

FACTS: list[dict] = []  # observations from queue()/scheduled(), read back through GET /facts


def tname(v):
    t = type(v)
    name = f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__
    if isinstance(v, JsProxy):
        try:
            name += f"<{v.constructor.name}>"
        except Exception:
            pass
    return name


def describe(v, depth=0):
    """JSON-safe description of a value crossing the FFI."""
    if depth > 4:
        return {"type": tname(v)}
    if v is None or isinstance(v, (bool, int, float, str)):
        return {"type": tname(v), "value": v}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"type": tname(v), "len": len(v)}
    if isinstance(v, dict):
        return {"type": tname(v), "items": {str(k): describe(x, depth + 1) for k, x in v.items()}}
    if isinstance(v, (list, tuple)):
        return {"type": tname(v), "items": [describe(x, depth + 1) for x in v[:5]], "len": len(v)}
    return {"type": tname(v), "repr": repr(v)[:200]}


async def attempt(facts, name, coro_fn):
    try:
        facts[name] = await coro_fn()
    except BaseException as e:  # noqa: BLE001 - the probe records everything
        facts[name] = {"error": f"{type(e).__name__}: {e}"[:600], "tb": traceback.format_exc()[-1500:]}


def js_bytes(data: bytes):
    return to_js(data)  # -> JS Uint8Array (a copy)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = url.path
        if route == "/d1":
            return Response.json(await self.probe_d1())
        if route == "/echo":
            return Response.json(await self.probe_echo(request))
        if route == "/r2":
            return Response.json(await self.probe_r2())
        if route == "/r2/serve":
            obj = await self.env.ARTIFACTS.get(q["key"])
            if obj is None:
                return Response("missing", status=404)
            headers = {
                "content-type": obj.httpMetadata.get("contentType") or "application/octet-stream",
                "x-size": str(obj.size),
                "etag": obj.httpEtag,
            }
            return Response(obj.body, headers=headers)
        if route == "/fetch-stream":
            return Response.json(await self.probe_fetch_stream(q["url"]))
        if route == "/r2/from-fetch":
            return Response.json(await self.probe_r2_from_fetch(q["url"], q["key"]))
        if route == "/r2/from-request":
            o = await self.env.ARTIFACTS.put(q["key"], request.body, customMetadata={"via": "request.body"})
            return Response.json({"size": o.size, "body_type": tname(request.body)})
        if route == "/send":
            return Response.json(await self.probe_send())
        if route == "/globals":
            return Response.json(self.probe_globals())
        if route == "/facts":
            return Response.json(FACTS)
        if route == "/wait-until":

            async def later():
                await self.env.DB.prepare("CREATE TABLE IF NOT EXISTS wu (note TEXT)").run()
                await self.env.DB.prepare("INSERT INTO wu VALUES (?)").bind("from waitUntil").run()

            self.ctx.waitUntil(later())
            return Response("scheduled")
        if route == "/env":
            return Response.json(
                {
                    "self.env": tname(self.env),
                    "DB": tname(self.env.DB),
                    "ARTIFACTS": tname(self.env.ARTIFACTS),
                    "JOBS": tname(self.env.JOBS),
                    "PROBE_VAR": describe(getattr(self.env, "PROBE_VAR", None)),
                    "request_type": tname(request),
                }
            )
        if route == "/boom":
            raise RuntimeError("probe boom")
        return Response("not found", status=404)

    # ------------------------------------------------------------------ D1
    async def probe_d1(self):
        db = self.env.DB
        f = {}

        async def setup():
            r = await db.prepare(
                "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, n INTEGER, r REAL, s TEXT, b BLOB, z TEXT)"
            ).run()
            return describe(r)

        await attempt(f, "create_table_run", setup)

        async def insert():
            r = await db.prepare("INSERT INTO t (n, r, s, z) VALUES (?, ?, ?, ?)").bind(42, 1.5, "héllo", None).run()
            return {
                "result": describe(r),
                "changes": r["meta"]["changes"],
                "last_row_id": r.meta.last_row_id,
                "success": r.success,
            }

        await attempt(f, "insert_bind_int_float_str_none", insert)

        async def insert_bool_bigint():
            r = await db.prepare("INSERT INTO t (n, s) VALUES (?, ?)").bind(True, str(2**60)).run()
            return r.meta.changes

        await attempt(f, "insert_bool", insert_bool_bigint)

        async def insert_bytes():
            r = await db.prepare("INSERT INTO t (s, b) VALUES (?, ?)").bind("blob", b"\x00\x01\xff").run()
            back = await db.prepare("SELECT b FROM t WHERE s = 'blob'").first()
            return {"changes": r.meta.changes, "read_back": describe(back)}

        await attempt(f, "bind_bytes", insert_bytes)

        async def all_():
            r = await db.prepare("SELECT id, n, r, s, z FROM t ORDER BY id").all()
            return {
                "result": describe(r),
                "rows_type": tname(r["results"]),
                "row0": describe(r["results"][0]),
                "row0_attr_s": r.results[0].s,
            }

        await attempt(f, "all", all_)

        async def first():
            row = await db.prepare("SELECT n, s, z FROM t WHERE n = ?").bind(42).first()
            col = await db.prepare("SELECT s FROM t WHERE n = ?").bind(42).first("s")
            none = await db.prepare("SELECT * FROM t WHERE n = ?").bind(-1).first()
            return {"row": describe(row), "col": describe(col), "no_row": describe(none)}

        await attempt(f, "first", first)

        async def raw():
            r = await db.prepare("SELECT n, s FROM t ORDER BY id LIMIT 2").raw()
            rc = await db.prepare("SELECT n, s FROM t ORDER BY id LIMIT 1").raw(columnNames=True)
            return {"raw": describe(r), "raw_column_names": describe(rc)}

        await attempt(f, "raw", raw)

        async def batch():
            res = await db.batch(
                [
                    db.prepare("INSERT INTO t (n, s) VALUES (?, ?)").bind(1, "a"),
                    db.prepare("INSERT INTO t (n, s) VALUES (?, ?)").bind(2, "b"),
                    db.prepare("UPDATE t SET s = 'c' WHERE n IN (1, 2)"),
                    db.prepare("SELECT count(*) AS c FROM t"),
                ]
            )
            return {
                "type": tname(res),
                "len": len(res),
                "changes": [x["meta"]["changes"] for x in res],
                "select_results": describe(res[3]["results"]),
            }

        await attempt(f, "batch", batch)

        async def batch_atomic():
            try:
                await db.batch(
                    [
                        db.prepare("INSERT INTO t (n, s) VALUES (?, ?)").bind(100, "atomic"),
                        db.prepare("INSERT INTO nope VALUES (1)"),
                    ]
                )
                raised = None
            except Exception as e:
                raised = f"{tname(e)}: {e}"[:300]
            c = await db.prepare("SELECT count(*) AS c FROM t WHERE n = 100").first("c")
            return {"raised": raised, "rows_after_rollback": c}

        await attempt(f, "batch_atomic", batch_atomic)

        async def conflict():
            await db.prepare("CREATE TABLE IF NOT EXISTS u (k TEXT PRIMARY KEY, v INTEGER)").run()
            a = await db.prepare("INSERT INTO u VALUES ('k', 1) ON CONFLICT(k) DO NOTHING").run()
            b = await db.prepare("INSERT INTO u VALUES ('k', 2) ON CONFLICT(k) DO NOTHING").run()
            ret = await db.prepare("UPDATE u SET v = v + 1 WHERE k = 'k' RETURNING v").first()
            try:
                await db.prepare("INSERT INTO u VALUES ('k', 3)").run()
                dup = None
            except Exception as e:
                dup = f"{tname(e)}: {e}"[:300]
            return {
                "first_changes": a.meta.changes,
                "second_changes": b.meta.changes,
                "returning": describe(ret),
                "unique_violation": dup,
            }

        await attempt(f, "upsert_returning_unique", conflict)

        async def syntax():
            try:
                await db.prepare("SELEC nonsense").all()
            except Exception as e:
                return f"{tname(e)}: {e}"[:300]
            return "no error"

        await attempt(f, "syntax_error", syntax)

        async def exec_():
            r = await db.exec("CREATE TABLE IF NOT EXISTS e1 (a); INSERT INTO e1 VALUES (1);")
            return describe(r)

        await attempt(f, "exec", exec_)
        return f

    # ------------------------------------------------------------------ request
    async def probe_echo(self, request):
        f = {"request_type": tname(request), "method": request.method, "url": request.url}
        f["headers_type"] = tname(request.headers)
        f["x_probe"] = request.headers.get("x-probe")
        f["x_multi"] = request.headers.get("x-multi")
        f["content_type"] = request.headers.get("content-type")
        body = await request.bytes()
        f["body_type"] = tname(body)
        f["body_len"] = len(body)
        f["body_sha256"] = hashlib.sha256(body).hexdigest()
        return f

    # ------------------------------------------------------------------ R2
    async def probe_r2(self):
        b = self.env.ARTIFACTS
        f = {}

        async def put_py_bytes():
            o = await b.put(
                "probe/py-bytes",
                b"hello bytes",
                httpMetadata={"contentType": "text/plain"},
                customMetadata={"task": "t1", "n": "1"},
            )
            return {
                "returned": describe(o),
                "key": o.key,
                "size": o.size,
                "etag": o.etag,
                "httpMetadata": describe(o.httpMetadata),
                "customMetadata": describe(o.customMetadata),
            }

        await attempt(f, "put_python_bytes", put_py_bytes)

        async def put_js_u8():
            o = await b.put("probe/js-u8", js_bytes(b"\x89PNG\r\n"), {"httpMetadata": {"contentType": "image/png"}})
            return {"size": o.size}

        await attempt(f, "put_js_uint8array_positional_options", put_js_u8)

        async def put_str():
            o = await b.put("probe/str", "plain string")
            return {"size": o.size}

        await attempt(f, "put_str", put_str)

        async def put_stream_unknown_len():
            data = b"x" * 1000
            stream = js.ReadableStream.new(
                to_js(
                    {"start": create_proxy(lambda c: (c.enqueue(to_js(data)), c.close()))},
                    dict_converter=js.Object.fromEntries,
                )
            )
            o = await b.put("probe/stream-unknown", stream)
            return {"size": o.size}

        await attempt(f, "put_js_readablestream_unknown_length", put_stream_unknown_len)

        async def put_blob_stream():
            blob = js.Blob.new([js_bytes(b"y" * 2048)])
            o = await b.put("probe/blob-stream", blob.stream())
            return {"size": o.size, "note": "Blob.stream() has no length marker"}

        await attempt(f, "put_blob_stream", put_blob_stream)

        async def put_blob():
            blob = js.Blob.new([js_bytes(b"z" * 10)])
            o = await b.put("probe/blob", blob)
            return {"size": o.size}

        await attempt(f, "put_js_blob", put_blob)

        async def get_variants():
            out = {}
            o = await b.get("probe/py-bytes")
            out["type"] = tname(o)
            out["size"] = o.size
            out["httpMetadata"] = describe(o.httpMetadata)
            out["customMetadata"] = describe(o.customMetadata)
            out["uploaded"] = describe(o.uploaded)
            ab = await o.arrayBuffer()  # do not touch o.body before this (see report)
            out["arrayBuffer"] = {"type": tname(ab), "bytes": bytes(ab).decode()}
            o = await b.get("probe/py-bytes")
            out["text"] = await o.text()
            o = await b.get("probe/py-bytes")
            try:
                by = await o.bytes()
                out["bytes"] = {"type": tname(by), "value": bytes(by).decode()}
            except Exception as e:
                out["bytes"] = f"{type(e).__name__}: {e}"[:200]
            o = await b.get("probe/py-bytes")
            out["body_type"] = tname(o.body)
            reader = o.body.getReader()
            chunks = []
            while True:
                r = await reader.read()
                if r.done:
                    break
                chunks.append(len(r.value.to_bytes()))
            out["stream_chunks"] = chunks
            rng = await b.get("probe/py-bytes", range={"offset": 6, "length": 5})
            out["range_text"] = await rng.text()
            out["missing"] = describe(await b.get("probe/nope"))
            head = await b.head("probe/py-bytes")
            out["head"] = {"type": tname(head), "size": head.size, "uploaded": describe(head.uploaded)}
            o = await b.get("probe/py-bytes")
            try:
                hd = js.Headers.new()
                o.writeHttpMetadata(hd)
                out["writeHttpMetadata"] = [list(x) for x in hd.entries()]
            except Exception as e:
                out["writeHttpMetadata"] = f"{type(e).__name__}: {e}"[:200]
            return out

        await attempt(f, "get", get_variants)

        async def list_():
            page = await b.list(prefix="probe/", limit=2, include=["httpMetadata", "customMetadata"])
            return {
                "type": tname(page),
                "truncated": page.truncated,
                "cursor_type": tname(page.get("cursor")),
                "objects": [
                    {
                        "key": o.key,
                        "type": tname(o),
                        "size": o.size,
                        "customMetadata_type": tname(o.customMetadata),
                        "customMetadata": o.customMetadata.to_py()
                        if hasattr(o.customMetadata, "to_py")
                        else o.customMetadata,
                    }
                    for o in page.objects
                ],
            }

        await attempt(f, "list", list_)

        async def list_none_cursor():
            page = await b.list(prefix="probe/", cursor=None)
            return {"objects": len(page.objects)}

        await attempt(f, "list_cursor_None", list_none_cursor)

        async def put_none_metadata():
            o = await b.put("probe/none-meta", b"x", customMetadata=None)
            return {"size": o.size}

        await attempt(f, "put_customMetadata_None", put_none_metadata)

        async def multipart():
            part_size = 5 * 1024 * 1024
            up = await b.createMultipartUpload(
                "probe/multi", httpMetadata={"contentType": "application/x-test"}, customMetadata={"m": "1"}
            )
            info = {"upload_type": tname(up), "uploadId_type": tname(up.uploadId), "key": up.key}
            p1 = await up.uploadPart(1, b"a" * part_size)
            p2 = await up.uploadPart(2, js_bytes(b"b" * 1000))
            info["part_type"] = tname(p1)
            info["part"] = describe(p1)
            resumed = b.resumeMultipartUpload("probe/multi", up.uploadId)
            info["resumed_type"] = tname(resumed)
            obj = await resumed.complete([p1, p2])
            info["completed_size"] = obj.size
            info["completed_etag"] = obj.etag
            got = await b.head("probe/multi")
            info["head_httpMetadata"] = describe(got.httpMetadata)
            return info

        await attempt(f, "multipart", multipart)

        async def delete():
            await b.put("probe/del", b"x")
            r = await b.delete("probe/del")
            gone = await b.head("probe/del")
            return {"delete_returned": describe(r), "after": describe(gone)}

        await attempt(f, "delete", delete)

        async def conditional():
            o = await b.put("probe/cond", b"v1")
            again = await b.put("probe/cond", b"v2", onlyIf={"etagDoesNotMatch": o.etag})
            return {"precondition_failed_put_returns": describe(again)}

        await attempt(f, "put_onlyIf", conditional)
        return f

    # ------------------------------------------------------------------ outbound fetch
    async def probe_fetch_stream(self, url):
        f = {}

        async def via_workers_fetch():
            resp = await fetch(url)
            out = {
                "type": tname(resp),
                "status": resp.status,
                "ok": resp.ok,
                "content_length": resp.headers.get("content-length"),
                "body_type": tname(resp.body),
            }
            reader = resp.body.getReader()
            chunks = []
            h = hashlib.sha256()
            while True:
                r = await reader.read()
                if r.done:
                    break
                chunk = r.value.to_bytes()
                h.update(chunk)
                chunks.append(len(chunk))
            out["chunks"] = len(chunks)
            out["total"] = sum(chunks)
            out["max_chunk"] = max(chunks) if chunks else 0
            out["sha256"] = h.hexdigest()
            return out

        await attempt(f, "workers_fetch_reader", via_workers_fetch)

        async def via_js_fetch():
            resp = await js.fetch(url)
            out = {"type": tname(resp), "status": resp.status}
            reader = resp.body.getReader()
            total = 0
            n = 0
            while True:
                r = await reader.read()
                if r.done:
                    break
                total += r.value.length
                n += 1
            out["chunks"] = n
            out["total"] = total
            return out

        await attempt(f, "js_fetch_reader", via_js_fetch)

        async def buffered():
            resp = await fetch(url)
            data = await resp.bytes()
            return {"type": tname(data), "len": len(data)}

        await attempt(f, "workers_fetch_bytes", buffered)

        async def post_json():
            resp = await fetch(
                url, method="POST", headers={"content-type": "application/json"}, body=json.dumps({"a": 1})
            )
            return {"status": resp.status, "json": await resp.json()}

        await attempt(f, "workers_fetch_post", post_json)
        return f

    async def probe_r2_from_fetch(self, url, key):
        f = {}

        async def stream_put():
            resp = await fetch(url)
            o = await self.env.ARTIFACTS.put(
                key, resp.body, httpMetadata={"contentType": resp.headers.get("content-type")}
            )
            return {"size": o.size, "content_length": resp.headers.get("content-length")}

        await attempt(f, "put_fetch_body", stream_put)
        return f

    # ------------------------------------------------------------------ queue send
    async def probe_send(self):
        f = {}

        async def send_dict():
            r = await self.env.JOBS.send(
                {"kind": "probe", "n": 1, "none": None, "nested": {"l": [1, "x"]}}, delaySeconds=3
            )
            return describe(r)

        await attempt(f, "send_dict_delay_kw", send_dict)

        async def send_options_dict():
            await self.env.JOBS.send({"kind": "probe", "n": 2}, {"delaySeconds": 0, "contentType": "json"})
            return "ok"

        await attempt(f, "send_options_positional", send_options_dict)

        async def send_batch():
            await self.env.JOBS.sendBatch(
                [{"body": {"kind": "probe", "n": 3}}, {"body": {"kind": "probe", "n": 4}, "delaySeconds": 1}]
            )
            return "ok"

        await attempt(f, "sendBatch", send_batch)

        async def send_text():
            await self.env.JOBS.send("just text", contentType="text")
            return "ok"

        await attempt(f, "send_text", send_text)
        return f

    # ------------------------------------------------------------------ globals
    def probe_globals(self):
        def has(path):
            obj = js
            try:
                for p in path.split("."):
                    obj = getattr(obj, p)
                return True
            except AttributeError:
                return False

        return {
            name: has(name)
            for name in [
                "FixedLengthStream",
                "crypto.DigestStream",
                "IdentityTransformStream",
                "TransformStream",
                "ReadableStream",
                "Response",
                "Request",
                "Headers",
                "fetch",
                "crypto.subtle",
                "crypto.randomUUID",
                "CompressionStream",
                "HTMLRewriter",
                "caches",
                "scheduler",
            ]
        }

    # ------------------------------------------------------------------ queue / scheduled
    async def queue(self, batch, env=None, ctx=None):
        fact = {
            "handler": "queue",
            "batch_type": tname(batch),
            "queue": batch.queue,
            "env_arg_type": tname(env),
            "ctx_arg_type": tname(ctx),
            "messages_type": tname(batch.messages),
            "messages": [],
        }
        raise_after = False
        for m in batch.messages:
            body = m.body
            entry = {
                "id_type": tname(m.id),
                "body": describe(body),
                "attempts": describe(m.attempts),
                "timestamp": describe(m.timestamp),
                "msg_type": tname(m),
            }
            action = body.get("action", "none") if isinstance(body, dict) else "none"
            entry["action"] = action
            try:
                if action == "ack":
                    m.ack()
                elif action == "retry":
                    m.retry()
                elif action == "retry_delay":
                    m.retry(delaySeconds=7)
                elif action == "retry_delay_dict":
                    m.retry({"delaySeconds": 9})
                elif action == "raise":
                    raise_after = True
                elif action == "ack_all":
                    batch.ackAll()
                elif action == "retry_all":
                    batch.retryAll(delaySeconds=11)
            except Exception as e:
                entry["error"] = f"{type(e).__name__}: {e}"
            fact["messages"].append(entry)
        FACTS.append(fact)
        if raise_after:
            raise RuntimeError("probe queue handler failure")

    async def scheduled(self, controller, env=None, ctx=None):
        fact = {
            "handler": "scheduled",
            "controller_type": tname(controller),
            "cron": describe(controller.cron),
            "scheduledTime": describe(controller.scheduledTime),
            "env_arg_type": tname(env),
            "ctx_arg_type": tname(ctx),
        }
        await self.env.DB.prepare("CREATE TABLE IF NOT EXISTS sweeps (cron TEXT, at REAL)").run()
        await (
            self.env.DB.prepare("INSERT INTO sweeps VALUES (?, ?)")
            .bind(controller.cron, controller.scheduledTime)
            .run()
        )
        FACTS.append(fact)
