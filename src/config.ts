import { createHash } from 'node:crypto';
import { z } from 'zod';
import { HOST_PATTERN } from './net/host-policy.ts';

/** Blank values count as unset, so `FOO=` in a .env file falls back to the default. */
const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const opt = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const ROLES = ['user', 'company_admin', 'reseller', 'operator'] as const;
const role = z.enum(ROLES);
export type Role = z.infer<typeof role>;
/** An Azure region name as configured, e.g. `westeurope`. */
const region = /^[a-z][a-z0-9-]{1,40}$/;
/** Comma-separated host patterns (src/net/host-policy.ts): `127.0.0.1:8443`, `bc.sandbox.example`, `*.example`. */
const hostList = z
  .string()
  .default('')
  .transform((raw, ctx) => {
    const hosts = raw
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    if (hosts.every((h) => HOST_PATTERN.test(h))) return hosts;
    // On the variable itself (not an index), so the problem names it and shows what it got.
    ctx.addIssue({ code: 'custom', message: 'each entry must be host, host:port or *.domain' });
    return z.NEVER;
  });

/** An `API_TOKENS` entry: who a bearer token speaks for. Only the token's SHA-256 is kept. */
export interface ApiToken {
  /** SHA-256 of the token (32 bytes). */
  digest: Buffer;
  accountId: string;
  role: Role;
  userId: string;
  /** Configured as the token itself rather than its digest (still accepted; start-up warns). */
  plain: boolean;
}

/** The digest `API_TOKENS` holds for a token: SHA-256 of its UTF-8 bytes. */
export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * `API_TOKENS=sha256:<64 hex>=accountId:role:userId,…` — the digest of each token, never the token (make one with
 * `billing-sync token`). `*` as account means every account, for operators only. A plain `<token of 16+ chars>`
 * in place of the digest is still read (hashed here; start-up warns).
 */
const apiTokens = z.string().transform((raw, ctx) => {
  const out: ApiToken[] = [];
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const [i, entry] of entries.entries()) {
    const m = /^([^=]{16,})=([^:]+):([^:]+):([^:]+)$/.exec(entry);
    const parsedRole = role.safeParse(m?.[3]);
    if (!m || !parsedRole.success) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${i + 1}: each entry must be sha256:<64 hex digits>=<accountId>:<role>:<userId>, role one of ${role.options.join('|')}`,
      });
      return z.NEVER;
    }
    const digest = /^sha256:([0-9a-fA-F]{64})$/.exec(m[1]!);
    if (!digest && /^sha256:/i.test(m[1]!)) {
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1}: a sha256: digest is 64 hex digits` });
      return z.NEVER;
    }
    if (m[2] === '*' && parsedRole.data !== 'operator') {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${i + 1}: only an operator may hold every account (*)`,
      });
      return z.NEVER;
    }
    const token: ApiToken = {
      digest: digest ? Buffer.from(digest[1]!, 'hex') : tokenDigest(m[1]!),
      accountId: m[2]!,
      role: parsedRole.data,
      userId: m[4]!,
      plain: !digest,
    };
    if (out.some((t) => t.digest.equals(token.digest))) {
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1}: the same token is configured twice` });
      return z.NEVER;
    }
    out.push(token);
  }
  return out;
});

/** `API_TRUST_PROXY`: a hop count, or the proxies' addresses/CIDRs (never "any", which would trust a forged header). */
const trustProxy = z.string().transform((raw, ctx) => {
  if (/^\d{1,2}$/.test(raw.trim())) return Number(raw.trim());
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (
    list.length === 0 ||
    list.some((a) => !/^(loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(\/\d{1,3})?)$/.test(a))
  ) {
    ctx.addIssue({ code: 'custom', message: 'a hop count, or comma-separated proxy addresses or CIDRs' });
    return z.NEVER;
  }
  return list;
});

/** The JWKS is fetched over https; plain http only on the loopback interface (a local IdP, the tests). */
const jwksUrl = z
  .string()
  .url()
  .refine((u) => {
    const url = new URL(u);
    return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  }, 'must be an https:// URL (http only on 127.0.0.1, ::1 or localhost)');

const JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];
const claimName = z.string().regex(/^[\w:/.~-]{1,200}$/, 'a claim name');

/** `CREDENTIALS_KEYS=kid:base64key[,oldkid:base64key…]` — the first key encrypts, all decrypt. */
const credentialKeys = z.string().transform((raw, ctx) => {
  const out: { id: string; key: Buffer }[] = [];
  for (const entry of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [id, b64] = entry.split(':');
    const key = b64 ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
    if (!id || !/^[A-Za-z0-9_-]{1,32}$/.test(id) || key.length !== 32) {
      ctx.addIssue({ code: 'custom', message: 'each entry must be <keyId>:<base64 of exactly 32 bytes>' });
      return z.NEVER;
    }
    out.push({ id, key });
  }
  if (out.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'at least one key is required' });
    return z.NEVER;
  }
  return out;
});

