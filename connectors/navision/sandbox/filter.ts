import { odataError, syntaxError, unknownProperty } from './errors.ts';
import type { EntityDef, FieldDef, Kind } from './fields.ts';
import type { Wire } from './wire.ts';

/**
 * OData `$filter` as NAV and BC take it: `eq ne gt ge lt le`, `and or not`, parentheses, `startswith endswith
 * contains`; strings in single quotes (a quote inside doubled), dates, GUIDs and numbers unquoted. `or` across
 * different fields is refused (501 BadRequest_MethodNotImplemented), as both servers do: their filters become AL
 * record filters, which can only OR values of one field.
 */

type Literal =
  | { t: 'string'; v: string }
  | { t: 'number'; v: number }
  | { t: 'date'; v: string }
  | { t: 'datetime'; v: string }
  | { t: 'guid'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'null' };

type Node =
  | { k: 'cmp'; op: string; field: string; lit: Literal }
  | { k: 'fn'; fn: string; field: string; lit: Literal }
  | { k: 'and'; a: Node; b: Node }
  | { k: 'or'; a: Node; b: Node }
  | { k: 'not'; a: Node };

type Token = { t: 'id'; v: string } | { t: 'lit'; v: Literal } | { t: 'p'; v: '(' | ')' | ',' };

const LEX: [RegExp, (m: string) => Token][] = [
  [
    /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/,
    (m) => lit({ t: 'guid', v: m.toLowerCase() }),
  ],
  [/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})/, (m) => lit({ t: 'datetime', v: m })],
  [/^\d{4}-\d{2}-\d{2}/, (m) => lit({ t: 'date', v: m })],
  [/^-?\d+(\.\d+)?([eE][+-]?\d+)?[mMdDfFlL]?/, (m) => lit({ t: 'number', v: Number.parseFloat(m) })],
  [/^[A-Za-z_][A-Za-z0-9_.]*/, (m) => ({ t: 'id', v: m })],
];
function lit(v: Literal): Token {
  return { t: 'lit', v };
}

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',') {
      out.push({ t: 'p', v: c });
      i++;
      continue;
    }
    if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= s.length) throw syntaxError();
        if (s[i] === "'") {
          if (s[i + 1] === "'") {
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += s[i];
        i++;
      }
      out.push(lit({ t: 'string', v }));
      continue;
    }
    const rest = s.slice(i);
    const rule = LEX.find(([re]) => re.test(rest));
    if (!rule) throw syntaxError();
    const m = (rule[0].exec(rest) as RegExpExecArray)[0];
    const tok = rule[1](m);
    if (tok.t === 'id' && ['true', 'false', 'null'].includes(m)) {
      out.push(lit(m === 'null' ? { t: 'null' } : { t: 'bool', v: m === 'true' }));
    } else out.push(tok);
    i += m.length;
  }
  return out;
}

const CMP = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const FNS = new Set(['startswith', 'endswith', 'contains']);

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}
  parse(): Node {
    const n = this.or();
    if (this.i !== this.toks.length) throw syntaxError();
    return n;
  }
  private peekId(v: string): boolean {
    const t = this.toks[this.i];
    return t?.t === 'id' && t.v === v;
  }
  private next(): Token {
    const t = this.toks[this.i++];
    if (!t) throw syntaxError();
    return t;
  }
  private expectP(v: string): void {
    const t = this.next();
    if (t.t !== 'p' || t.v !== v) throw syntaxError();
  }
  private or(): Node {
    let a = this.and();
    while (this.peekId('or')) {
      this.i++;
      a = { k: 'or', a, b: this.and() };
    }
    return a;
  }
  private and(): Node {
    let a = this.unary();
    while (this.peekId('and')) {
      this.i++;
      a = { k: 'and', a, b: this.unary() };
    }
    return a;
  }
  private unary(): Node {
    if (this.peekId('not')) {
      this.i++;
      return { k: 'not', a: this.unary() };
    }
    const t = this.next();
    if (t.t === 'p' && t.v === '(') {
      const n = this.or();
      this.expectP(')');
      return n;
    }
    if (t.t !== 'id') throw syntaxError();
    if (FNS.has(t.v)) {
      this.expectP('(');
      const f = this.next();
      this.expectP(',');
      const l = this.next();
      this.expectP(')');
      if (f.t !== 'id' || l.t !== 'lit') throw syntaxError();
      const node: Node = { k: 'fn', fn: t.v, field: f.v, lit: l.v };
      // `startswith(Name,'A') eq true` is the same test.
      if (this.peekId('eq') || this.peekId('ne')) {
        const op = (this.next() as { v: string }).v;
        const b = this.next();
        if (b.t !== 'lit' || b.v.t !== 'bool') throw syntaxError();
        return b.v.v === (op === 'eq') ? node : { k: 'not', a: node };
      }
      return node;
    }
    const op = this.next();
    if (op.t !== 'id' || !CMP.has(op.v)) throw syntaxError();
    const l = this.next();
    if (l.t !== 'lit') throw syntaxError();
    return { k: 'cmp', op: op.v, field: t.v, lit: l.v };
  }
}

function fieldsOf(n: Node, into = new Set<string>()): Set<string> {
  if (n.k === 'cmp' || n.k === 'fn') into.add(n.field);
  else if (n.k === 'not') fieldsOf(n.a, into);
  else {
    fieldsOf(n.a, into);
    fieldsOf(n.b, into);
  }
  return into;
}

