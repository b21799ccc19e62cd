import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.ts';

/**
 * A token on the wire is forgotten this long after its own HTTP timeout. The gate ends every request within that
 * timeout counted from *before* it asked to be admitted (gate.ts), so a token still there past its deadline
 * belongs to a process that died without removing it.
 */
export const STALE_MARGIN_MS = 5_000;

/**
 * Registers the token with a deadline on Redis's clock, so every process agrees on what is stale, and keeps the
 * set alive as long as its longest token. Appended to a check: KEYS[2] in-flight zset, ARGV[2] token, ARGV[3] ms.
 */
const REGISTER = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local life = tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], now + life, ARGV[2])
if redis.call('PTTL', KEYS[2]) < life then redis.call('PEXPIRE', KEYS[2], life) end
return 'ok'`;

/**
 * Check-and-register in one step, so a revocation (which changes status and epoch in one MULTI) either comes
 * before — and the request is refused — or after, and then finds the token and waits for it.
 * KEYS[1] link hash; ARGV[1] the epoch the work started under. Returns 'ok' or why the gate is closed.
 */
const ADMIT_LINK = `
local s = redis.call('HMGET', KEYS[1], 'status', 'epoch')
if not s[1] then return 'the link no longer exists' end
if s[1] ~= 'active' then return 'the link is ' .. s[1] end
if tonumber(s[2]) ~= tonumber(ARGV[1]) then
  return 'the link changed (epoch ' .. tostring(s[2]) .. ', work started under ' .. ARGV[1] .. ')'
end${REGISTER}`;

/**
 * The same for a link still being made (its credentials checked before it exists): admitted only while the
 * consent it is made under is active, so the revocation of that consent waits for the check too.
 * KEYS[1] consent (JSON).
 */
const ADMIT_CONSENT = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 'the consent no longer exists' end
local status = cjson.decode(raw).status
if status ~= 'active' then return 'the consent is ' .. tostring(status) end${REGISTER}`;

/** Drops stale tokens; returns { live tokens, stale tokens dropped }. KEYS: in-flight zset. */
const SWEEP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stale = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return { redis.call('ZCARD', KEYS[1]), stale }`;

/** What a request must find in Redis to leave, and the set its token goes into while it is on the wire. */
export interface Door {
  /** Who is refused, in an error message: "link 42", "a link being made under consent 7". */
  subject: string;
  script: string;
  guard: string;
  inflight: string;
  arg: string;
}

export const linkDoor = (keys: Keys, ref: { accountId: string; linkId: string; epoch: number }): Door => ({
  subject: `link ${ref.linkId}`,
  script: ADMIT_LINK,
  guard: keys.link(ref.accountId, ref.linkId),
  inflight: keys.inflight(ref.accountId, ref.linkId),
  arg: String(ref.epoch),
});

/** Credential checks of links being made under a consent, drained by its revocation like a link's requests. */
export const consentInflight = (keys: Keys, accountId: string, consentId: string) =>
  `${keys.consent(accountId, consentId)}:inflight`;

export const consentDoor = (keys: Keys, accountId: string, consentId: string): Door => ({
  subject: `a link being made under consent ${consentId}`,
  script: ADMIT_CONSENT,
  guard: keys.consent(accountId, consentId),
  inflight: consentInflight(keys, accountId, consentId),
  arg: '',
});

/** Registers a request token when the door is open; otherwise returns the reason it is not. */
export async function admit(
  redis: Redis,
  door: Door,
  token: string,
  timeoutMs: number,
): Promise<'ok' | string> {
  return (await redis.eval(
    door.script,
    2,
    door.guard,
    door.inflight,
    door.arg,
    token,
    String(timeoutMs + STALE_MARGIN_MS),
  )) as string;
}

export async function release(redis: Redis, door: Door, token: string): Promise<void> {
  await redis.zrem(door.inflight, token);
}

export async function sweep(redis: Redis, inflight: string): Promise<{ live: number; stale: number }> {
  const [live, stale] = (await redis.eval(SWEEP, 1, inflight)) as [number, number];
  return { live, stale };
}

/** What happened to the requests on the wire when a gate closed. */
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
 * Waits until none of the requests admitted into `inflight` is on the wire any more, at most `maxWaitMs`. Because
 * the door admits nothing once it is closed, an empty set means no such request can reach the target later.
 */
export async function drain(redis: Redis, inflight: string, maxWaitMs: number): Promise<DrainReport> {
  const started = Date.now();
  const first = await sweep(redis, inflight);
  let abandoned = first.stale;
  let live = first.live;
  let pause = 2;
  while (live > 0 && Date.now() - started < maxWaitMs) {
    await new Promise((r) => setTimeout(r, Math.min(pause, maxWaitMs - (Date.now() - started))));
    pause = Math.min(pause * 2, 25);
    const now = await sweep(redis, inflight);
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
