/**
 * Calendar days (`YYYY-MM-DD`) in the link's time zone. Every rule that says "today", "this month" or "final
 * from the 5th" means the partner's local day, never the UTC one: at 00:30 on 1 March in Amsterdam it is
 * March, though UTC still says February.
 */

/** True for an IANA zone name this runtime knows (`Europe/Amsterdam`, `UTC`). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The local calendar day of `at` in `timeZone`. */
export function localDay(timeZone: string, at: Date | number = Date.now()): string {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

export function addDays(day: string, n: number): string {
  const d = new Date(`${day.slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Start days are at most 28, so adding months to one never overflows into the following month. */
export function addMonths(day: string, n: number): string {
  const d = new Date(`${day.slice(0, 10)}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
}

/** `YYYY-MM` of a day. */
export const monthOf = (day: string): string => day.slice(0, 7);
export const monthStart = (day: string): string => `${day.slice(0, 7)}-01`;
export const nextMonthStart = (day: string): string => addMonths(monthStart(day), 1);

/** The last day of a `YYYY-MM` month. */
export function periodEnd(period: string): string {
  const [y, m] = period.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
}

/** Days in the month of `day` (for prorating by days). */
export const daysInMonth = (day: string): number => Number(periodEnd(monthOf(day)).slice(8, 10));

/** The later of two days. */
export const maxDay = (a: string, b: string): string => (a > b ? a : b);
export const minDay = (a: string, b: string): string => (a < b ? a : b);
export const clampDay = (day: string, min: string, max: string): string =>
  day < min ? min : day > max ? max : day;
