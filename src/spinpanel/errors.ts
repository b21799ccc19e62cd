import { STATUS_CODES } from 'node:http';
import type { AxiosError } from 'axios';
import type { Classified } from '../../connectors/types.ts';
import { isCancellation, parseRetryAfter, plainTextHint } from '../net/http.ts';

export { isCancellation, parseRetryAfter };

/** RFC 9457 problem details, as SpinPanel sends them with `application/problem+json`. */
export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
}

export interface SpinPanelErrorFields {
  method: string;
  path: string;
  /** HTTP status; undefined when no response arrived (network error, timeout). */
  status?: number;
  title: string;
  detail?: string;
  type?: string;
  /** True for failures worth retrying: 5xx, 408, 429, network and timeouts. */
  transient: boolean;
  /** Parsed `Retry-After`, when the response carried one. */
  retryAfterMs?: number;
}

/**
 * A failed SpinPanel request, carrying SpinPanel's own words. The message never contains request headers,
 * so it is safe to log; `cause` is a sanitised copy for the same reason.
 */
export class SpinPanelError extends Error {
  override name = 'SpinPanelError';
  readonly method: string;
  readonly path: string;
  readonly status: number | undefined;
  readonly title: string;
  readonly detail: string | undefined;
  readonly type: string | undefined;
  readonly transient: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(fields: SpinPanelErrorFields, options?: { cause?: unknown }) {
    const what = fields.status === undefined ? fields.title : `${fields.status} ${fields.title}`;
    const detail = fields.detail ? ` — ${fields.detail}` : '';
    super(`SpinPanel ${fields.method} ${fields.path} failed: ${what}${detail}`, options);
    this.method = fields.method;
    this.path = fields.path;
    this.status = fields.status;
    this.title = fields.title;
    this.detail = fields.detail;
    this.type = fields.type;
    this.transient = fields.transient;
    this.retryAfterMs = fields.retryAfterMs;
  }
}

/** Matches by class or by name, so an error that crossed a process boundary (BullMQ) still counts. */
export function isSpinPanelError(err: unknown): err is SpinPanelError {
  return err instanceof SpinPanelError || (err instanceof Error && err.name === 'SpinPanelError');
}

function readProblem(data: unknown): ProblemDetails {
  let body = data;
  if (typeof data === 'string') {
    try {
      body = JSON.parse(data);
    } catch {
      const text = plainTextHint(data, 200);
      return text ? { detail: text } : {};
    }
  }
  if (typeof body !== 'object' || body === null) return {};
  const b = body as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  return {
    type: str(b.type),
    title: str(b.title),
    status: typeof b.status === 'number' ? b.status : undefined,
    detail: str(b.detail) ?? str(b.message),
  };
}

/** Network failures keep only name, code and message: the original holds the request config and its headers. */
function sanitisedCause(err: AxiosError): Error {
  const copy = new Error(err.message);
  copy.name = err.name;
  return Object.assign(copy, { code: err.code });
}

/** Turns an axios failure into a SpinPanelError. Callers check `isCancellation` first. */
export function toSpinPanelError(method: string, path: string, err: AxiosError): SpinPanelError {
  const cause = sanitisedCause(err);
  const res = err.response;
  if (!res) {
    return new SpinPanelError(
      { method, path, title: err.code ?? 'network error', detail: err.message, transient: true },
      { cause },
    );
  }
  const problem = readProblem(res.data);
  const status = res.status;
  return new SpinPanelError(
    {
      method,
      path,
      status,
      title: problem.title ?? (res.statusText || STATUS_CODES[status] || 'Error'),
      detail: problem.detail,
      type: problem.type,
      transient: status >= 500 || status === 408 || status === 429,
      retryAfterMs: parseRetryAfter(res.headers?.['retry-after']),
    },
    { cause },
  );
}

/** Used when SpinPanel answers 429 without saying how long to wait. */
const DEFAULT_THROTTLE_WAIT_MS = 1000;

/**
 * Decides once how a SpinPanel failure is handled, for the client's retries and the engine alike: throttled
 * (429, or 503 that says when to come back) waits; transient (other 5xx, 408, network, timeouts) retries with
 * backoff; a cancellation is `cancelled`; everything else — 401 and other 4xx, malformed answers, programming
 * errors — is permanent.
 */
export function classifySpinPanelError(err: unknown): Classified {
  const message = err instanceof Error ? err.message : String(err);
  if (isCancellation(err)) return { kind: 'cancelled', message };
  if (!isSpinPanelError(err)) return { kind: 'permanent', message };
  if (err.status === 429)
    return { kind: 'throttled', waitMs: err.retryAfterMs ?? DEFAULT_THROTTLE_WAIT_MS, message };
  if (err.status === 503 && err.retryAfterMs !== undefined) {
    return { kind: 'throttled', waitMs: err.retryAfterMs, message };
  }
  return { kind: err.transient ? 'transient' : 'permanent', message };
}
