import { syntaxError } from './errors.ts';
import type { EntityDef } from './fields.ts';
import { isGuid } from './wire.ts';

/** OData path segments: `Name` or `Name(key)`, keys positional or named, string literals with `''`. */

export type KeyValues = Record<string, string | number>;

export interface Segment {
  name: string;
  /** Raw text between the parentheses, still percent-encoded; undefined without parentheses. */
  rawKey?: string;
}

export function splitSegment(raw: string): Segment {
  const open = raw.indexOf('(');
  if (open < 0) return { name: safeDecode(raw) };
  if (!raw.endsWith(')')) throw syntaxError();
  return { name: safeDecode(raw.slice(0, open)), rawKey: raw.slice(open + 1, -1) };
}

export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw syntaxError();
  }
}

/** Splits on commas outside quoted literals. */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (const c of s) {
    if (c === "'") quoted = !quoted;
    if (c === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

function literal(v: string): string | number {
  const t = v.trim();
  if (t.length >= 2 && t.startsWith("'") && t.endsWith("'")) {
    const inner = t.slice(1, -1);
    if (inner.replaceAll("''", '').includes("'")) throw syntaxError();
    return inner.replaceAll("''", "'");
  }
  if (isGuid(t)) return t.toLowerCase();
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  throw syntaxError();
}

/** The key values of `Entity(…)` for an entity's key fields (named or in key order). */
export function parseKey(rawKey: string, def: EntityDef): KeyValues {
  const parts = splitTop(safeDecode(rawKey));
  const out: KeyValues = {};
  parts.forEach((p, i) => {
    const eq = p.search(/=(?=(?:[^']*'[^']*')*[^']*$)/);
    const name = eq >= 0 ? p.slice(0, eq).trim() : def.keys[i];
    const value = eq >= 0 ? p.slice(eq + 1) : p;
    if (!name || !def.keys.includes(name) || name in out) throw syntaxError();
    out[name] = literal(value);
  });
  if (def.keys.some((k) => !(k in out))) throw syntaxError();
  return out;
}

/** `No.='1001'` style key text for NAV's "does not exist" messages. */
export const keyText = (k: KeyValues): string =>
  Object.entries(k)
    .map(([n, v]) => `${n.replaceAll('_', ' ')}='${v}'`)
    .join(',');

/**
 * The company named by a raw `Company(…)` key. NAV matches the quotes on the raw URL: literal quotes delimit the
 * name, which is then percent-decoded with `''` standing for one quote. Percent-encoded quotes (`%27`) do not
 * delimit anything, and NAV then silently falls back to its default company: `'default'` is returned for that.
 */
export function companyKey(rawKey: string): string | 'default' {
  const key = rawKey.replace(/^Name=/, '');
  if (/^%27/i.test(key)) return 'default';
  if (!(key.length >= 2 && key.startsWith("'") && key.endsWith("'"))) throw syntaxError();
  const inner = key.slice(1, -1);
  if (inner.replaceAll("''", '').includes("'")) throw syntaxError();
  return safeDecode(inner.replaceAll("''", "'"));
}

/** A company name in a NAV URL: quotes literal, `'` doubled, the name itself percent-encoded. */
export const companySegment = (name: string): string =>
  `Company('${encodeURIComponent(name.replaceAll("'", "''"))}')`;
