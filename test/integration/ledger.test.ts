import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyLedger } from '../../src/billing/types.ts';
import { readLedger, recordOp, writeLedger } from '../../src/links/ledger.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

describe('ownership ledger in Redis', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await testStore();
  });
  afterEach(async () => {
    await t.close();
  });

  it('starts empty and reads back every kind of entry, refs resolved from the run’s results', async () => {
    expect(await readLedger(t.ctx, 'a1', 'l1')).toEqual(emptyLedger());
    const results = new Map<string, unknown>([['contract:c1', 77]]);
    await recordOp(
      t.ctx,
      'a1',
      'l1',
      {
        key: 'cs:x',
        kind: 'addContractService',
        summary: '',
        data: {},
        ledger: [
          {
            kind: 'line',
            id: { ref: 'cs:x' },
            line: { customerId: 'c1', productId: 'P', period: 'month', container: { ref: 'contract:c1' } },
          },
          { kind: 'adjustment', lineId: { ref: 'cs:x' }, day: '2026-11-30' },
        ],
      },
      { itemId: 501 },
      results,
    );
    await writeLedger(
      t.ctx,
      'a1',
      'l1',
      [
        { kind: 'item', productId: 'P', period: 'year', id: 9 },
        { kind: 'party', customerId: 'c1', id: 3 },
        { kind: 'container', customerId: 'c1', id: { ref: 'contract:c1' } },
        { kind: 'charge', key: 'SPP-1-1', id: 12 },
        { kind: 'observed', key: 'id:77|id:9', quantity: 4, month: '2026-11' },
        // A ref that never resolved (its op failed) records nothing.
        { kind: 'item', productId: 'Q', period: 'month', id: { ref: 'service:Q' } },
      ],
      results,
    );
    expect(await readLedger(t.ctx, 'a1', 'l1')).toEqual({
      ...emptyLedger(),
      items: { 'P|year': 9 },
      parties: { c1: 3 },
      containers: { c1: 77 },
      lines: { '501': { customerId: 'c1', productId: 'P', period: 'month', container: 77 } },
      adjustments: { '501': '2026-11-30' },
      charges: { 'SPP-1-1': 12 },
      observed: { 'id:77|id:9': { quantity: 4, month: '2026-11' } },
    });
    await writeLedger(
      t.ctx,
      'a1',
      'l1',
      [
        { kind: 'forget-observed', key: 'id:77|id:9' },
        { kind: 'forget-adjustment', lineId: 501 },
      ],
      results,
    );
    const after = await readLedger(t.ctx, 'a1', 'l1');
    expect(after.observed).toEqual({});
    expect(after.adjustments).toEqual({});
    // Under the link's keys, so an unlink's purge of the link namespace takes it.
    expect(t.ctx.keys.ledger('a1', 'l1').startsWith(t.ctx.keys.link('a1', 'l1'))).toBe(true);
  });
});
