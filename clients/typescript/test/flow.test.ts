// The core flow against a real ig: submit, wait, download, list, upload, tag, and the errors apps must handle.
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { IgApiError, IgClient, IgJobFailedError, IgTimeoutError, type Job } from "ig-client";
import { saveArtifact } from "ig-client/node";
import { client, IG_URL, mockJob, readAll, sha256, uniqueTag } from "./support.js";

const TINY_PNG = Uint8Array.from(
  atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="),
  (char) => char.charCodeAt(0),
);

/** A Runware job: the fake Runware behind ig accepts it and never finishes it. */
const NEVER_FINISHES = { model: "flux-schnell", provider: "runware", params: { prompt: "a slow fox" } } as const;

test("generate submits, waits and answers the job with artifacts whose streamed bytes are ig's", async () => {
  const ig = client();
  const seen: Job[] = [];
  const job = await ig.generate(mockJob([uniqueTag()], 2), { onProgress: (progress) => seen.push(progress) });
  assert.equal(job.status, "succeeded");
  assert.equal(job.artifacts.length, 2);
  assert.equal(seen.at(-1)?.status, "succeeded");
  assert.equal(seen[0]?.id, job.id);
  for (const artifact of job.artifacts) {
    const bytes = await readAll(await ig.artifacts.download(artifact.id));
    assert.equal(bytes.length, artifact.size);
    assert.equal(sha256(bytes), artifact.sha256);
  }
});

test("wait long-polls until the job ends", async () => {
  const polls: URL[] = [];
  const ig = client({
    fetch: (request) => {
      polls.push(new URL(request.url));
      return fetch(request);
    },
  });
  const submitted = await ig.submit(mockJob([uniqueTag()]));
  polls.length = 0;
  const job = await ig.wait(submitted.id, { timeoutMs: 20_000 });
  assert.equal(job.id, submitted.id);
  assert.equal(job.status, "succeeded");
  assert.equal(polls.length, 1); // ig held the one request until the job ended
  const held = Number(polls[0]?.searchParams.get("wait"));
  assert.ok(held > 19 && held <= 20, `?wait=${held}`);
});

