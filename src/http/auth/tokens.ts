import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type ApiToken, tokenDigest } from '../../config.ts';

/** A new bearer token (32 random bytes, base64url) and the `sha256:` digest `API_TOKENS` keeps of it. */
export function newToken(): { token: string; digest: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, digest: formatDigest(token) };
}

/** `sha256:<hex>`, as an `API_TOKENS` entry names a token. */
export const formatDigest = (token: string): string => `sha256:${tokenDigest(token).toString('hex')}`;

/**
 * The configured token a presented one is, or undefined. The presented token is hashed first, so every
 * comparison is of two 32-byte digests (no length to leak), and every configured token is compared (no early
 * exit): the time taken says nothing about which token, or how much of one, matched.
 */
export function matchToken(tokens: readonly ApiToken[], presented: string): ApiToken | undefined {
  const digest = tokenDigest(presented);
  let found: ApiToken | undefined;
  for (const t of tokens) {
    const same = timingSafeEqual(t.digest, digest);
    found = same && !found ? t : found;
  }
  return found;
}

/** What start-up says about tokens configured in plain text: where they are, never what they are. */
export function plainTokenWarning(tokens: readonly ApiToken[]): string | undefined {
  const plain = tokens.flatMap((t, i) =>
    t.plain ? [`entry ${i + 1} (${t.accountId}:${t.role}:${t.userId})`] : [],
  );
  if (plain.length === 0) return undefined;
  return `API_TOKENS holds ${plain.length} token(s) in plain text: ${plain.join(', ')}. They still work; replace each with its digest (printf %s "<token>" | billing-sync token --digest-stdin).`;
}
