// verifyCallback on the callbacks a real ig sends to an HTTP endpoint in this test.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { type CallbackEvent, IgCallbackError, verifyCallback } from "ig-client";

import { onIgEvent } from "../examples/discord-bot.js";
import { CALLBACK_SECRET, CallbackEndpoint, client, type Delivery, mockJob, uniqueTag, until } from "./support.js";

let endpoint: CallbackEndpoint;
let delivery: Delivery;
let jobId: string;

before(async () => {
  endpoint = await CallbackEndpoint.start();
  const job = await client().generate({
    ...mockJob([uniqueTag(), "channel:123"]),
    callback_url: endpoint.url,
    callback_events: ["job.succeeded"],
  });
  jobId = job.id;
  delivery = await until(() => endpoint.received[0], "ig's callback");
});
after(async () => {
  await endpoint.close();
});

/** The delivery's headers as Fetch gives them to a Workers or Deno handler. */
function fetchHeaders(): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(delivery.headers)) headers.set(name, String(value));
  return headers;
}

async function rejection(verifying: Promise<CallbackEvent>): Promise<string> {
  const error = await verifying.then(
    () => assert.fail("the callback was accepted"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof IgCallbackError);
  return error.message;
}

test("ig's callback verifies with its secret and answers the event", async () => {
  const event = await verifyCallback(CALLBACK_SECRET, delivery.headers, delivery.body);
  assert.equal(event.type, "job.succeeded");
  assert.equal(event.data.job.id, jobId);
  assert.equal(event.data.job.status, "succeeded");
  assert.equal(event.data.artifacts.length, 1);
  assert.match(event.data.artifacts[0]?.url ?? "", /\/content\?expires=\d+&sig=/);
});

test("it verifies from Fetch Headers and a string body too", async () => {
  const event = await verifyCallback(CALLBACK_SECRET, fetchHeaders(), delivery.body.toString("utf8"));
  assert.equal(event.data.job.id, jobId);
});

test("a body changed by one byte is refused", async () => {
  const changed = Buffer.from(delivery.body);
  const at = changed.length - 2;
  changed[at] = (changed[at] ?? 0) ^ 1;
  assert.match(await rejection(verifyCallback(CALLBACK_SECRET, delivery.headers, changed)), /matches none/);
});

test("another secret is refused", async () => {
  const other = `whsec_${btoa("someone else's 24-byte k")}`;
  assert.match(await rejection(verifyCallback(other, delivery.headers, delivery.body)), /matches none/);
});

test("a callback older than the tolerance is refused as a replay", async () => {
  const sixMinutesLater = Number(delivery.headers["webhook-timestamp"]) * 1000 + 6 * 60_000;
  const message = await rejection(
    verifyCallback(CALLBACK_SECRET, delivery.headers, delivery.body, { now: sixMinutesLater }),
  );
  assert.match(message, /360 s from now; at most 300/);
  const accepted = await verifyCallback(CALLBACK_SECRET, delivery.headers, delivery.body, {
    now: sixMinutesLater,
    toleranceSeconds: 400,
  });
  assert.equal(accepted.data.job.id, jobId);
});

test("a callback without its signature headers is refused, naming the missing one", async () => {
  const { "webhook-signature": _, ...unsigned } = delivery.headers;
  assert.match(await rejection(verifyCallback(CALLBACK_SECRET, unsigned, delivery.body)), /missing webhook-signature/);
});

test("the example bot's callback handler posts the artifacts to the job's channel, and refuses a forgery", async () => {
  const posted: [string, string][] = [];
  const post = async (channel: string, text: string): Promise<void> => {
    posted.push([channel, text]);
  };
  const request = (body: Uint8Array): Request =>
    new Request(endpoint.url, { method: "POST", headers: fetchHeaders(), body: new Uint8Array(body) });

  const forged = Buffer.from(delivery.body.toString("utf8").replace('"succeeded"', '"failed"'));
  assert.equal((await onIgEvent(request(forged), CALLBACK_SECRET, post)).status, 401);
  assert.deepEqual(posted, []);

  assert.equal((await onIgEvent(request(delivery.body), CALLBACK_SECRET, post)).status, 204);
  const event = JSON.parse(delivery.body.toString("utf8")) as CallbackEvent;
  assert.deepEqual(posted, [["123", event.data.artifacts[0]?.url]]);
});
