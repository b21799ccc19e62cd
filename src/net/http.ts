import axios from 'axios';

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