const ConfigFields = z.object({
  REDIS_URL: opt(z.string().url().default('redis://127.0.0.1:6379')),
  REDIS_PREFIX: opt(
    z
      .string()
      .regex(/^[a-z0-9_-]+$/i)
      .default('bs'),
  ),
  REDIS_ALLOW_EVICTION: opt(bool.default(false)),
  CREDENTIALS_KEYS: opt(credentialKeys),
  // HMAC keys of the audit chain, same grammar (first signs, all verify). Unset: derived from CREDENTIALS_KEYS
  // with HKDF (src/store/audit-keys.ts says why); set it in production so the two rotate apart.
  AUDIT_KEYS: opt(credentialKeys.optional()),
  SPINPANEL_API_URL: opt(z.string().url().default('https://api.spinpanel.example/v1')),
  AUTOTASK_ZONE_LOOKUP_URL: opt(
    z.string().url().default('https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation'),
  ),
  // Hosts a sandbox adds to the targets' own (Autotask zones: *.autotask.net; BC online: Microsoft's), over
  // http too. Empty in production: credentials then go over https to the target's own hosts only.
  AUTOTASK_ALLOWED_HOSTS: opt(hostList),
  NAVISION_ALLOWED_HOSTS: opt(hostList),
  API_HOST: opt(z.string().default('127.0.0.1')),
  API_PORT: opt(z.coerce.number().int().min(0).max(65535).default(8080)),
  API_TOKENS: opt(apiTokens.default([])),
  // Admin API hardening (README "Admin API"): client address, failed-authentication limit, server timeouts.
  API_TRUST_PROXY: opt(trustProxy.optional()),
  API_AUTH_FAILURES_MAX: opt(z.coerce.number().int().min(1).max(10_000).default(20)),
  API_AUTH_FAILURES_WINDOW_SECONDS: opt(z.coerce.number().int().min(1).max(86_400).default(60)),
  API_HEADERS_TIMEOUT_MS: opt(z.coerce.number().int().min(100).max(600_000).default(10_000)),
  API_REQUEST_TIMEOUT_MS: opt(z.coerce.number().int().min(100).max(600_000).default(30_000)),
  API_KEEP_ALIVE_TIMEOUT_MS: opt(z.coerce.number().int().min(100).max(600_000).default(72_000)),
  // OIDC/JWT bearer tokens (all three of issuer, audience and JWKS URL, or none): the production option.
  OIDC_ISSUER: opt(z.string().min(1).optional()),
  OIDC_AUDIENCE: opt(z.string().min(1).optional()),
  OIDC_JWKS_URL: opt(jwksUrl.optional()),
  OIDC_ALGORITHMS: opt(
    z
      .string()
      .default('RS256,ES256')
      .transform((s) =>
        s
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.enum(JWS_ALGORITHMS)).min(1)),
  ),
  OIDC_ACCOUNT_CLAIM: opt(claimName.default('billing_sync_account')),
  OIDC_ROLE_CLAIM: opt(claimName.default('billing_sync_role')),
  OIDC_USER_CLAIM: opt(claimName.default('sub')),
  POLICY_VERSION: opt(z.string().default('2024-06')),
  SYNC_INTERVAL_MINUTES: opt(z.coerce.number().int().min(5).max(1440).default(60)),
  SYNC_CONCURRENCY: opt(z.coerce.number().int().min(1).max(64).default(4)),
  SYNC_ATTEMPTS: opt(z.coerce.number().int().min(1).max(20).default(5)),
  SYNC_BACKOFF_MS: opt(z.coerce.number().int().min(10).default(5000)),
  SYNC_LOCK_TTL_MS: opt(z.coerce.number().int().min(1000).default(30000)),
  HTTP_TIMEOUT_MS: opt(z.coerce.number().int().min(100).default(30000)),
  REVOKE_WAIT_MS: opt(z.coerce.number().int().min(0).max(120000).default(10000)),
  SYNC_APPLY_CONCURRENCY: opt(z.coerce.number().int().min(1).max(32).default(6)),
  AUTOTASK_BUDGET_RESERVE: opt(z.coerce.number().min(0).max(0.49).default(0.1)),
  AUTOTASK_BUDGET_SPACING_MS: opt(z.coerce.number().int().min(0).max(60_000).default(500)),
  // Privacy: residency, the SpinPanel webhook, retention (see README "Privacy and data rights").
  DATA_REGION: opt(z.string().regex(region).default('westeurope')),
  ALLOWED_REGIONS: opt(
    z
      .string()
      .default('westeurope,northeurope')
      .transform((s) =>
        s
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(region)).min(1)),
  ),
  SPINPANEL_WEBHOOK_SECRET: opt(z.string().min(16).optional()),
  SPINPANEL_WEBHOOK_TOLERANCE_SECONDS: opt(z.coerce.number().int().min(10).max(3600).default(300)),
  // Problem notifications (README "Notifications"): the operator's own endpoint and the secret its bodies are signed with.
  NOTIFY_WEBHOOK_URL: opt(z.string().url().optional()),
  NOTIFY_WEBHOOK_SECRET: opt(z.string().min(16).optional()),
  // At most the 90-day TTL every run record is written with (src/sync/runs.ts); the sweeper only shortens it.
  RETENTION_RUNS_DAYS: opt(z.coerce.number().positive().max(90).default(90)),
  // Run records of a link beyond its last N keep counts and only the reconciliation lines that changed or failed.
  RUN_FULL_DETAIL_RUNS: opt(z.coerce.number().int().min(0).max(1000).default(10)),
  RETENTION_QUARANTINE_DAYS: opt(z.coerce.number().positive().max(3650).default(30)),
  RETENTION_SNAPSHOT_HOURS: opt(z.coerce.number().positive().max(8760).default(24)),
  RETENTION_LOGS_DAYS: opt(z.coerce.number().positive().max(3650).default(30)),
  RETENTION_SWEEP_MINUTES: opt(z.coerce.number().int().min(1).max(1440).default(60)),
  LOG_LEVEL: opt(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  // Operations (README "Operations"): readiness, a worker process's own /metrics port, the queue dashboard.
  READY_WORKERS_MIN: opt(z.coerce.number().int().min(0).max(10_000).default(1)),
  READY_TIMEOUT_MS: opt(z.coerce.number().int().min(100).max(30_000).default(2000)),
  METRICS_HOST: opt(z.string().default('127.0.0.1')),
  METRICS_PORT: opt(z.coerce.number().int().min(1).max(65535).optional()),
  OPS_DASHBOARD: opt(bool.default(true)),
});

