import { IgCallbackError } from "./errors.js";
import type { components } from "./schema.js";

type Job = components["schemas"]["Job"];
type Artifact = components["schemas"]["Artifact"];

/** The job as a callback carries it: ids, status and metadata, never the params. */
export type CallbackJob = Pick<
  Job,
  | "id"
  | "status"
  | "provider"
  | "task"
  | "model"
  | "model_alias"
  | "preset"
  | "tags"
  | "metadata"
  | "created_at"
  | "completed_at"
  | "cancelled_at"
  | "cost"
  | "error"
  | "expected_results"
>;

/** An artifact as a callback carries it, with a signed content URL (valid 7 days) in place of ig's own. */
export type CallbackArtifact = Pick<
  Artifact,
  | "id"
  | "kind"
  | "content_type"
  | "size"
  | "sha256"
  | "width"
  | "height"
  | "duration_seconds"
  | "seed"
  | "cost"
  | "nsfw"
  | "arrived_after"
  | "created_at"
> & { url: string; url_expires_at: string };

/** What ig POSTs to a job's `callback_url`. */
export interface CallbackEvent {
  type: "job.succeeded" | "job.failed" | "artifact.stored";
  timestamp: string;
  data: { job: CallbackJob; artifacts: CallbackArtifact[] };
}

/** Request headers as Fetch (`Headers`) or Node (`IncomingHttpHeaders`) give them. */
export type CallbackHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** How far the `webhook-timestamp` may be from now (a replay otherwise); Standard Webhooks' 5 minutes by default. */
  toleranceSeconds?: number;
  /** The time to check against, in milliseconds since the epoch (tests). */
  now?: number;
}

const DEFAULT_TOLERANCE_SECONDS = 300;
const MAX_TIMESTAMP_DIGITS = 15;

/**
 * Verify a callback from ig (Standard Webhooks: HMAC-SHA256 of `id.timestamp.body` under the `whsec_` secret)
 * and return its event; reject with IgCallbackError saying why not. `secret` is ig's `IG_CALLBACK_SECRET`
 * (several, space-separated, are each tried, for rotation); `body` must be the bytes as received, not re-encoded
 * JSON. Web Crypto only: runs in browsers, Node 20+, Deno and Workers. Deduplicate on `webhook-id`: ig sends the
 * same id on every retry of an event.
 */
export async function verifyCallback(
  secret: string,
  headers: CallbackHeaders,
  body: string | Uint8Array | ArrayBuffer,
  options: VerifyOptions = {},
): Promise<CallbackEvent> {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!/^\d+$/.test(timestamp) || timestamp.length > MAX_TIMESTAMP_DIGITS) {
    throw new IgCallbackError(`webhook-timestamp is not Unix seconds: ${JSON.stringify(timestamp.slice(0, 40))}`);
  }
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Math.abs((options.now ?? Date.now()) / 1000 - Number(timestamp));
  if (skew > tolerance) {
    throw new IgCallbackError(`webhook-timestamp is ${Math.round(skew)} s from now; at most ${tolerance}`);
  }
  const bodyBytes = typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body);
  const signed = concat(new TextEncoder().encode(`${id}.${timestamp}.`), bodyBytes);
  const given = signatures
    .split(" ")
    .filter((entry) => entry.startsWith("v1,"))
    .map((entry) => base64Bytes(entry.slice(3)))
    .filter((bytes): bytes is Uint8Array<ArrayBuffer> => bytes !== null);
  for (const key of await secretKeys(secret)) {
    for (const signature of given) {
      if (await crypto.subtle.verify("HMAC", key, signature, signed)) {
        return JSON.parse(new TextDecoder().decode(bodyBytes)) as CallbackEvent;
      }
    }
  }
  throw new IgCallbackError("the signature matches none of the secret's keys");
}

function header(headers: CallbackHeaders, name: string): string {
  const value = headers instanceof Headers ? headers.get(name) : headers[name];
  const text = Array.isArray(value) ? value.join(" ") : value;
  if (!text) throw new IgCallbackError(`missing ${name}`);
  return text;
}

async function secretKeys(secret: string): Promise<CryptoKey[]> {
  const parts = secret.split(" ").filter((part) => part !== "");
  const raw = parts.map((part) => base64Bytes(part.replace(/^whsec_/, "")));
  if (raw.length === 0 || raw.some((bytes) => bytes === null || bytes.length === 0)) {
    throw new IgCallbackError("the secret must be whsec_<base64>, space-separated for several");
  }
  return Promise.all(
    raw.map((bytes) =>
      crypto.subtle.importKey("raw", bytes as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, [
        "verify",
      ]),
    ),
  );
}

/** Standard base64 (padding optional) to bytes; null when it is not base64. */
function base64Bytes(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const padded = text.replace(/=+$/, "") + "=".repeat((4 - (text.replace(/=+$/, "").length % 4)) % 4);
  try {
    return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
  } catch {
    return null;
  }
}

function concat(first: Uint8Array, second: Uint8Array): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(first.length + second.length);
  joined.set(first);
  joined.set(second, first.length);
  return joined;
}
