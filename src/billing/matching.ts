import type { TargetId } from './types.ts';

/** A target record a customer could be billed to (Autotask company, NAV customer), as the connector read it. */
export interface PartyCandidate {
  id: TargetId;
  name: string;
  active: boolean;
  /** A customer kind of record (Autotask: not a vendor, prospect or lead). */
  customerKind: boolean;
  /** The Microsoft tenant id the target keeps on the record (a UDF, a field), when the link names one. */
  tenantId?: string;
}

export interface Suggestion {
  id: TargetId;
  name: string;
  /** Similarity of the names, 0–1. */
  score: number;
}

export type PartyMatch =
  | { ok: PartyCandidate; via: 'mapping' | 'ledger' | 'tenant' | 'name' }
  | { reason: string; suggestions: Suggestion[] };

const normalised = new Map<string, string>();

/**
 * Names compared case- and space-insensitively (and in one Unicode form), the same on every run. Remembered
 * (up to 100,000 names): matching thousands of customers against thousands of records asks for each many times.
 */
export function normalName(name: string): string {
  let n = normalised.get(name);
  if (n === undefined) {
    n = name.normalize('NFKC').toLowerCase().replace(/\s+/g, '');
    if (normalised.size >= 100_000) normalised.clear();
    normalised.set(name, n);
  }
  return n;
}

const sameText = (a: string | undefined, b: string): boolean =>
  a !== undefined && a.trim().toLowerCase() === b.trim().toLowerCase();

function bigrams(s: string): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < s.length - 1; i++) {
    const g = s.slice(i, i + 2);
    out.set(g, (out.get(g) ?? 0) + 1);
  }
  return out;
}

/** Dice similarity of two names' letter pairs; a name that begins with the other scores at least 0.8. */
export function similarity(a: string, b: string): number {
  const x = normalName(a);
  const y = normalName(b);
  if (x === y) return 1;
  if (x.length < 2 || y.length < 2) return 0;
  const gx = bigrams(x);
  const gy = bigrams(y);
  let shared = 0;
  for (const [g, n] of gx) shared += Math.min(n, gy.get(g) ?? 0);
  const dice = (2 * shared) / (x.length - 1 + (y.length - 1));
  const prefix = x.startsWith(y) || y.startsWith(x) ? 0.8 : 0;
  return Math.round(Math.max(dice, prefix) * 1000) / 1000;
}

/** The closest eligible names, best first (ties by id), at most `max`, none below `min`. */
export function suggest(
  name: string,
  candidates: readonly PartyCandidate[],
  max = 3,
  min = 0.5,
): Suggestion[] {
  return candidates
    .filter((c) => c.active && c.customerKind)
    .map((c) => ({ id: c.id, name: c.name, score: similarity(name, c.name) }))
    .filter((s) => s.score >= min)
    .sort((a, b) => b.score - a.score || String(a.id).localeCompare(String(b.id)))
    .slice(0, max);
}

export interface MatchInput {
  customerId: string;
  name: string;
  microsoftTenantId: string;
}

export interface MatchOptions {
  /** The admin's mapping; null: a mapped id that is not valid for the target. */
  mappedId?: TargetId | null;
  /** The party an earlier run matched and billed the customer to. */
  ledgerId?: TargetId;
  /** Label of the field holding the tenant id (for messages); unset: tenants are not compared. */
  tenantField?: string;
  /** The target's name for messages, e.g. "Autotask company". */
  noun: string;
}

/**
 * Customer → billing party: the mapped id (which must exist), else the party the ledger remembers, else the one
 * active customer-kind record holding the customer's tenant id, else the one with its name (case- and
 * space-insensitive). Never a guess: none or several is a reason with the closest names as suggestions, which
 * are shown, never applied.
 */
export function matchParty(
  customer: MatchInput,
  candidates: readonly PartyCandidate[],
  opts: MatchOptions,
): PartyMatch {
  const { noun } = opts;
  const byId = (id: TargetId) => candidates.find((c) => String(c.id) === String(id));
  const fail = (reason: string): PartyMatch => ({ reason, suggestions: suggest(customer.name, candidates) });
  if (opts.mappedId === null) return fail(`the mapped ${noun} id is not valid`);
  if (opts.mappedId !== undefined) {
    const c = byId(opts.mappedId);
    if (!c) return fail(`${noun} ${opts.mappedId} (mapped) does not exist`);
    if (!c.active) return fail(`${noun} ${opts.mappedId} (mapped) is inactive`);
    return { ok: c, via: 'mapping' };
  }
  const eligible = candidates.filter((c) => c.active && c.customerKind);
  if (opts.ledgerId !== undefined) {
    const c = eligible.find((e) => String(e.id) === String(opts.ledgerId));
    if (c && (!opts.tenantField || !c.tenantId || sameText(c.tenantId, customer.microsoftTenantId))) {
      return { ok: c, via: 'ledger' };
    }
  }
  const tenant = customer.microsoftTenantId;
  if (opts.tenantField) {
    const byTenant = eligible.filter((c) => sameText(c.tenantId, tenant));
    if (byTenant.length === 1) return { ok: byTenant[0]!, via: 'tenant' };
    if (byTenant.length > 1) {
      return fail(
        `${byTenant.length} ${noun} records hold tenant ${tenant} in "${opts.tenantField}"; map the customer to one`,
      );
    }
  }
  const name = normalName(customer.name);
  const found = eligible.filter((c) => normalName(c.name) === name);
  if (found.length === 1) {
    const other = found[0]!.tenantId;
    // The name matches but the record says it is another tenant: two customers share a name.
    if (opts.tenantField && other && !sameText(other, tenant)) {
      return fail(
        `the ${noun} named "${found[0]!.name}" holds tenant ${other} in "${opts.tenantField}", not ${tenant}; map the customer to one`,
      );
    }
    return { ok: found[0]!, via: 'name' };
  }
  return fail(
    found.length === 0
      ? `no active customer ${noun} named "${customer.name.trim()}"${opts.tenantField ? ` or holding its tenant id in "${opts.tenantField}"` : ''}; map the customer`
      : `${found.length} ${noun} records named "${customer.name.trim()}"; map the customer to one`,
  );
}
