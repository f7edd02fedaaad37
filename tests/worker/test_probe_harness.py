"""End-to-end check of the Pyodide + Miniflare harness with the throwaway probe Worker.

Each test pins down one FFI fact the Cloudflare adapter relies on (see tests/worker/probe/entry.py).
Replace with real adapter tests once src/entry.py exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fixtures.servers import serve_in_background

from .worker_harness import WorkerHarness

PROBE = Path(__file__).parent / "probe"
REPO = Path(__file__).resolve().parents[2]

CHUNK = 64 * 1024
N_CHUNKS = 16
PAYLOAD = bytes((i * 7 + 3) % 251 for i in range(CHUNK)) * N_CHUNKS


class _Loopback(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i in range(N_CHUNKS):
                part = PAYLOAD[i * CHUNK : (i + 1) * CHUNK]
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/sized"):
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        data = self.rfile.read(n)
        body = json.dumps({"got": json.loads(data), "ct": self.headers.get("content-type")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def loopback():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Loopback)
    serve_in_background(server)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def probe(worker_runtime):
    h = WorkerHarness(PROBE, paths=worker_runtime, vars={"PROBE_VAR": "probe-value"})
    h.start()
    yield h
    h.close()


def get_json(h: WorkerHarness, path: str):
    r = h.fetch("GET", "http://probe.test" + path)
    assert r.status == 200, (r.status, r.exception, r.text)
    return r.json()


def no_errors(facts: dict, allowed: tuple[str, ...] = ()) -> None:
    bad = {k: v for k, v in facts.items() if isinstance(v, dict) and "error" in v and k not in allowed}
    assert not bad, json.dumps(bad, indent=1)


def test_startup_and_env(probe):
    assert probe.ready["pyodide"] == "0.28.2"
    assert probe.ready["startup_ms"]["total"] < 60_000
    env = get_json(probe, "/env")
    assert env["self.env"] == "workers.rpc._EnvWrapper"
    assert env["DB"] == env["ARTIFACTS"] == env["JOBS"] == "workers.rpc._BindingWrapper"
    assert env["PROBE_VAR"] == {"type": "str", "value": "probe-value"}
    assert env["request_type"] == "workers.request.Request"
    # Python's own version inside the Worker
    assert probe.eval_python("import sys; sys.version_info[:3]") == "(3, 13, 2)"
    assert (
        probe.eval_python("import pydantic, pydantic_core; (pydantic.VERSION, pydantic_core.__version__)")
        == "('2.10.6', '2.27.2')"
    )


def test_d1(probe):
    f = get_json(probe, "/d1")
    no_errors(f)
    ins = f["insert_bind_int_float_str_none"]
    assert ins["changes"] == 1 and ins["last_row_id"] == 1 and ins["success"] is True
    rows = f["all"]["result"]["items"]["results"]["items"]
    assert f["all"]["rows_type"] == "list"
    assert rows[0]["type"] == "workers.rpc.JsDict"
    assert rows[0]["items"]["z"] == {"type": "NoneType", "value": None}  # None bound -> SQL NULL -> None
    assert rows[0]["items"]["r"] == {"type": "float", "value": 1.5}
    assert f["all"]["row0_attr_s"] == "héllo"
    assert f["first"]["no_row"] == {"type": "NoneType", "value": None}
    assert f["first"]["col"] == {"type": "str", "value": "héllo"}
    assert f["batch"]["changes"] == [1, 1, 3, 0]
    assert f["batch_atomic"]["rows_after_rollback"] == 0
    assert "no such table" in f["batch_atomic"]["raised"]
    assert f["upsert_returning_unique"]["second_changes"] == 0
    assert "UNIQUE constraint failed" in f["upsert_returning_unique"]["unique_violation"]
    assert "syntax error" in f["syntax_error"]
    # and the same database is visible from Node
    assert probe.d1("SELECT count(*) AS c FROM t WHERE n = ?", 42, mode="first", column="c") == 1
    assert probe.d1("SELECT s FROM t WHERE n = 42", mode="first") == {"s": "héllo"}


def test_request_bytes_and_headers(probe):
    body = os.urandom(200_000)
    r = probe.fetch(
        "POST",
        "http://probe.test/echo?x=1",
        body=body,
        headers=[("x-probe", "p1"), ("x-multi", "a, b"), ("content-type", "application/x-bin")],
    )
    assert r.status == 200, r.exception
    f = r.json()
    assert f["request_type"] == "workers.request.Request"
    assert f["body_type"] == "bytes"
    assert f["body_len"] == len(body)
    assert f["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert f["x_probe"] == "p1" and f["x_multi"] == "a, b"
    assert f["url"] == "http://probe.test/echo?x=1"


def test_r2(probe):
    f = get_json(probe, "/r2")
    no_errors(
        f,
        allowed=(
            "put_js_readablestream_unknown_length",
            "put_blob_stream",
            "list_cursor_None",
            "put_customMetadata_None",
        ),
    )
    assert "must have a known length" in f["put_js_readablestream_unknown_length"]["error"]
    assert "must have a known length" in f["put_blob_stream"]["error"]
    # Python None in an options field becomes JS null, which workerd's type checks reject: omit the key.
    assert "'cursor' field on 'ListOptions'" in f["list_cursor_None"]["error"]
    assert "'customMetadata' field on 'PutOptions'" in f["put_customMetadata_None"]["error"]
    assert f["put_python_bytes"]["size"] == 11
    assert f["put_python_bytes"]["customMetadata"]["items"]["task"]["value"] == "t1"
    g = f["get"]
    assert g["arrayBuffer"] == {"type": "memoryview", "bytes": "hello bytes"}
    assert g["text"] == "hello bytes"
    assert g["range_text"] == "bytes"
    assert g["missing"]["type"] == "NoneType"
    assert g["uploaded"]["type"] == "datetime.datetime"
    assert f["multipart"]["completed_size"] == 5 * 1024 * 1024 + 1000
    assert f["put_onlyIf"]["precondition_failed_put_returns"]["type"] == "NoneType"
    # Node-side reads of what Python wrote
    obj = probe.r2_get("probe/py-bytes")
    assert obj["body"] == b"hello bytes"
    assert obj["httpMetadata"] == {"contentType": "text/plain"}
    assert obj["customMetadata"] == {"task": "t1", "n": "1"}
    listed = probe.r2_list(prefix="probe/")
    assert "probe/multi" in [o["key"] for o in listed["objects"]]
    assert probe.r2_get("probe/none") is None


def test_r2_body_streamed_as_response(probe):
    data = os.urandom(3 * 1024 * 1024)
    probe.r2_put("probe/serve.bin", data, http_metadata={"contentType": "image/webp"})
    r = probe.fetch("GET", "http://probe.test/r2/serve?key=probe/serve.bin")
    assert r.status == 200, r.exception
    assert r.body == data
    assert r.header("content-type") == "image/webp"
    assert r.header("x-size") == str(len(data))


def test_outbound_fetch_streams_chunks(probe, loopback):
    f = get_json(probe, f"/fetch-stream?url={loopback}/chunked")
    no_errors(f)
    w = f["workers_fetch_reader"]
    assert w["status"] == 200 and w["total"] == len(PAYLOAD)
    assert w["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    assert w["chunks"] > 1 and w["max_chunk"] < len(PAYLOAD)  # really read piecewise
    assert f["js_fetch_reader"]["total"] == len(PAYLOAD)
    assert f["workers_fetch_bytes"] == {"type": "bytes", "len": len(PAYLOAD)}
    assert f["workers_fetch_post"] == {"status": 200, "json": {"got": {"a": 1}, "ct": "application/json"}}


def test_r2_put_of_fetch_body_needs_known_length(probe, loopback):
    ok = get_json(probe, f"/r2/from-fetch?url={loopback}/sized&key=probe/from-sized")
    assert ok["put_fetch_body"]["size"] == len(PAYLOAD), ok
    assert probe.r2_get("probe/from-sized")["body"] == PAYLOAD
    chunked = get_json(probe, f"/r2/from-fetch?url={loopback}/chunked&key=probe/from-chunked")
    assert "must have a known length" in chunked["put_fetch_body"]["error"]


def test_r2_put_of_request_body_stream(probe):
    data = os.urandom(300_000)
    r = probe.fetch("POST", "http://probe.test/r2/from-request?key=probe/upload", body=data)
    assert r.status == 200, r.exception
    assert r.json() == {"size": len(data), "body_type": "pyodide.ffi.JsProxy<ReadableStream>"}
    assert probe.r2_get("probe/upload")["body"] == data


def test_queue_send_and_delivery(probe):
    probe.queue_clear()
    f = get_json(probe, "/send")
    no_errors(f)
    sent = probe.queue_sent()
    assert [m["body"] for m in sent][:2] == [
        {"kind": "probe", "n": 1, "none": None, "nested": {"l": [1, "x"]}},
        {"kind": "probe", "n": 2},
    ]
    assert sent[0]["delaySeconds"] == 3 and sent[0]["contentType"] == "v8"
    assert sent[1]["contentType"] == "json"
    assert sent[3]["delaySeconds"] == 1
    assert sent[4] == {**sent[4], "body": "just text", "contentType": "text"}

    n_facts = len(get_json(probe, "/facts"))
    batch = probe.queue()
    assert batch["queue"] == "ig-jobs" and len(batch["messages"]) == 5
    assert all(m["outcome"] == "acked" and m["call"] == "none" and m["fate"] == "done" for m in batch["messages"])
    fact = get_json(probe, "/facts")[n_facts]
    assert fact["queue"] == "ig-jobs"
    assert fact["batch_type"] == "workers.rpc._BindingWrapper"
    assert fact["messages_type"] == "list"
    m0 = fact["messages"][0]
    assert m0["msg_type"] == "workers.rpc._BindingWrapper"
    assert m0["body"]["type"] == "workers.rpc.JsDict"
    assert m0["body"]["items"]["none"] == {"type": "NoneType", "value": None}
    assert m0["attempts"] == {"type": "int", "value": 1}
    assert m0["timestamp"]["type"] == "datetime.datetime"
    assert fact["messages"][4]["body"] == {"type": "str", "value": "just text"}
    assert probe.queue() is None


def test_queue_ack_retry_exception_semantics(probe):
    probe.queue_clear()
    for action in ["ack", "retry", "retry_delay", "retry_delay_dict", "none"]:
        probe.queue_send({"action": action})
    b = probe.queue()
    by = {m["body"]["action"]: m for m in b["messages"]}
    assert by["ack"]["outcome"] == "acked" and by["ack"]["call"] == "acked"
    assert by["retry"]["outcome"] == "retried" and by["retry"]["retry_delay_seconds"] == 0
    assert by["retry_delay"]["retry_delay_seconds"] == 7
    assert by["retry_delay_dict"]["retry_delay_seconds"] == 9
    assert by["none"]["outcome"] == "acked" and by["none"]["call"] == "none"
    redelivered = probe.queue()
    assert sorted(m["body"]["action"] for m in redelivered["messages"]) == ["retry", "retry_delay", "retry_delay_dict"]
    assert {m["attempts"] for m in redelivered["messages"]} == {2}

    # queue() raising: explicitly acked messages stay acked, everything else is retried
    probe.queue_clear()
    for action in ["ack", "none", "raise"]:
        probe.queue_send({"action": action})
    b = probe.queue()
    assert "probe queue handler failure" in b["exception"]["error"]
    by = {m["body"]["action"]: m for m in b["messages"]}
    assert by["ack"]["outcome"] == "acked"
    assert by["none"]["outcome"] == "retried" and by["raise"]["outcome"] == "retried"

    # retryAll(delaySeconds=11)
    probe.queue_clear()
    probe.queue_send({"action": "retry_all"})
    probe.queue_send({"action": "none"})
    b = probe.queue()
    assert b["retry_all"] is True
    assert [m["retry_delay_seconds"] for m in b["messages"]] == [11, 11]


def test_queue_dead_letter_after_max_retries(probe):
    probe.queue_clear()
    probe.queue_send({"action": "retry"})
    fates = []
    for attempt in range(1, 7):  # max_retries = 5 -> 6 deliveries
        b = probe.queue()
        (m,) = b["messages"]
        assert m["attempts"] == attempt
        fates.append(m["fate"])
    assert fates == ["requeued"] * 5 + ["dead_lettered:ig-jobs-dlq"]
    assert probe.queue() is None
    n_facts = len(get_json(probe, "/facts"))
    dlq = probe.queue("ig-jobs-dlq")
    assert dlq["queue"] == "ig-jobs-dlq"
    assert dlq["messages"][0]["attempts"] == 1
    assert get_json(probe, "/facts")[n_facts]["queue"] == "ig-jobs-dlq"


def test_scheduled(probe):
    r = probe.scheduled(cron="*/5 * * * *", scheduled_time=1_700_000_000_000)
    assert r["exception"] is None
    fact = [x for x in get_json(probe, "/facts") if x["handler"] == "scheduled"][-1]
    assert fact["cron"] == {"type": "str", "value": "*/5 * * * *"}
    assert fact["scheduledTime"] == {"type": "int", "value": 1_700_000_000_000}
    assert probe.d1_rows("SELECT cron, at FROM sweeps") == [{"cron": "*/5 * * * *", "at": 1_700_000_000_000}]


def test_wait_until_is_awaited(probe):
    r = probe.fetch("GET", "http://probe.test/wait-until")
    assert r.text == "scheduled" and r.wait_until == [{"ok": True}]
    assert probe.d1_rows("SELECT note FROM wu") == [{"note": "from waitUntil"}]


def test_uncaught_exception_is_500(probe):
    r = probe.fetch("GET", "http://probe.test/boom")
    assert r.status == 500
    assert "RuntimeError: probe boom" in r.exception["error"]


def test_workerd_only_globals_are_emulated(probe):
    g = get_json(probe, "/globals")
    # workerd globals that Node does not have, which the harness defines as workerd does (ig's R2
    # adapter pipes downloads through them; tests/worker/test_worker_native_store.py checks the
    # digests and the length checks they give)
    assert g["FixedLengthStream"] is True and g["crypto.DigestStream"] is True
    assert g["TransformStream"] and g["ReadableStream"] and g["crypto.subtle"]


def test_apply_sql(probe):
    res = probe.apply_sql(
        sql="""
        -- comment; with a semicolon
        CREATE TABLE a1 (x TEXT DEFAULT 'a;b');
        CREATE TABLE a2 (y INTEGER);
        /* block; comment */
        CREATE TRIGGER a1_ins AFTER INSERT ON a1 BEGIN INSERT INTO a2 VALUES (1); INSERT INTO a2 VALUES (2); END;
        INSERT INTO a1 DEFAULT VALUES;
    """
    )
    assert res["statements"] == 4
    assert probe.d1_rows("SELECT x FROM a1") == [{"x": "a;b"}]
    assert probe.d1("SELECT count(*) AS c FROM a2", mode="first", column="c") == 2
    migration = REPO / "src" / "ig" / "migrations" / "0001_initial.sql"
    if migration.exists():
        probe.apply_sql(path=migration)
        names = {r["name"] for r in probe.d1_rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "jobs" in names
