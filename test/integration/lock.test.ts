import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tryLock } from '../../src/queue/lock.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

describe('run lock of a link', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await testStore();
  });
  afterEach(async () => t.close());

  it('admits one holder, stays held past its ttl while renewed, and is released only by its owner', async () => {
    const key = `${t.prefix}:lock`;
    const first = await tryLock(t.ctx.redis, key, 'job-1:a', 300);
    expect(first).not.toBeNull();
    expect(await tryLock(t.ctx.redis, key, 'job-1:b', 300)).toBeNull();
    await new Promise((r) => setTimeout(r, 700));
    expect(await t.ctx.redis.get(key)).toBe('job-1:a');
    await first!.release();
    expect(await t.ctx.redis.exists(key)).toBe(0);
  });

  it('tells its holder when another took the link, and then leaves the new holder alone', async () => {
    const key = `${t.prefix}:lock`;
    let lost = 0;
    const first = await tryLock(t.ctx.redis, key, 'job-1:a', 300, () => {
      lost++;
    });
    // This holder stalled past its ttl and a second attempt of the same job took the link.
    await t.ctx.redis.set(key, 'job-1:b', 'PX', 5000);
    await new Promise((r) => setTimeout(r, 400));
    expect(lost).toBe(1);
    await first!.release();
    expect(await t.ctx.redis.get(key)).toBe('job-1:b');
  });
});
