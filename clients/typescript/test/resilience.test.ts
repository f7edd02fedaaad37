// Retries, idempotency and resumed downloads, with a proxy between the client and ig that misbehaves on cue.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { IgApiError, IgNetworkError } from "ig-client";
import { saveArtifact } from "ig-client/node";
import { client, FaultyProxy, mockJob, sha256, uniqueTag } from "./support.js";

let proxy: FaultyProxy;
before(async () => {
  proxy = await FaultyProxy.start();
});
after(async () => {
  await proxy.close();
});

test("a submit whose answer is lost is retried with the same Idempotency-Key and makes one job", async () => {
  const ig = client({ url: proxy.url });
  const tag = uniqueTag();
  proxy.inject("POST", /^\/v1\/jobs$/, { kind: "lose-answer" });
  const job = await ig.submit(mockJob([tag]));

  const [first, second, ...more] = proxy.requests("POST", /^\/v1\/jobs$/);
  assert.equal(more.length, 0);
  assert.ok(first && second);
  assert.match(String(first.headers["idempotency-key"]), /^[0-9a-f-]{36}$/);
  assert.equal(second.headers["idempotency-key"], first.headers["idempotency-key"]);
  assert.equal(first.upstream?.status, 202);
  assert.equal(second.upstream?.headers["idempotent-replayed"], "true");

  const made: string[] = [];
  for await (const found of client().jobs.list({ tag: [tag] })) made.push(found.id);
  assert.deepEqual(made, [job.id]);
});

test("a POST through the raw api client gets an Idempotency-Key of its own, kept across retries", async () => {
  const ig = client({ url: proxy.url });
  const tag = uniqueTag();
  const path = /^\/v1\/jobs\/batch$/;
  proxy.inject("POST", path, { kind: "lose-answer" });
  const { data } = await ig.api.POST("/v1/jobs/batch", { body: { jobs: [mockJob([tag]), mockJob([tag])] } });
  const [first, second, ...more] = proxy.requests("POST", path);
  assert.equal(more.length, 0);
  assert.ok(first && second && data);
  assert.match(String(first.headers["idempotency-key"]), /^[0-9a-f-]{36}$/);
  assert.equal(second.headers["idempotency-key"], first.headers["idempotency-key"]);

  const made: string[] = [];
  for await (const found of client().jobs.list({ tag: [tag] })) made.push(found.id);
  assert.equal(made.length, 2);
  assert.deepEqual(made.sort(), data.items.map((item) => ("job" in item ? item.job.id : "")).sort());
});

test("a 429 is retried after the Retry-After it names", async () => {
  const ig = client({ url: proxy.url });
  const submitted = await client().submit(mockJob([uniqueTag()]));
  const path = new RegExp(`^/v1/jobs/${submitted.id}`);
  proxy.inject("GET", path, { kind: "answer", status: 429, headers: { "retry-after": "1" } });
  const job = await ig.jobs.get(submitted.id);
  assert.equal(job.id, submitted.id);
  const [refused, retried] = proxy.requests("GET", path);
  assert.ok(refused && retried);
  assert.ok(retried.at - refused.at >= 1000, `retried after ${retried.at - refused.at} ms`);
});

test("a Retry-After longer than the client waits is answered at once as the 429", async () => {
  const ig = client({ url: proxy.url, retry: { maxDelayMs: 5_000 } });
  const path = /^\/v1\/artifacts\/far-future$/;
  proxy.inject("GET", path, { kind: "answer", status: 429, headers: { "retry-after": "3600" } });
  const error = await ig.artifacts.get("far-future").then(
    () => assert.fail("answered"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof IgApiError);
  assert.equal(error.status, 429);
  assert.equal(error.headers.get("retry-after"), "3600");
  assert.equal(proxy.requests("GET", path).length, 1);
});

test("a gateway's 502 and 503 are retried until ig answers", async () => {
  const ig = client({ url: proxy.url });
  const submitted = await client().generate(mockJob([uniqueTag()]));
  const path = new RegExp(`^/v1/jobs/${submitted.id}/cancel$`);
  proxy.inject("POST", path, { kind: "answer", status: 502 });
  proxy.inject("POST", path, { kind: "answer", status: 503 });
  const error = await ig.jobs.cancel(submitted.id).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  // The job has finished, so ig's own answer is the 409 for a finished job.
  assert.ok(error instanceof IgApiError);
  assert.equal(error.status, 409);
  assert.equal(proxy.requests("POST", path).length, 3);
});

test("ig's own 502 (the provider refused the task for good) is not retried", async () => {
  const ig = client({ url: proxy.url });
  const refusal = {
    type: "https://ig.dev/problems/provider-rejected",
    title: "The provider refused the task",
    status: 502,
    detail: "invalidApiKey: Invalid API key.",
    instance: "/v1/jobs",
    code: "provider_rejected",
    job_id: "a-failed-job",
  };
  const path = /^\/v1\/jobs\/a-failed-job$/;
  const headers = { "content-type": "application/problem+json" };
  proxy.inject("GET", path, { kind: "answer", status: 502, headers, body: JSON.stringify(refusal) });
  const error = await ig.jobs.get("a-failed-job").then(
    () => assert.fail("answered"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof IgApiError);
  assert.equal(error.code, "provider_rejected");
  assert.deepEqual(error.problem, refusal);
  assert.equal(proxy.requests("GET", path).length, 1);
});

test("a download cut off halfway resumes with Range and still matches the sha256", async () => {
  const ig = client({ url: proxy.url });
  const [artifact] = (await client().generate(mockJob([uniqueTag()]))).artifacts;
  assert.ok(artifact);
  const path = new RegExp(`^/v1/artifacts/${artifact.id}/content$`);
  proxy.inject("GET", path, { kind: "cut-body" });
  const dir = await mkdtemp(join(tmpdir(), "ig-client-"));
  try {
    const saved = await saveArtifact(ig, artifact.id, join(dir, "fox.png"));
    assert.equal(sha256(await readFile(saved.path)), artifact.sha256);
  } finally {
    await rm(dir, { recursive: true });
  }
  const [cut, resumed, ...more] = proxy.requests("GET", path);
  assert.equal(more.length, 0);
  assert.equal(cut?.headers.range, undefined);
  const start = Number(/^bytes=(\d+)-$/.exec(String(resumed?.headers.range))?.[1]);
  assert.ok(start > 0 && start <= artifact.size >> 1, `resumed at ${resumed?.headers.range}`);
  assert.equal(resumed?.upstream?.status, 206);
});

test("a download cut off more often than it may resume fails with IgNetworkError and leaves no file", async () => {
  const ig = client({ url: proxy.url });
  const [artifact] = (await client().generate(mockJob([uniqueTag()]))).artifacts;
  assert.ok(artifact);
  const path = new RegExp(`^/v1/artifacts/${artifact.id}/content$`);
  proxy.inject("GET", path, { kind: "cut-body" });
  proxy.inject("GET", path, { kind: "cut-body" });
  const dir = await mkdtemp(join(tmpdir(), "ig-client-"));
  try {
    const error = await saveArtifact(ig, artifact.id, join(dir, "fox.png"), { resumes: 1 }).then(
      () => assert.fail("saved"),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof IgNetworkError, String(error));
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true });
  }
  assert.equal(proxy.requests("GET", path).length, 2);
});
