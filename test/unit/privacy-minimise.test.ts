import { describe, expect, it } from 'vitest';
import type { Plan } from '../../connectors/types.ts';
import type { Snapshot } from '../../src/domain/types.ts';
import { minimise, withoutExcluded } from '../../src/privacy/minimise.ts';
import { scrubAuditData } from '../../src/store/audit.ts';
import { customerWithContact } from '../helpers/privacy.ts';

const snapshot: Snapshot = {
  account: { id: 'a', name: 'A', region: 'westeurope', currency: 'EUR' },
  customers: [customerWithContact('c1'), customerWithContact('c2')],
  subscriptions: [],
  quarantined: [],
  pulledAt: '2026-01-01T00:00:00Z',
};

describe('data minimisation', () => {
  it('drops billing contacts unless the consent carries contacts:push', () => {
    const stripped = minimise(snapshot, { excluded: new Set(), contacts: false });
    expect(stripped.customers.map((c) => c.billingContact)).toEqual([null, null]);
    expect(JSON.stringify(stripped)).not.toContain('jan@example.nl');
    expect(snapshot.customers[0]!.billingContact).not.toBeNull();
    const kept = minimise(snapshot, { excluded: new Set(), contacts: true });
    expect(kept.customers[0]!.billingContact).toEqual({ name: 'Jan Jansen', email: 'jan@example.nl' });
  });

  it('leaves no operation or reconciliation line for an opted-out customer', () => {
    const plan: Plan = {
      ops: [
        { key: 'a', kind: 'adjust', customerId: 'c1', summary: '', data: {} },
        { key: 'b', kind: 'adjust', customerId: 'c2', summary: '', data: {} },
        { key: 'c', kind: 'service', summary: '', data: {} },
      ],
      unmapped: [{ customerId: 'c1', name: 'x', reason: 'y' }],
      recon: [
        {
          customerId: 'c1',
          customerName: 'x',
          productId: 'p',
          productName: 'p',
          spinpanelSeats: 1,
          targetUnitsBefore: 0,
          targetUnitsAfter: 1,
        },
      ],
    };
    const out = withoutExcluded(plan, new Set(['c1']));
    expect(out.ops.map((o) => o.key)).toEqual(['b', 'c']);
    expect(out.unmapped).toEqual([]);
    expect(out.recon).toEqual([]);
  });

  it('keeps names, contact details and secrets out of audit data', () => {
    expect(
      scrubAuditData({
        linkIds: ['l1'],
        name: 'Jan Jansen',
        nested: { email: 'jan@example.nl', note: 'mail jan@example.nl please', count: 2 },
        credentials: { secret: 'x' },
      }),
    ).toEqual({ linkIds: ['l1'], nested: { note: 'mail [redacted] please', count: 2 } });
  });
});