test("saveArtifact writes the file under its name only once its sha256 is the artifact's", async () => {
  const ig = client();
  const [artifact] = (await ig.generate(mockJob([uniqueTag()]))).artifacts;
  assert.ok(artifact);
  const dir = await mkdtemp(join(tmpdir(), "ig-client-"));
  try {
    const progress: number[] = [];
    const saved = await saveArtifact(ig, artifact.id, join(dir, "fox.png"), {
      onProgress: (received) => progress.push(received),
    });
    const bytes = await readFile(saved.path);
    assert.equal(sha256(bytes), artifact.sha256);
    assert.equal(progress.at(-1), artifact.size);
    assert.deepEqual(await readdir(dir), ["fox.png"]);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("the listings follow next_cursor across pages", async () => {
  const tag = uniqueTag();
  const urls: string[] = [];
  const ig = client({
    fetch: (request) => {
      urls.push(request.url);
      return fetch(request);
    },
  });
  const jobs = await Promise.all([1, 2, 3].map(() => ig.generate(mockJob([tag]))));

  urls.length = 0;
  const listed: string[] = [];
  for await (const job of ig.jobs.list({ tag: [tag], limit: 2 })) listed.push(job.id);
  assert.deepEqual(listed.sort(), jobs.map((job) => job.id).sort());
  assert.equal(urls.length, 2);
  assert.equal(new URL(urls[0] ?? "").searchParams.get("cursor"), null);
  assert.notEqual(new URL(urls[1] ?? "").searchParams.get("cursor"), null);

  urls.length = 0;
  const artifacts: string[] = [];
  for await (const artifact of ig.artifacts.list({ tag: [tag], limit: 2 })) artifacts.push(artifact.id);
  assert.deepEqual(artifacts.sort(), jobs.flatMap((job) => job.artifacts.map((artifact) => artifact.id)).sort());
  assert.equal(urls.length, 2);
});

test("upload sends bytes, a Blob or a stream as the raw body and answers the stored input", async () => {
  const ig = client();
  const tag = uniqueTag();
  const fromBytes = await ig.artifacts.upload(Buffer.from(TINY_PNG), "image/png", { tags: [tag] });
  assert.equal(fromBytes.role, "input");
  assert.equal(fromBytes.sha256, sha256(TINY_PNG));
  assert.deepEqual([fromBytes.width, fromBytes.height], [1, 1]);
  assert.deepEqual(fromBytes.tags, [tag]);
  const again = await ig.artifacts.upload(new Blob([TINY_PNG]), "image/png");
  assert.equal(again.id, fromBytes.id); // the same bytes are stored once

  const [output] = (await ig.generate(mockJob([tag]))).artifacts;
  assert.ok(output);
  const fromStream = await ig.artifacts.upload(await ig.artifacts.download(output.id), "image/png");
  assert.equal(fromStream.role, "input");
  assert.notEqual(fromStream.id, output.id);
  assert.equal(fromStream.sha256, output.sha256);
  assert.equal(fromStream.size, output.size);
});

test("tag adds and removes tags on artifacts and jobs", async () => {
  const ig = client();
  const [first, second] = [uniqueTag(), uniqueTag()];
  const job = await ig.generate(mockJob([first]));
  const [artifact] = job.artifacts;
  assert.ok(artifact);
  assert.deepEqual(await ig.artifacts.tag(artifact.id, { add: [second], remove: [first] }), [second]);
  assert.deepEqual((await ig.artifacts.get(artifact.id)).tags, [second]);
  assert.deepEqual((await ig.jobs.tag(job.id, { add: [second] })).sort(), [first, second].sort());
});

test("a bad request is an IgApiError carrying the problem and every field error", async () => {
  const ig = client();
  const bad = { ...mockJob([]), params: { prompt: "a fox", width: "wide", numberResults: 0 } };
  const error = await ig.submit(bad).then(
    () => assert.fail("the submit was accepted"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof IgApiError);
  assert.equal(error.status, 422);
  assert.equal(error.code, "validation_error");
  assert.equal(error.problem?.type, "https://ig.dev/problems/validation-error");
  assert.deepEqual(
    error.fieldErrors.map((field) => field.field),
    ["params.width", "params.numberResults"],
  );
});

test("a missing artifact is a 404 IgApiError", async () => {
  const error = await client()
    .artifacts.download("no-such-artifact")
    .then(
      () => assert.fail("downloaded nothing"),
      (caught: unknown) => caught,
    );
  assert.ok(error instanceof IgApiError);
  assert.equal(error.status, 404);
  assert.equal(error.code, "not_found");
});

test("wait gives up after timeoutMs with IgTimeoutError carrying the open job", async () => {
  const ig = client();
  const submitted = await ig.submit(NEVER_FINISHES);
  const error = await ig.wait(submitted.id, { timeoutMs: 1500 }).then(
    () => assert.fail("the job finished"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof IgTimeoutError);
  assert.equal(error.job.id, submitted.id);
  assert.equal(error.job.status, "submitted");
});

test("generate rejects with IgJobFailedError when the job does not succeed", async () => {
  const ig = client();
  const cancelling: Promise<unknown>[] = [];
  const error = await ig
    .generate(NEVER_FINISHES, {
      pollSeconds: 1,
      onProgress: (job) => {
        if (cancelling.length === 0) cancelling.push(ig.jobs.cancel(job.id));
      },
    })
    .then(
      () => assert.fail("the job succeeded"),
      (caught: unknown) => caught,
    );
  await Promise.all(cancelling);
  assert.ok(error instanceof IgJobFailedError);
  assert.equal(error.job.status, "cancelled");
  assert.equal(error.code, "cancelled");
});

test("the token and url come from IG_URL and IG_API_TOKEN when not given", async () => {
  const sent: Request[] = [];
  process.env["IG_API_TOKEN"] = "from-the-environment";
  try {
    const ig = new IgClient({
      fetch: (request) => {
        sent.push(request);
        return fetch(request);
      },
    });
    assert.equal(ig.url, IG_URL);
    await ig.jobs.list({ limit: 1 }).next();
  } finally {
    delete process.env["IG_API_TOKEN"];
  }
  assert.equal(sent[0]?.headers.get("authorization"), "Bearer from-the-environment");
});
