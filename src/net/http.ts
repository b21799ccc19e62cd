import axios from 'axios';
import { TargetError } from '../../connectors/types.ts';

/** True when the request was aborted on purpose (run cancelled, consent revoked): never retried. */
export function isCancellation(err: unknown): boolean {
  return axios.isCancel(err) || (err instanceof Error && err.name === 'AbortError');
}

/** `Retry-After` is seconds or an HTTP date; anything unreadable counts as absent. */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A proxy's HTML error page says little and may be long: keep a short plain-text hint of it. */
export function plainTextHint(text: string, max: number): string {
  return text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max);
}

/**
 * A request the link's client refused to send (its host is outside the target's policy) or whose redirect it
 * refused to follow. Named 'TargetError' like the target's own permanent refusals, so every classifier, the
 * engine and the worker treat it as permanent, across a process boundary too; `code` says which refusal it is.
 * Its message names hosts only, never a path, query or header: those can carry user names and secrets.
 */
export class RequestRefusedError extends TargetError {
  constructor(
    readonly code: RefusalCode,
    message: string,
    status?: number,
  ) {
    super(message, status, [message]);
  }
}

export type RefusalCode = 'host_not_allowed' | 'redirect_refused';
const REFUSAL_CODES: readonly string[] = ['host_not_allowed', 'redirect_refused'];

/** The refusal behind `err`, also when a connector wrapped it (`cause`) or it crossed a process boundary. */
export function refusalOf(err: unknown): { code: RefusalCode; message: string } | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++, e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (e.name === 'TargetError' && typeof code === 'string' && REFUSAL_CODES.includes(code)) {
      return { code: code as RefusalCode, message: e.message };
    }
  }
  return undefined;
}

/** 3xx but 304 (an answer to a conditional request, not a move). */
export const isRedirect = (status: number | undefined): status is number =>
  status !== undefined && status >= 300 && status < 400 && status !== 304;

/**
 * A 3xx answer of a gated request, which is never followed: the next hop would carry the link's credentials
 * (Autotask's secret headers, a bearer key) to wherever the answer points, on an admission given for this one.
 */
export function redirectRefused(status: number, requestUrl: string, location: unknown): RequestRefusedError {
  const from = hostOf(requestUrl) ?? 'the target';
  const raw = Array.isArray(location) ? location[0] : location;
  const to =
    typeof raw === 'string' && raw ? (hostOf(raw, requestUrl) ?? 'an unreadable location') : undefined;
  const where = to ? `a redirect to ${to}` : 'a redirect without a Location';
  return new RequestRefusedError(
    'redirect_refused',
    `${from} answered ${status} with ${where}: redirects are not followed, so nothing was sent there (point the link at the final address)`,
    status,
  );
}

function hostOf(url: string, base?: string): string | undefined {
  try {
    return new URL(url, base).host || undefined;
  } catch {
    return undefined;
  }
}
