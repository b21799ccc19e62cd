import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { reEscape, scanKeys } from '../store/scan.ts';
import { aadFor } from './links.ts';
import { swapSealed } from './reseal.ts';
import { Vault } from './vault.ts';

export interface RotationReport {
  keyId: string;
  rotated: { accountId: string; linkId: string; from: string }[];
  current: number;
  /** Ciphertexts that could not be opened with any listed key: left untouched, with the reason. */
  failed: { accountId: string; linkId: string; error: string }[];
}

/**
 * Re-encrypts every link's credentials with the current key (the first of CREDENTIALS_KEYS), so an old key can
 * be dropped from the list afterwards. Safe to run while workers run: each swap is compare-and-set.
 */
export async function rotateCredentials(ctx: StoreContext): Promise<RotationReport> {
  const { redis, keys, vault } = ctx;
  const report: RotationReport = { keyId: vault.currentKeyId, rotated: [], current: 0, failed: [] };
  const re = new RegExp(`^${reEscape(keys.prefix)}:\\{acct:([^}]+)\\}:link:([^:]+):credentials$`);
  await scanKeys(redis, `${keys.prefix}:{acct:*}:link:*:credentials`, async (found) => {
    for (const key of found) {
      const m = re.exec(key);
      if (!m) continue;
      const [, accountId, linkId] = m as unknown as [string, string, string];
      const sealed = await redis.get(key);
      if (!sealed) continue;
      if (!vault.isStale(sealed)) {
        report.current++;
        continue;
      }
      try {
        const from = Vault.keyIdOf(sealed) ?? '?';
        // Compare-and-set: a ciphertext replaced (lazily re-sealed) or destroyed (unlinked) meanwhile stays so.
        if (await swapSealed(redis, key, sealed, vault.reseal(sealed, aadFor(accountId, linkId)))) {
          report.rotated.push({ accountId, linkId, from });
        }
      } catch (error) {
        report.failed.push({ accountId, linkId, error: (error as Error).message });
      }
    }
  });
  const byAccount = new Map<string, string[]>();
  for (const r of report.rotated)
    byAccount.set(r.accountId, [...(byAccount.get(r.accountId) ?? []), r.linkId]);
  for (const [accountId, linkIds] of byAccount) {
    await appendAudit(redis, keys, accountId, {
      type: 'credentials.rotated',
      actor: { system: 'rotate-credentials' },
      data: { linkIds, keyId: vault.currentKeyId },
    });
  }
  return report;
}
