import axios from 'axios';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Gate, GateClosedError } from '../../src/consent/gate.ts';
import { drain, STALE_MARGIN_MS } from '../../src/consent/inflight.ts';
import { revokeConsent } from '../../src/consent/revoke.ts';
import type { Link } from '../../src/links/links.ts';
import {
  ACCT,
  admin,
  consentAndLink,
  type HeldServer,
  heldServer,
  sleep,
  waitFor,
} from '../helpers/lifecycle.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

describe('the gate tracks requests on the wire', () => {
  let t: TestStore;
  let server: HeldServer;
  let link: Link;
  let consentId: string;
  let gate: Gate;
  const inflight = () => t.ctx.redis.zrange(t.ctx.keys.inflight(ACCT, link.id), 0, -1, 'WITHSCORES');
  const ref = () => ({ accountId: ACCT, linkId: link.id, epoch: link.epoch });

  beforeEach(async () => {
    t = await testStore();
    server = await heldServer();
    ({
      link,
      consent: { id: consentId },
    } = await consentAndLink(t.ctx));
    gate = new Gate(t.ctx.redis, t.ctx.keys);
  });
  afterEach(async () => {
    await server.close();
    await t.close();
  });

  it('registers a request with its deadline while it is on the wire and removes it once answered', async () => {
    server.set({ delayMs: 150 });
    const http = gate.client(ref(), { timeoutMs: 2000 });
    const before = Date.now();
    const pending = http.get(`${server.url}/a`);
    await waitFor(async () => (await inflight()).length === 2);
    const [, deadline] = await inflight();
    // Deadline = admitted + own timeout + margin: a token past it belongs to a dead process.
    expect(Number(deadline)).toBeGreaterThanOrEqual(before + 2000 + STALE_MARGIN_MS - 50);
    expect(Number(deadline)).toBeLessThanOrEqual(Date.now() + 2000 + STALE_MARGIN_MS + 50);
    await pending;
    expect(await inflight()).toEqual([]);
  });

  it('removes the token when the answer is an error or no answer comes at all', async () => {
    server.set({ status: 500 });
    const http = gate.client(ref(), { timeoutMs: 2000 });
    await expect(http.get(`${server.url}/e`)).rejects.toThrow(/500/);
    expect(await inflight()).toEqual([]);
    server.set({ status: 200, delayMs: 500 });
    await expect(http.get(`${server.url}/slow`, { timeout: 100 })).rejects.toThrow(/timeout/);
    expect(await inflight()).toEqual([]);
    await expect(http.get('http://127.0.0.1:1/refused')).rejects.toThrow();
    expect(await inflight()).toEqual([]);
  });

  it('admits nothing once the gate is closed, not even through a per-request adapter', async () => {
    const http = gate.client(ref(), { timeoutMs: 2000 });
    await revokeConsent(t.ctx, admin, ACCT, consentId);
    await expect(http.get(`${server.url}/x`)).rejects.toBeInstanceOf(GateClosedError);
    const bypass = http.get(`${server.url}/y`, { adapter: axios.getAdapter('http') });
    await expect(bypass).rejects.toThrow(/may not act: the link is revoked/);
    // Nor by dropping the interceptors: the instance's own adapter is the gate.
    http.interceptors.request.clear();
    await expect(http.get(`${server.url}/z`)).rejects.toBeInstanceOf(GateClosedError);
    expect(server.log).toEqual([]);
    expect(await inflight()).toEqual([]);
  });

  it('lets an admitted request finish when the run is cancelled, and admits no further one', async () => {
    server.set({ delayMs: 200 });
    const ac = new AbortController();
    const http = gate.client(ref(), { timeoutMs: 2000, signal: ac.signal });
    const pending = http.get(`${server.url}/on-the-wire`, { signal: ac.signal });
    await waitFor(() => server.log.length === 1);
    ac.abort('the link is revoked');
    // Tearing the socket down would not take back what was sent; the answer is what confirms it arrived.
    const res = await pending;
    expect(res.status).toBe(200);
    expect(server.log[0]?.answered).toBeDefined();
    expect(await inflight()).toEqual([]);
    await expect(http.get(`${server.url}/next`)).rejects.toThrow(
      /the run was cancelled \(the link is revoked\)/,
    );
    expect(server.log).toHaveLength(1);
  });

  it('a revocation racing a stream of requests: nothing is answered after the wait for the wire ends', async () => {
    server.set({ delayMs: 30 });
    const http = gate.client(ref(), { timeoutMs: 2000 });
    const outcomes: string[] = [];
    const streams = [0, 1, 2].map(async (s) => {
      for (let i = 0; ; i++) {
        try {
          await http.get(`${server.url}/s${s}/${i}`);
          outcomes.push('ok');
        } catch (error) {
          outcomes.push(error instanceof GateClosedError ? 'refused' : 'other');
          return;
        }
      }
    });
    await sleep(120 + Math.random() * 60);
    await revokeConsent(t.ctx, admin, ACCT, consentId);
    const report = await drain(t.ctx.redis, t.ctx.keys.inflight(ACCT, link.id), 5000);
    const answeredBy = Date.now();
    await Promise.all(streams);
    expect(report.inFlight).toBeGreaterThan(0);
    expect(report).toMatchObject({ unconfirmed: 0, finished: report.inFlight });
    expect(outcomes.filter((o) => o === 'refused')).toHaveLength(3);
    expect(outcomes).not.toContain('other');
    // Every request the target saw was answered before the drain returned.
    expect(server.log.every((r) => r.answered !== undefined && r.answered <= answeredBy)).toBe(true);
  });

  it('waits only so long, and says how many requests it could not confirm', async () => {
    server.set({ delayMs: 1000 });
    const http = gate.client(ref(), { timeoutMs: 5000 });
    const pending = http.get(`${server.url}/slow`).catch(() => null);
    await waitFor(() => server.log.length === 1);
    await revokeConsent(t.ctx, admin, ACCT, consentId);
    const report = await drain(t.ctx.redis, t.ctx.keys.inflight(ACCT, link.id), 100);
    expect(report).toMatchObject({ inFlight: 1, finished: 0, unconfirmed: 1, abandoned: 0 });
    expect(report.waitedMs).toBeGreaterThanOrEqual(100);
    expect(report.waitedMs).toBeLessThan(800);
    await pending;
  });

  describe('an admission whose reply reaches the worker late (slow Redis connection, paused process)', () => {
    /** The gate's Redis, with the admission's reply held back `ms` after Redis has registered the token. */
    const slowGate = (ms: number) => {
      const redis = t.ctx.redis.duplicate();
      const evalNow = redis.eval.bind(redis) as (...args: unknown[]) => Promise<unknown>;
      Object.assign(redis, {
        eval: async (...args: unknown[]) => {
          const reply = await evalNow(...args);
          await sleep(ms);
          return reply;
        },
      });
      return { gate: new Gate(redis, t.ctx.keys), close: () => redis.disconnect() };
    };

    it('sends nothing when no time is left before the token could be taken for a dead one', async () => {
      const slow = slowGate(500);
      try {
        const http = slow.gate.client(ref(), { timeoutMs: 300 });
        await expect(http.get(`${server.url}/late`)).rejects.toThrow(/timeout of 300ms exceeded/);
        expect(server.log).toEqual([]);
        expect(await inflight()).toEqual([]);
      } finally {
        slow.close();
      }
    });

    it('ends the request by its deadline counted from before it asked to be admitted', async () => {
      const slow = slowGate(600);
      try {
        server.set({ delayMs: 2000 });
        const http = slow.gate.client(ref(), { timeoutMs: 800 });
        const asked = Date.now();
        await expect(http.get(`${server.url}/slow`)).rejects.toThrow(/timeout/);
        // Counted from the reply instead, it would run to about 600 + 800 ms: past the token's own deadline
        // once the timeout is near the margin.
        expect(Date.now() - asked).toBeLessThan(1100);
        expect(server.log).toHaveLength(1);
        expect(await inflight()).toEqual([]);
      } finally {
        slow.close();
      }
    });
  });

  it('ignores and cleans tokens of a process that died mid-request', async () => {
    const key = t.ctx.keys.inflight(ACCT, link.id);
    await t.ctx.redis.zadd(key, Date.now() - 1000, 'dead-process-token');
    const report = await drain(t.ctx.redis, t.ctx.keys.inflight(ACCT, link.id), 5000);
    expect(report).toMatchObject({ inFlight: 0, unconfirmed: 0, abandoned: 1 });
    expect(report.waitedMs).toBeLessThan(100);
    expect(await t.ctx.redis.exists(key)).toBe(0);
    // Admission cleans them too.
    await t.ctx.redis.zadd(key, Date.now() - 1000, 'dead-again');
    await gate.client(ref(), { timeoutMs: 2000 }).get(`${server.url}/ok`);
    expect(await t.ctx.redis.zscore(key, 'dead-again')).toBeNull();
  });
});
