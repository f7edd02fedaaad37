import { IgNetworkError } from "./errors.js";

/** How requests are retried when ig is busy or unreachable. */
export interface RetryPolicy {
  /** Tries in all, the first included (1: never retry). */
  attempts: number;
  /** The first pause when ig gives no `Retry-After`; it doubles each time, with jitter. */
  baseDelayMs: number;
  /** The longest pause. A `Retry-After` asking for more is not waited for: its answer is returned (an IgApiError). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 };

/** Statuses that say "try again later". A 502 that is ig's own problem JSON is a provider's final refusal
 * (`provider_rejected`, the job recorded as failed), so only a gateway's 502 is retried. */
const RETRIED_STATUSES = new Set([429, 502, 503, 504]);

export type Fetch = (request: Request) => Promise<Response>;

/**
 * Send a request, again after a 429/502/503/504 or a network error, pausing for `Retry-After` (seconds or an
 * HTTP date) or else an exponential backoff. `nextRequest` gives a fresh copy of the request for each try.
 * Safe for every request this client makes: reads, idempotent edits, and submits that carry an Idempotency-Key.
 */
export async function sendWithRetries(
  fetchOnce: Fetch,
  nextRequest: () => Request,
  policy: RetryPolicy,
  signal: AbortSignal | null,
): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const request = nextRequest();
    let response: Response;
    try {
      response = await fetchOnce(request);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (attempt >= policy.attempts) throw new IgNetworkError(request.url, error);
      await pause(backoffMs(attempt, policy), signal);
      continue;
    }
    if (attempt >= policy.attempts || !isRetryable(response)) return response;
    const delay = retryAfterMs(response.headers.get("retry-after")) ?? backoffMs(attempt, policy);
    if (delay > policy.maxDelayMs) return response;
    await response.body?.cancel();
    await pause(delay, signal);
  }
}

function isRetryable(response: Response): boolean {
  if (!RETRIED_STATUSES.has(response.status)) return false;
  const igsOwnRefusal =
    response.status === 502 && (response.headers.get("content-type") ?? "").startsWith("application/problem+json");
  return !igsOwnRefusal;
}

/** `Retry-After` in milliseconds from now, from delay-seconds or an HTTP date (RFC 9110 10.2.3); null if unreadable. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function backoffMs(attempt: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Resolve after `ms`, or reject with the signal's reason as soon as it aborts. */
export function pause(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
