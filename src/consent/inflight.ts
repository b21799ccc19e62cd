import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.ts';

/**
 * A token on the wire is forgotten this long after its own HTTP timeout: by then its request has been answered or
 * has timed out, so a token still there belongs to a process that died without removing it.
 */
export const STALE_MARGIN_MS = 5_000;

/**
 * Check-and-register in one step, so a revocation (which changes status and epoch in one MULTI) either comes
 * before — and the request is refused — or after, and then finds the token and waits for it. Scores are
 * deadlines on Redis's clock, so every process agrees on what is stale.
 * KEYS: link hash, in-flight zset. ARGV: epoch, token, lifetime ms. Returns 'ok' or why the gate is closed.
 */
const ADMIT = `
local s = redis.call('HMGET', KEYS[1], 'status', 'epoch')
if not s[1] then return 'the link no longer exists' end
if s[1] ~= 'active' then return 'the link is ' .. s[1] end
if tonumber(s[2]) ~= tonumber(ARGV[1]) then
  return 'the link changed (epoch ' .. tostring(s[2]) .. ', work started under ' .. ARGV[1] .. ')'
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local life = tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], now + life, ARGV[2])
if redis.call('PTTL', KEYS[2]) < life then redis.call('PEXPIRE', KEYS[2], life) end
return 'ok'`;

/** Drops stale tokens; returns { live tokens, stale tokens dropped }. KEYS: in-flight zset. */
const SWEEP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stale = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return { redis.call('ZCARD', KEYS[1]), stale }`;

export interface InflightRef {
  accountId: string;
  linkId: string;
  epoch: number;
}

/** Registers a request token when the link may act under `ref.epoch`; otherwise returns the reason it may not. */
export async function admit(
  redis: Redis,
  keys: Keys,
  ref: InflightRef,
  token: string,
  timeoutMs: number,
): Promise<'ok' | string> {
  return (await redis.eval(
    ADMIT,
    2,
    keys.link(ref.accountId, ref.linkId),
    keys.inflight(ref.accountId, ref.linkId),
    String(ref.epoch),
    token,
    String(timeoutMs + STALE_MARGIN_MS),
  )) as string;
}

export async function release(redis: Redis, keys: Keys, ref: InflightRef, token: string): Promise<void> {
  await redis.zrem(keys.inflight(ref.accountId, ref.linkId), token);
}

export async function sweep(
  redis: Redis,
  keys: Keys,
  accountId: string,
  linkId: string,
): Promise<{ live: number; stale: number }> {
  const [live, stale] = (await redis.eval(SWEEP, 1, keys.inflight(accountId, linkId))) as [number, number];
  return { live, stale };
}

/** What happened to the requests a link had on the wire when its gate closed. */
export interface DrainReport {
  /** Requests on the wire when the gate closed. */
  inFlight: number;
  /** Of those, answered (or ended) before this report: received by the target before the answer, if at all. */
  finished: number;
  /** Still on the wire when the wait ran out: the target may receive them later. */
  unconfirmed: number;
  /** Tokens of a process that died mid-request, past their deadline and ignored. */
  abandoned: number;
  waitedMs: number;
}

/**
 * Waits until none of the link's admitted requests is on the wire any more, at most `maxWaitMs`. Because the gate
 * admits nothing once it is closed, an empty set means no request of the link can reach the target later.
 */
export async function drain(
  redis: Redis,
  keys: Keys,
  accountId: string,
  linkId: string,
  maxWaitMs: number,
): Promise<DrainReport> {
  const started = Date.now();
  const first = await sweep(redis, keys, accountId, linkId);
  let abandoned = first.stale;
  let live = first.live;
  let pause = 2;
  while (live > 0 && Date.now() - started < maxWaitMs) {
    await new Promise((r) => setTimeout(r, Math.min(pause, maxWaitMs - (Date.now() - started))));
    pause = Math.min(pause * 2, 25);
    const now = await sweep(redis, keys, accountId, linkId);
    abandoned += now.stale;
    live = now.live;
  }
  return {
    inFlight: first.live,
    finished: Math.max(0, first.live - live - (abandoned - first.stale)),
    unconfirmed: live,
    abandoned,
    waitedMs: Date.now() - started,
  };
}
