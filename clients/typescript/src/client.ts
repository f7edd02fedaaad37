import createClient, { type Client } from "openapi-fetch";

import { IgApiError, IgJobFailedError, IgTimeoutError } from "./errors.js";
import { DEFAULT_RETRY, type Fetch, pause, type RetryPolicy, sendWithRetries } from "./retry.js";
import type { components, paths } from "./schema.js";

export type Job = components["schemas"]["Job"];
export type JobStatus = Job["status"];
export type JobRequest = components["schemas"]["JobRequest"];
export type CancelledJob = components["schemas"]["CancelledJob"];
export type Artifact = components["schemas"]["Artifact"];
export type TagEdit = components["schemas"]["TagEdit"];
type JobPage = components["schemas"]["JobPage"];
type ArtifactPage = components["schemas"]["ArtifactPage"];
/** The filters of `GET /v1/jobs` (the cursor is the iterator's business). */
export type JobQuery = Omit<NonNullable<paths["/v1/jobs"]["get"]["parameters"]["query"]>, "cursor">;
/** The filters of `GET /v1/artifacts`. */
export type ArtifactQuery = Omit<NonNullable<paths["/v1/artifacts"]["get"]["parameters"]["query"]>, "cursor">;

export interface IgClientOptions {
  /** ig's base URL; by default `IG_URL` where there is a `process.env`, else ig serve's `http://127.0.0.1:8787`. */
  url?: string;
  /** The bearer token (ig's `IG_API_TOKEN`); by default `IG_API_TOKEN` where there is a `process.env`. */
  token?: string;
  /** The fetch to send requests with (a test double, a proxy agent); the global fetch by default. */
  fetch?: Fetch;
  /** When to try again after a 429/502/503/504 or a lost connection. */
  retry?: Partial<RetryPolicy>;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface SubmitOptions extends RequestOptions {
  /** Sent as `Idempotency-Key`; a fresh UUID by default. Every retry of the submit sends the same one, so a
   * submit whose answer was lost makes one job, not two. Pass your own to make retries across restarts safe. */
  idempotencyKey?: string;
}

export interface WaitOptions extends RequestOptions {
  /** Give up (IgTimeoutError) after this long; by default wait until the job ends, which its deadline bounds. */
  timeoutMs?: number;
  /** Called with the job after every answer: its `status`, and `artifacts` as they are stored. */
  onProgress?: (job: Job) => void;
  /** The longest one long-poll holds (ig's `?wait=`, at most 60 s): ig answers as soon as the job ends, and
   * otherwise after this long, with the artifacts stored so far. 60 by default, 5 with `onProgress`. */
  pollSeconds?: number;
}

export interface ContentOptions extends RequestOptions {
  /** Start at this byte (`Range: bytes=<offset>-`, answered 206); the whole file by default. */
  offset?: number;
}

export interface UploadOptions extends RequestOptions {
  /** Tags for the new artifact. */
  tags?: string[];
}

/** A body to upload: a stream is sent as it is read (and, being unrepeatable, never retried). */
export type UploadBody = Blob | ArrayBuffer | Uint8Array | ReadableStream<Uint8Array>;

const FINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled"]);
const LONGEST_WAIT_SECONDS = 60; // ig caps ?wait= here
const PROGRESS_WAIT_SECONDS = 5;
/** An answer to a long-poll that came back sooner than this with the job still open (a server or proxy that
 * ignores ?wait=) is followed by a pause, so a wait never turns into a busy loop. */
const SHORTEST_POLL_MS = 1000;
const DEFAULT_URL = "http://127.0.0.1:8787";

type Answer<D> = Promise<{ data?: D; error?: unknown; response: Response }>;

/** ig's HTTP API, typed from its OpenAPI document, with the conveniences apps need. */
export class IgClient {
  readonly url: string;
  /** The typed openapi-fetch client, for the routes the methods here do not cover (presets, models, usage, batch):
   * its requests carry the token, are retried alike, and every POST carries an Idempotency-Key. */
  readonly api: Client<paths>;
  readonly jobs: JobsApi;
  readonly artifacts: ArtifactsApi;
  readonly #fetchOnce: Fetch;
  readonly #retry: RetryPolicy;
  readonly #headers: Record<string, string>;

