/** Autotask accepts a date or a date-time; the sandbox keeps the date part, as the UI shows it. */
const DATE_PREFIX = /^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])/;

/** YYYY-MM-DD of a date or ISO date-time string, or undefined when it is not a real calendar date. */
export function toDay(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = DATE_PREFIX.exec(value);
  if (!m) return undefined;
  const day = `${m[1]}-${m[2]}-${m[3]}`;
  const t = Date.parse(`${day}T00:00:00Z`);
  return Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== day ? undefined : day;
}

/** How Autotask renders a date field: a UTC midnight date-time. */
export const wireDate = (day: string): string => `${day}T00:00:00Z`;

export const dayOf = (wire: string): string => wire.slice(0, 10);

export function addDays(day: string, n: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Last day of the calendar month that contains `day`. */
export function monthEnd(day: string): string {
  const d = new Date(`${day.slice(0, 7)}-01T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + 1, 0);
  return d.toISOString().slice(0, 10);
}

export const utcToday = (): string => new Date().toISOString().slice(0, 10);
