// What the tests share: where ig is (tests/integration/test_typescript_client.py starts it and sets the
// environment), a proxy in front of ig that misbehaves on cue, and a callback endpoint.
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { IgClient, type IgClientOptions, type JobRequest } from "ig-client";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with tests/integration/test_typescript_client.py`);
  return value;
}

/** ig under test: `ig serve`'s runtime with the mock provider, and Runware faked so its jobs never finish. */
export const IG_URL = required("IG_URL");
/** The `IG_CALLBACK_SECRET` ig signs callbacks with. */
export const CALLBACK_SECRET = required("IG_TEST_CALLBACK_SECRET");

/** A client for ig with quick retries, so tests that cause them do not wait on the default backoff. */
export function client(options: IgClientOptions = {}): IgClient {
  return new IgClient({ url: IG_URL, retry: { baseDelayMs: 10 }, ...options });
}

/** A tag no other test uses, to find this test's jobs and artifacts again. */
export function uniqueTag(): string {
  return `test:${randomUUID()}`;
}

/** A job the mock provider finishes at once, with `results` PNG artifacts. */
export function mockJob(tags: string[], results = 1): JobRequest {
  const params = { prompt: "a fox", numberResults: results };
  return { provider: "mock", task: "imageInference", model: "mock", params, tags };
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Poll `check` every 20 ms until it returns something other than undefined; fail after `timeoutMs`. */
export async function until<T>(check: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** performance.now() when the request arrived. */
  at: number;
  /** What ig answered, for the requests that were forwarded. */
  upstream?: { status: number; headers: IncomingHttpHeaders };
}

/** How the proxy misbehaves, once, on the first request it matches. */
export type Fault =
  // answer this itself; ig sees nothing
  | { kind: "answer"; status: number; headers?: Record<string, string>; body?: string }
  | { kind: "lose-answer" } // forward to ig, then hang up without passing ig's answer on
  | { kind: "cut-body" }; // pass ig's answer on, but hang up halfway through its body

/** An HTTP proxy in front of ig that records every request and injects the faults it is given. */
export class FaultyProxy {
  readonly seen: Seen[] = [];
  readonly #faults: { matches: (method: string, path: string) => boolean; fault: Fault }[] = [];
  readonly #server: Server;
  readonly #target: URL;

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((incoming, outgoing) => {
      const seen: Seen = {
        method: incoming.method ?? "",
        path: incoming.url ?? "",
        headers: incoming.headers,
        at: performance.now(),
      };
      this.seen.push(seen);
      const index = this.#faults.findIndex((entry) => entry.matches(seen.method, seen.path));
      const fault = index >= 0 ? this.#faults.splice(index, 1)[0]?.fault : undefined;
      if (fault?.kind === "answer") {
        incoming.resume();
        outgoing.writeHead(fault.status, { "content-type": "text/plain", ...fault.headers });
        outgoing.end(fault.body ?? `the proxy answered ${fault.status}`);
        return;
      }
      const upstream = httpRequest(
        {
          host: this.#target.hostname,
          port: this.#target.port,
          method: seen.method,
          path: seen.path,
          headers: incoming.headers,
        },
        (answer) => {
          seen.upstream = { status: answer.statusCode ?? 0, headers: answer.headers };
          if (fault?.kind === "lose-answer") {
            answer.resume();
            answer.on("end", () => incoming.socket.destroy());
            return;
          }
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          if (fault?.kind === "cut-body") {
            const half = Number(answer.headers["content-length"]) >> 1;
            let sent = 0;
            answer.on("data", (chunk: Buffer) => {
              const part = chunk.subarray(0, Math.max(0, half - sent));
              sent += part.length;
              if (sent < half) {
                outgoing.write(part);
                return;
              }
              answer.destroy();
              outgoing.write(part, () => incoming.socket.destroy()); // once the half is on its way
            });
            return;
          }
          answer.pipe(outgoing);
        },
      );
      incoming.pipe(upstream);
    });
  }

  static async start(target: string = IG_URL): Promise<FaultyProxy> {
    const proxy = new FaultyProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Misbehave on the first request whose method and path (with its query) match. */
  inject(method: string, path: RegExp, fault: Fault): void {
    this.#faults.push({ matches: (m, p) => m === method && path.test(p), fault });
  }

  requests(method: string, path: RegExp): Seen[] {
    return this.seen.filter((seen) => seen.method === method && path.test(seen.path));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A consumer's callback endpoint on loopback: keeps every POST and answers 204. */
export class CallbackEndpoint {
  readonly received: Delivery[] = [];
  readonly #server: Server;

  private constructor() {
    this.#server = createServer((incoming, outgoing) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("end", () => {
        this.received.push({ headers: incoming.headers, body: Buffer.concat(chunks) });
        outgoing.writeHead(204).end();
      });
    });
  }

  static async start(): Promise<CallbackEndpoint> {
    const endpoint = new CallbackEndpoint();
    await new Promise<void>((resolve) => endpoint.#server.listen(0, "127.0.0.1", resolve));
    return endpoint;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/ig-events`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