/** Checks across variables; `.shape` stays the fields' (test/unit/env-example.test.ts reads it). */
export const ConfigSchema = ConfigFields.superRefine((c, ctx) => {
  const oidc = ['OIDC_ISSUER', 'OIDC_AUDIENCE', 'OIDC_JWKS_URL'] as const;
  if (oidc.some((k) => c[k] !== undefined)) {
    for (const k of oidc.filter((k) => c[k] === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [k],
        message: `is required with ${oidc.filter((o) => o !== k).join(', ')}`,
      });
  }
  if ((c.NOTIFY_WEBHOOK_URL === undefined) !== (c.NOTIFY_WEBHOOK_SECRET === undefined)) {
    const missing = c.NOTIFY_WEBHOOK_URL === undefined ? 'NOTIFY_WEBHOOK_URL' : 'NOTIFY_WEBHOOK_SECRET';
    const other = missing === 'NOTIFY_WEBHOOK_URL' ? 'NOTIFY_WEBHOOK_SECRET' : 'NOTIFY_WEBHOOK_URL';
    ctx.addIssue({ code: 'custom', path: [missing], message: `is required with ${other}` });
  }
  if (c.API_HEADERS_TIMEOUT_MS > c.API_REQUEST_TIMEOUT_MS)
    ctx.addIssue({
      code: 'custom',
      path: ['API_HEADERS_TIMEOUT_MS'],
      message: 'must not exceed API_REQUEST_TIMEOUT_MS',
    });
});

const SECRET_VARS = new Set([
  'CREDENTIALS_KEYS',
  'AUDIT_KEYS',
  'API_TOKENS',
  'REDIS_URL',
  'SPINPANEL_WEBHOOK_SECRET',
  'NOTIFY_WEBHOOK_SECRET',
]);

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parse the environment once at start-up; every bad variable is listed, not just the first. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = ConfigSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const unset = blankToUndefined(env[name]) === undefined;
    // Secrets are never echoed back, even when malformed.
    const shown = SECRET_VARS.has(name) ? '' : ` (got ${JSON.stringify(env[name]?.slice(0, 60))})`;
    const msg = unset ? 'is required' : `${issue.message}${shown}`;
    return `${name}: ${msg}`;
  });
  throw new ConfigError(problems);
}
