import axios, { type AxiosError } from 'axios';
import { isCancellation, parseRetryAfter, plainTextHint } from '../../src/net/http.ts';
import {
  type Classified,
  CredentialsRejectedError,
  type FailureKind,
  isBudgetExhausted,
  TargetError,
} from '../types.ts';

/**
 * A failed NAV / Business Central request. `name` stays 'TargetError' (it is one, and the sync engine matches
 * it by name); the extra fields let `classifyNavisionError` decide without the response. `targetMessages` hold
 * the target's own words without the trailing "CorrelationId: …", which is kept in `correlationId`.
 */
export class NavisionError extends TargetError {
  constructor(
    message: string,
    status: number | undefined,
    targetMessages: string[],
    readonly failure: FailureKind,
    readonly code?: string,
    readonly correlationId?: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, status, targetMessages, options);
  }
}

/**
 * A write refused because the record changed since it was read (409/412, `Request_EntityChanged` "Another user
 * has already changed the record."): the caller re-reads the record and decides again, never retries as is.
 */
export class EntityChangedError extends NavisionError {}

export const isEntityChanged = (e: unknown): e is NavisionError =>
  e instanceof EntityChangedError ||
  (e instanceof Error &&
    e.name === 'TargetError' &&
    (e as Partial<NavisionError>).code === 'Request_EntityChanged');

/** Codes that fail the same way however often they are sent. */
const PERMANENT_CODES = new Set(['Application_StringExceededLength', 'Authentication_InvalidCredentials']);
/** "…a record in the Sales Header table was locked by another user. Please retry the activity." */
const LOCKED = /locked by another user/i;
const CORRELATION = /\s*CorrelationId:\s*([\w-]+)\.?\s*$/i;

export interface TargetWords {
  code?: string;
  message?: string;
  correlationId?: string;
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (s: string) => s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => XML_ENTITIES[e]!);

/**
 * The target's words from an error body: OData JSON `{"error":{"code","message"}}`, the older XML
 * `<m:error>`, Entra ID's `{"error":"invalid_client","error_description":…}`, or a short plain-text hint of
 * anything else (a proxy's HTML page).
 */