function checkOr(n: Node): void {
  if (n.k === 'or' && fieldsOf(n).size > 1)
    throw odataError(
      501,
      'BadRequest_MethodNotImplemented',
      "The 'OR' operator is not supported on distinct fields on an OData filter.",
    );
  if (n.k === 'and' || n.k === 'or') {
    checkOr(n.a);
    checkOr(n.b);
  } else if (n.k === 'not') checkOr(n.a);
}

const EDM: Record<Kind, string> = {
  code: 'Edm.String',
  text: 'Edm.String',
  option: 'Edm.String',
  decimal: 'Edm.Decimal',
  int: 'Edm.Int32',
  date: 'Edm.Date',
  datetime: 'Edm.DateTimeOffset',
  bool: 'Edm.Boolean',
  guid: 'Edm.Guid',
};
const LIT_EDM: Record<Literal['t'], string> = {
  string: 'Edm.String',
  number: 'Edm.Decimal',
  date: 'Edm.Date',
  datetime: 'Edm.DateTimeOffset',
  guid: 'Edm.Guid',
  bool: 'Edm.Boolean',
  null: 'null',
};
const ACCEPTS: Record<Kind, Literal['t'][]> = {
  code: ['string'],
  text: ['string'],
  option: ['string'],
  decimal: ['number'],
  int: ['number'],
  date: ['date'],
  datetime: ['datetime', 'date'],
  bool: ['bool'],
  guid: ['guid'],
};

type Pred = (row: Wire) => boolean;

function compileNode(def: EntityDef, n: Node): Pred {
  if (n.k === 'and' || n.k === 'or') {
    const [a, b] = [compileNode(def, n.a), compileNode(def, n.b)];
    return n.k === 'and' ? (r) => a(r) && b(r) : (r) => a(r) || b(r);
  }
  if (n.k === 'not') {
    const a = compileNode(def, n.a);
    return (r) => !a(r);
  }
  const f = def.fields.find((x) => x.name === n.field);
  if (!f) throw unknownProperty(n.field, `${def.namespace}.${def.type}`);
  const lit = n.lit;
  if (lit.t !== 'null' && !ACCEPTS[f.kind].includes(lit.t)) {
    const kind = n.k === 'cmp' ? OP_KIND[n.op] : n.fn;
    throw badTypes(EDM[f.kind], LIT_EDM[lit.t], kind ?? n.k);
  }
  const norm = normalizer(f);
  const want = lit.t === 'null' ? null : norm('v' in lit ? lit.v : null);
  if (n.k === 'fn') {
    if (!['code', 'text', 'option'].includes(f.kind) || typeof want !== 'string')
      throw badTypes(EDM[f.kind], 'Edm.String', n.fn);
    const test =
      n.fn === 'startswith'
        ? (s: string) => s.startsWith(want)
        : n.fn === 'endswith'
          ? (s: string) => s.endsWith(want)
          : (s: string) => s.includes(want);
    return (r) => test(String(norm(r[f.name]) ?? ''));
  }
  return (r) => {
    const have = norm(r[f.name]);
    if (want === null || have === null) {
      const same = want === have;
      return n.op === 'eq' ? same : n.op === 'ne' ? !same : false;
    }
    const c = have < want ? -1 : have > want ? 1 : 0;
    switch (n.op) {
      case 'eq':
        return c === 0;
      case 'ne':
        return c !== 0;
      case 'gt':
        return c > 0;
      case 'ge':
        return c >= 0;
      case 'lt':
        return c < 0;
      default:
        return c <= 0;
    }
  };
}

const OP_KIND: Record<string, string> = {
  eq: 'Equal',
  ne: 'NotEqual',
  gt: 'GreaterThan',
  ge: 'GreaterThanOrEqual',
  lt: 'LessThan',
  le: 'LessThanOrEqual',
};

const badTypes = (a: string, b: string, op: string) =>
  odataError(
    400,
    'BadRequest_NotFound',
    `A binary operator with incompatible types was detected. Found operand types '${a}' and '${b}' for operator kind '${op}'.`,
  );

/** Code values are stored upper-case, so a Code filter matches whatever case the client sends; Text is exact. */
function normalizer(f: FieldDef): (v: unknown) => string | number | boolean | null {
  return (v) => {
    if (v === null || v === undefined) return null;
    if (f.kind === 'code' && typeof v === 'string') return v.toUpperCase();
    if (f.kind === 'guid' && typeof v === 'string') return v.toLowerCase();
    if (f.kind === 'datetime' && typeof v === 'string') return new Date(v).toISOString();
    return v as string | number | boolean;
  };
}

/** Compiles a `$filter` value for an entity; validated up front so a bad filter fails even on an empty set. */
export function compileFilter(def: EntityDef, text: string | null): Pred {
  if (text === null || text.trim() === '') return () => true;
  const ast = new Parser(tokenize(text)).parse();
  checkOr(ast);
  return compileNode(def, ast);
}

/** The GUID a filter pins `field` to with `eq` (anded at the top level), if any: BC needs one for lines. */
export function pinnedValue(text: string | null, field: string): string | undefined {
  if (!text) return undefined;
  let ast: Node;
  try {
    ast = new Parser(tokenize(text)).parse();
  } catch {
    return undefined;
  }
  const walk = (n: Node): string | undefined => {
    if (n.k === 'cmp' && n.field === field && n.op === 'eq' && 'v' in n.lit) return String(n.lit.v);
    if (n.k === 'and') return walk(n.a) ?? walk(n.b);
    return undefined;
  };
  return walk(ast);
}