  constructor(options: IgClientOptions = {}) {
    const env = processEnv();
    // An empty setting counts as unset, as in the shell.
    this.url = (options.url || env["IG_URL"] || DEFAULT_URL).replace(/\/+$/, "");
    const token = options.token || env["IG_API_TOKEN"];
    this.#headers = token ? { authorization: `Bearer ${token}` } : {};
    this.#fetchOnce = options.fetch ?? ((request) => fetch(request));
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    const send = (request: Request): Promise<Response> => {
      // A retried POST is safe only when ig can tell it from a new request: each carries a key (ig ignores it
      // where every repeat is harmless anyway: cancel, tags, uploads).
      if (request.method === "POST" && !request.headers.has("idempotency-key")) {
        request.headers.set("idempotency-key", crypto.randomUUID());
      }
      // Each try sends a copy, so the original's body is still there for the next.
      return sendWithRetries(this.#fetchOnce, () => request.clone(), this.#retry, request.signal);
    };
    this.api = createClient<paths>({ baseUrl: this.url, headers: this.#headers, fetch: send });
    this.jobs = new JobsApi(this);
    this.artifacts = new ArtifactsApi(this, this.#fetchOnce, this.#retry, this.#headers);
  }

  /** Submit a job (`POST /v1/jobs`): answers at once with the job `queued` or `submitted`. */
  submit(request: JobRequest, options: SubmitOptions = {}): Promise<Job> {
    const key = options.idempotencyKey ?? crypto.randomUUID();
    return answer(
      this.api.POST("/v1/jobs", {
        body: request,
        params: { header: { "Idempotency-Key": key } },
        signal: options.signal ?? null,
      }),
    );
  }

  /** Wait for a job to end (`succeeded`, `failed` or `cancelled`) through ig's long-poll, and return it. */
  async wait(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const started = Date.now();
    const poll = options.pollSeconds ?? (options.onProgress ? PROGRESS_WAIT_SECONDS : LONGEST_WAIT_SECONDS);
    const longest = Math.min(poll, LONGEST_WAIT_SECONDS);
    for (;;) {
      const leftMs = options.timeoutMs === undefined ? Infinity : options.timeoutMs - (Date.now() - started);
      const asked = Date.now();
      const job = await this.jobs.get(jobId, {
        waitSeconds: Math.max(0, Math.min(longest, leftMs / 1000)),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      options.onProgress?.(job);
      if (FINAL_STATUSES.has(job.status)) return job;
      if (options.timeoutMs !== undefined && Date.now() - started >= options.timeoutMs) {
        throw new IgTimeoutError(job, options.timeoutMs);
      }
      const took = Date.now() - asked;
      if (took < SHORTEST_POLL_MS) await pause(SHORTEST_POLL_MS - took, options.signal ?? null);
    }
  }

  /** Submit and wait: the succeeded job with its artifacts, or IgJobFailedError when it failed or was cancelled. */
  async generate(request: JobRequest, options: SubmitOptions & WaitOptions = {}): Promise<Job> {
    const submitted = await this.submit(request, options);
    options.onProgress?.(submitted);
    const job = FINAL_STATUSES.has(submitted.status) ? submitted : await this.wait(submitted.id, options);
    if (job.status !== "succeeded") throw new IgJobFailedError(job);
    return job;
  }
}

export class JobsApi {
  readonly #client: IgClient;

  constructor(client: IgClient) {
    this.#client = client;
  }

  /** Read a job; with `waitSeconds`, ig holds the answer until the job ends or that many seconds pass (at most 60). */
  get(jobId: string, options: RequestOptions & { waitSeconds?: number } = {}): Promise<Job> {
    const query = options.waitSeconds === undefined ? {} : { wait: options.waitSeconds };
    return answer(
      this.#client.api.GET("/v1/jobs/{job_id}", {
        params: { path: { job_id: jobId }, query },
        signal: options.signal ?? null,
      }),
    );
  }

  /** Every job matching `query`, newest first, following `next_cursor` page by page as you iterate. */
  async *list(query: JobQuery = {}, options: RequestOptions = {}): AsyncGenerator<Job, void, undefined> {
    let cursor: string | null = null;
    do {
      const page: JobPage = await answer(
        this.#client.api.GET("/v1/jobs", {
          params: { query: { ...query, ...(cursor === null ? {} : { cursor }) } },
          signal: options.signal ?? null,
        }),
      );
      yield* page.items;
      cursor = page.next_cursor ?? null;
    } while (cursor !== null);
  }

  /** Cancel an open job (a finished one is a 409 IgApiError). */
  cancel(jobId: string, options: RequestOptions = {}): Promise<CancelledJob> {
    return answer(
      this.#client.api.POST("/v1/jobs/{job_id}/cancel", {
        params: { path: { job_id: jobId } },
        signal: options.signal ?? null,
      }),
    );
  }

  /** Add and remove a job's tags; answers the tags it has now. */
  async tag(jobId: string, edit: TagEdit, options: RequestOptions = {}): Promise<string[]> {
    const { tags } = await answer(
      this.#client.api.POST("/v1/jobs/{job_id}/tags", {
        params: { path: { job_id: jobId } },
        body: edit,
        signal: options.signal ?? null,
      }),
    );
    return tags;
  }
}

export class ArtifactsApi {
  readonly #client: IgClient;
  readonly #fetchOnce: Fetch;
  readonly #retry: RetryPolicy;
  readonly #headers: Record<string, string>;

