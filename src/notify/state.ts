import type { StoreContext } from '../store/context.ts';
import type { Problem, ProblemKind } from './problems.ts';

/**
 * Hash kind → fingerprint of the problems already notified for a link. It lives under the link's namespace, so
 * an unlink's purge removes it with the rest of the link.
 */
export const notifiedKey = (ctx: StoreContext, accountId: string, linkId: string) =>
  `${ctx.keys.link(accountId, linkId)}:notified`;

/**
 * ARGV: n, then n (kind, fingerprint) pairs to claim, then the kinds to clear. Returns the kinds whose
 * fingerprint changed (to notify). One script, so two runs finishing together cannot both claim a problem.
 */
const CLAIM = `
local n = tonumber(ARGV[1])
local fresh = {}
for i = 0, n - 1 do
  local kind, fp = ARGV[2 + i * 2], ARGV[3 + i * 2]
  if redis.call('HGET', KEYS[1], kind) ~= fp then
    redis.call('HSET', KEYS[1], kind, fp)
    table.insert(fresh, kind)
  end
end
for i = 2 + n * 2, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
return fresh`;

/** Records the run's problems and clears the ones it saw gone; answers the problems not notified before. */
export async function claimProblems(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  problems: Problem[],
  cleared: ProblemKind[],
): Promise<Problem[]> {
  if (problems.length === 0 && cleared.length === 0) return [];
  const args = [String(problems.length), ...problems.flatMap((p) => [p.kind, p.fingerprint]), ...cleared];
  const fresh = (await ctx.redis.eval(CLAIM, 1, notifiedKey(ctx, accountId, linkId), ...args)) as string[];
  return problems.filter((p) => fresh.includes(p.kind));
}

/** Forgets a claim whose notification could not even be queued, so the next run tries again. */
export async function releaseProblem(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  problem: Problem,
): Promise<void> {
  await ctx.redis.hdel(notifiedKey(ctx, accountId, linkId), problem.kind);
}