export function targetWords(data: unknown): TargetWords {
  let body = data;
  if (typeof data === 'string') {
    const text = data.trim();
    if (text.startsWith('<')) {
      const code = /<(?:\w+:)?code>([^<]*)</.exec(text)?.[1];
      const message = /<(?:\w+:)?message(?:\s[^>]*)?>([^<]*)</.exec(text)?.[1];
      if (code !== undefined || message !== undefined) {
        return split(code && unescapeXml(code), message && unescapeXml(message));
      }
    }
    try {
      body = JSON.parse(text);
    } catch {
      const hint = plainTextHint(text, 300);
      return hint ? { message: hint } : {};
    }
  }
  if (typeof body !== 'object' || body === null) return {};
  const { error, error_description: description } = body as Record<string, unknown>;
  if (typeof error === 'object' && error !== null) {
    const e = error as Record<string, unknown>;
    return split(str(e.code), str(e.message));
  }
  if (typeof error === 'string') {
    // Entra ID: keep the first line (the AADSTS text); trace and correlation ids follow on their own lines.
    const first = typeof description === 'string' ? description.split(/\r?\n/)[0]?.trim() : undefined;
    return { code: error, ...(first ? { message: first } : {}) };
  }
  const message = str((body as Record<string, unknown>).message);
  return message ? split(undefined, message) : {};
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function split(code: string | undefined, message: string | undefined): TargetWords {
  const out: TargetWords = {};
  if (code) out.code = code;
  if (message) {
    const m = CORRELATION.exec(message);
    if (m) out.correlationId = m[1];
    const text = m ? message.slice(0, m.index).trim() : message.trim();
    if (text) out.message = text;
  }
  return out;
}

/** The one place that decides how a status and the target's words are handled. */
export function failureKind(
  status: number | undefined,
  words: TargetWords,
  retryAfterMs: number | undefined,
): FailureKind {
  if (status === 429) return 'throttled';
  // BC answers 503 with Retry-After when a request waited too long in its queue: wait as asked.
  if (status === 503 && retryAfterMs !== undefined) return 'throttled';
  if (words.code && PERMANENT_CODES.has(words.code)) return 'permanent';
  if (words.message && LOCKED.test(words.message)) return 'transient';
  if (status === undefined || status === 408 || status >= 500) return 'transient';
  return 'permanent';
}

/** Cuts every secret out of a text (keys, passwords, tokens never reach a message or a log). */
export function redactor(secrets: readonly string[]): (s: string) => string {
  const list = secrets.filter((s) => s.length >= 4);
  return (s) => list.reduce((out, secret) => out.split(secret).join('***'), s);
}

/**
 * Turns an axios failure into a NavisionError (an EntityChangedError for 409/412 on a write). `label` names the
 * request without host or query (which may hold customer names). Cancellations and non-axios errors are the
 * caller's to pass through.
 */
export function toNavisionError(
  err: AxiosError,
  method: string,
  label: string,
  secrets: readonly string[] = [],
): NavisionError {
  const redact = redactor(secrets);
  // The original holds the request config and its Authorization header: keep only what is safe to log.
  const cause = Object.assign(new Error(redact(err.message)), { name: err.name, code: err.code });
  const res = err.response;
  const what = `NAV/BC ${method.toUpperCase()} ${label}`;
  if (!res) {
    return new NavisionError(
      `${what} failed: ${err.code ?? 'network error'}: ${redact(err.message)}`,
      undefined,
      [],
      'transient',
      undefined,
      undefined,
      undefined,
      { cause },
    );
  }
  const raw = targetWords(res.data);
  const words: TargetWords = {
    ...raw,
    ...(raw.message ? { message: redact(raw.message) } : {}),
  };
  const retryAfterMs = parseRetryAfter(res.headers?.['retry-after']);
  const kind = failureKind(res.status, words, retryAfterMs);
  const text = [words.code, words.message].filter(Boolean).join(': ') || res.statusText || 'no message';
  const write = !['GET', 'HEAD'].includes(method.toUpperCase());
  // A lock timeout can come as a 409 too: that one is transient, not a changed record.
  const changed = write && (res.status === 409 || res.status === 412) && kind === 'permanent';
  const Type = changed ? EntityChangedError : NavisionError;
  return new Type(
    `${what} failed (${res.status}): ${text}`,
    res.status,
    words.message ? [words.message] : [],
    kind,
    words.code,
    words.correlationId,
    retryAfterMs,
    { cause },
  );
}

/** A throttled TargetError that crossed a process boundary no longer says how long to wait. */
const DEFAULT_THROTTLE_WAIT_MS = 1000;

/**
 * Decides once how a failure is handled, for the client's retries, the engine and the worker alike:
 * - throttled: 429 (with or without Retry-After) and 503 with Retry-After — `waitMs` only when the target said
 *   how long, else the retry helper backs off;
 * - transient: network errors, 408, 5xx, lock timeouts ("…locked by another user…");
 * - permanent: other 4xx (400, a 401 that a token refresh did not cure, 403, 404, a 409/412 after re-reading),
 *   `Application_StringExceededLength`, `Authentication_InvalidCredentials`, malformed answers, programming
 *   errors (FilterError);
 * - cancelled (the run was stopped) and budget (the request budget is spent) end the call at once.
 */
export function classifyNavisionError(err: unknown): Classified {
  if (isBudgetExhausted(err))
    return { kind: 'budget', waitMs: Math.max(0, err.retryAt - Date.now()), message: err.message };
  if (axios.isAxiosError(err) && !axios.isCancel(err)) {
    err = toNavisionError(err, err.config?.method ?? '', 'request');
  }
  const message = err instanceof Error ? err.message : String(err);
  if (isCancellation(err)) return { kind: 'cancelled', message };
  if (err instanceof NavisionError) {
    const wait = err.failure === 'throttled' || err.failure === 'transient' ? err.retryAfterMs : undefined;
    return wait !== undefined ? { kind: err.failure, waitMs: wait, message } : { kind: err.failure, message };
  }
  // A TargetError that crossed a process boundary keeps its name, status and messages (and our code).
  if (err instanceof Error && err.name === 'TargetError') {
    const t = err as Partial<NavisionError>;
    const words: TargetWords = {
      ...(typeof t.code === 'string' ? { code: t.code } : {}),
      ...(Array.isArray(t.targetMessages) && t.targetMessages[0] ? { message: t.targetMessages[0] } : {}),
    };
    const kind = t.status === undefined ? 'permanent' : failureKind(t.status, words, undefined);
    return kind === 'throttled' ? { kind, waitMs: DEFAULT_THROTTLE_WAIT_MS, message } : { kind, message };
  }
  return { kind: 'permanent', message };
}

/** Entra ID's answers to a token request with bad client credentials. */
const TOKEN_REFUSALS = new Set(['invalid_client', 'unauthorized_client', 'invalid_request', 'invalid_scope']);

/**
 * A definite refusal of the credentials (401/403, `Authentication_InvalidCredentials`, Entra ID refusing the
 * client) as CredentialsRejectedError quoting the target, for `verify`; undefined for anything else.
 */
export function credentialsRejected(err: unknown): CredentialsRejectedError | undefined {
  if (!(err instanceof NavisionError)) return undefined;
  const refused =
    err.status === 401 ||
    err.status === 403 ||
    err.code === 'Authentication_InvalidCredentials' ||
    (err.code !== undefined && TOKEN_REFUSALS.has(err.code));
  if (!refused) return undefined;
  const words = [err.code, ...err.targetMessages].filter(Boolean).join(': ') || `HTTP ${err.status}`;
  return new CredentialsRejectedError(words, { cause: err });
}