  constructor(client: IgClient, fetchOnce: Fetch, retry: RetryPolicy, headers: Record<string, string>) {
    this.#client = client;
    this.#fetchOnce = fetchOnce;
    this.#retry = retry;
    this.#headers = headers;
  }

  get(artifactId: string, options: RequestOptions = {}): Promise<Artifact> {
    return answer(
      this.#client.api.GET("/v1/artifacts/{artifact_id}", {
        params: { path: { artifact_id: artifactId } },
        signal: options.signal ?? null,
      }),
    );
  }

  /** Every artifact matching `query`, newest first, following `next_cursor` page by page as you iterate. */
  async *list(query: ArtifactQuery = {}, options: RequestOptions = {}): AsyncGenerator<Artifact, void, undefined> {
    let cursor: string | null = null;
    do {
      const page: ArtifactPage = await answer(
        this.#client.api.GET("/v1/artifacts", {
          params: { query: { ...query, ...(cursor === null ? {} : { cursor }) } },
          signal: options.signal ?? null,
        }),
      );
      yield* page.items;
      cursor = page.next_cursor ?? null;
    } while (cursor !== null);
  }

  /** The artifact's content as ig answers it (200, or 206 from `offset`): `Content-Type`, `Content-Length`,
   * `ETag` (the sha256) and the body, unread. */
  async content(artifactId: string, options: ContentOptions = {}): Promise<Response> {
    const header = options.offset ? { Range: `bytes=${options.offset}-` } : {};
    const { error, response } = await this.#client.api.GET("/v1/artifacts/{artifact_id}/content", {
      params: { path: { artifact_id: artifactId }, header },
      parseAs: "stream",
      signal: options.signal ?? null,
    });
    if (!response.ok) throw new IgApiError(response.status, response.headers, error);
    return response;
  }

  /** The artifact's bytes as a stream, read as they arrive (hand it to a Response, an upload, a file). */
  async download(artifactId: string, options: ContentOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const response = await this.content(artifactId, options);
    return response.body ?? new Blob([]).stream();
  }

  /** Upload an input (image, audio or video) as a raw body of `mediaType`; answers the artifact (identical bytes
   * uploaded before answer the first upload's artifact). Use it in jobs as `"artifact:<id>"`. */
  async upload(body: UploadBody, mediaType: string, options: UploadOptions = {}): Promise<Artifact> {
    const url = new URL(`${this.#client.url}/v1/uploads`);
    for (const tag of options.tags ?? []) url.searchParams.append("tag", tag);
    const init: RequestInit & { duplex: "half" } = {
      method: "POST",
      body: body as BodyInit, // any Uint8Array (a Node Buffer too); fetch refuses one over shared memory itself
      headers: { ...this.#headers, "content-type": mediaType },
      signal: options.signal ?? null,
      duplex: "half", // fetch's condition for a stream body; harmless for the others
    };
    const replayable = !(body instanceof ReadableStream);
    const policy = replayable ? this.#retry : { ...this.#retry, attempts: 1 };
    const response = await sendWithRetries(this.#fetchOnce, () => new Request(url, init), policy, init.signal ?? null);
    if (!response.ok) throw await IgApiError.read(response);
    const artifact: UploadAnswer = await response.json();
    return artifact;
  }

  /** Add and remove an artifact's tags (removing wins over adding the same tag); answers the tags it has now. */
  async tag(artifactId: string, edit: TagEdit, options: RequestOptions = {}): Promise<string[]> {
    const { tags } = await answer(
      this.#client.api.POST("/v1/artifacts/{artifact_id}/tags", {
        params: { path: { artifact_id: artifactId } },
        body: edit,
        signal: options.signal ?? null,
      }),
    );
    return tags;
  }

  /** Delete the artifact's file; its provenance stays readable, and its content answers 410. */
  async delete(artifactId: string, options: RequestOptions = {}): Promise<void> {
    const { error, response } = await this.#client.api.DELETE("/v1/artifacts/{artifact_id}", {
      params: { path: { artifact_id: artifactId } },
      signal: options.signal ?? null,
    });
    if (!response.ok) throw new IgApiError(response.status, response.headers, error);
  }
}

type UploadAnswer = paths["/v1/uploads"]["post"]["responses"][201]["content"]["application/json"];

/** The data of a successful answer; an error answer (or an empty one where data was due) as IgApiError. */
async function answer<D>(call: Answer<D>): Promise<D> {
  const { data, error, response } = await call;
  if (!response.ok || data === undefined) throw new IgApiError(response.status, response.headers, error ?? "");
  return data;
}

/** `process.env` where there is one (Node, Bun, Deno's Node compatibility); nothing in browsers and Workers. */
function processEnv(): Record<string, string | undefined> {
  const host = globalThis as { process?: { env?: Record<string, string | undefined> } };
  return host.process?.env ?? {};
}
