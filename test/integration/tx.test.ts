import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withWatch } from '../../src/store/tx.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

describe('optimistic transactions', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await testStore();
  });
  afterEach(async () => t.close());

  it('keep their WATCH when another transaction on the same client commits in between', async () => {
    const { redis } = t.ctx;
    const a = `${t.prefix}:a`;
    const b = `${t.prefix}:b`;
    await redis.set(a, '1');
    let release!: () => void;
    const paused = new Promise<void>((r) => {
      release = r;
    });
    const first = withWatch(redis, async (tx) => {
      await tx.watch(a);
      await paused;
      return tx.multi().set(a, 'from-first').exec();
    });
    // A second request commits its own transaction on the same client: on a shared connection its EXEC would
    // drop the first request's WATCH.
    await withWatch(redis, async (tx) => {
      await tx.watch(b);
      return tx.multi().set(b, 'x').exec();
    });
    await redis.set(a, 'changed-by-someone-else');
    release();
    expect(await first).toBeNull();
    expect(await redis.get(a)).toBe('changed-by-someone-else');
  });
});
