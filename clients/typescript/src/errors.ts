import type { components } from "./schema.js";

export type Problem = components["schemas"]["Problem"];
export type FieldProblem = components["schemas"]["FieldProblem"];
type Job = components["schemas"]["Job"];

/** Everything this client throws on purpose is an IgError; an aborted signal rejects with the signal's reason as is. */
export class IgError extends Error {
  override name = "IgError";
}

/** ig (or something between it and you) answered with an error status. */
export class IgApiError extends IgError {
  override name = "IgApiError";
  /** The HTTP status. */
  readonly status: number;
  /** ig's RFC 9457 problem JSON, when the answer was one. */
  readonly problem: Problem | undefined;
  /** The problem's stable `code` (`validation_error`, `not_found`, ...); `http_<status>` for an answer not from ig. */
  readonly code: string;
  /** Every bad field of a 422, with its dotted path (`params.width`); empty otherwise. */
  readonly fieldErrors: readonly FieldProblem[];
  /** The body as received: the parsed JSON, or the text when it was not JSON. */
  readonly body: unknown;
  readonly headers: Headers;

  constructor(status: number, headers: Headers, body: unknown) {
    const problem = asProblem(body);
    super(problem ? `${status} ${problem.code}: ${problem.detail}` : `${status}: ${describe(body)}`);
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.problem = problem;
    this.code = problem?.code ?? `http_${status}`;
    this.fieldErrors = problem?.errors ?? [];
  }

  /** Read an error answer whose body nobody has read yet. */
  static async read(response: Response): Promise<IgApiError> {
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON (a proxy's HTML page, say): keep the text
    }
    return new IgApiError(response.status, response.headers, body);
  }
}

/** The job ended without succeeding (`failed` or `cancelled`): `job.error` says why. */
export class IgJobFailedError extends IgError {
  override name = "IgJobFailedError";
  readonly job: Job;
  /** `job.error.code` (the provider's code, `timeout`, ...), or the status when the job has no error (cancelled). */
  readonly code: string;

  constructor(job: Job) {
    const code = job.error?.code ?? job.status;
    super(`job ${job.id} ${job.status}: ${job.error ? `${job.error.code}: ${job.error.message}` : "no result"}`);
    this.job = job;
    this.code = code;
  }
}

/** `wait` ran out of time before the job finished; `job` is the last state seen (it goes on running). */
export class IgTimeoutError extends IgError {
  override name = "IgTimeoutError";
  readonly job: Job;

  constructor(job: Job, timeoutMs: number) {
    super(`job ${job.id} still ${job.status} after ${timeoutMs} ms`);
    this.job = job;
  }
}

/** No answer from ig (connection refused, reset, DNS), after every retry. `cause` is the last fetch error. */
export class IgNetworkError extends IgError {
  override name = "IgNetworkError";

  constructor(url: string, cause: unknown) {
    super(`no answer from ${url}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** A callback failed verification: not signed with the secret, too old, or malformed. */
export class IgCallbackError extends IgError {
  override name = "IgCallbackError";
}

/** A download's bytes do not match the artifact's sha256 (nothing is kept). */
export class IgIntegrityError extends IgError {
  override name = "IgIntegrityError";
}

function asProblem(body: unknown): Problem | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const candidate = body as Partial<Problem>;
  const looksLikeProblem =
    typeof candidate.code === "string" && typeof candidate.status === "number" && typeof candidate.detail === "string";
  return looksLikeProblem ? (body as Problem) : undefined;
}

const MAX_MESSAGE_BODY = 200;

function describe(body: unknown): string {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return text.length > MAX_MESSAGE_BODY ? `${text.slice(0, MAX_MESSAGE_BODY)}...` : text;
}
