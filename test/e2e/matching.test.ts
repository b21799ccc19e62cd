import { afterEach, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';

describe('company matching against Autotask (real sockets)', () => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('never applies a close name: the customer is unmapped with suggestions, shown on the run and the mapping', async () => {
    w = await startWorld({
      companies: (customers) => [
        { companyName: `${customers[0]!.name} BV`, companyType: 1 },
        // Same name but a vendor, and an inactive one: never matched.
        { companyName: customers[1]!.name, companyType: 7 },
        { companyName: customers[2]!.name.toUpperCase().replace(' ', '  '), companyType: 1 },
      ],
    });
    const [a, b, c] = w.sp.data.customers as unknown as [
      { id: string; name: string },
      { id: string; name: string },
      { id: string },
    ];
    const run = await w.sync();
    const unmappedA = run.unmapped.find((u) => u.customerId === a.id);
    expect(unmappedA?.suggestions?.[0]?.name).toBe(`${a.name} BV`);
    expect(run.unmapped.find((u) => u.customerId === b.id)?.reason).toContain('no active customer');
    // Case and spacing do not matter: the third is matched and billed.
    expect(run.unmapped.find((u) => u.customerId === c.id)).toBeUndefined();
    const contracts = [...w.at.db.contracts.values()].map((x) => x.contractNumber);
    expect(contracts).toEqual([`SP-${c.id}`]);
    const mapping = await w.app.services.getMapping(w.accountId, w.link.id);
    expect(mapping.unmapped).toContainEqual(
      expect.objectContaining({ customerId: a.id, suggestions: unmappedA?.suggestions }),
    );
  });
});
