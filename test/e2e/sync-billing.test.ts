import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { CATALOGUE } from '../../src/spinpanel/seed.ts';
import { closedUsagePeriods } from '../../src/spinpanel/snapshot.ts';
import { readAudit } from '../../src/store/audit.ts';
import { apiToken } from '../helpers/api.ts';
import {
  admin,
  autotaskUnits,
  isWrite,
  serviceNameOf,
  startWorld,
  today,
  type World,
} from '../helpers/world.ts';

const AZURE_CODE = 29682802;
const week = () => new Date(Date.now() + 7 * 86_400_000).toISOString().slice(0, 10);

describe('billing sync end to end (both sandboxes over real sockets)', () => {
  let w: World | undefined;
  let server: FastifyInstance | undefined;
  afterEach(async () => {
    await server?.close();
    await w?.close();
    w = undefined;
    server = undefined;
  });

  it('leaves a contract two customers share alone while one of them is held back: none of its seats go', async () => {
    w = await startWorld({ spinpanel: { customers: 2, subscriptionsPerCustomer: 4 } });
    const a = w.sp.data.customers[0]!;
    const b = w.sp.data.customers[1]!;
    await w.sync();
    // Both customers bill on A's contract (a frame contract of A's company), as an MSP may set it up.
    const contract = [...w.at.db.contracts.values()].find((c) => c.contractNumber === `SP-${a.id}`)!;
    await w.app.services.putMapping(admin, w.accountId, w.link.id, {
      customers: {
        [a.id]: { contractId: contract.id },
        [b.id]: { companyId: contract.companyID as number, contractId: contract.id },
      },
      products: {},
    });
    const shared = await w.sync();
    expect(shared.status).toBe('succeeded');
    // A product only B bills, on one subscription: with that one held back, it would look cancelled.
    const billedOnly = (customerId: string) =>
      w!.sp.data.subscriptions.filter((s) => s.customerId === customerId && s.status === 'active');
    const onlyB = billedOnly(b.id).find(
      (s) =>
        billedOnly(b.id).filter((x) => x.productId === s.productId).length === 1 &&
        !billedOnly(a.id).some((x) => x.productId === s.productId) &&
        shared.recon.some(
          (l) => l.customerId === b.id && l.productId === s.productId && l.spinpanelSeats > 0,
        ),
    );
    expect(onlyB).toBeDefined();
    const unitsOnContract = () =>
      [...w!.at.db.contractServices.values()]
        .filter((cs) => cs.contractID === contract.id)
        .map((cs) => [cs.serviceID, w!.at.unitsAt(cs.id as number, week())]);
    const before = unitsOnContract();
    expect(before.length).toBeGreaterThan(1);

    w.sp.markInvalid(onlyB!.id, 'quantity');
    const mark = w.at.requests.length;
    const held = await w.sync();
    expect(held.quarantined.map((q) => q.id)).toEqual([onlyB!.id]);
    expect(w.at.requests.slice(mark).filter(isWrite)).toEqual([]);
    expect(unitsOnContract()).toEqual(before);
    expect(held.unmapped).toEqual([
      expect.objectContaining({
        customerId: a.id,
        reason: expect.stringContaining(`shared with customer ${b.id}`),
      }),
    ]);
  });

  it('posts a closed month of usage once across three runs, and reports a later change', async () => {
    w = await startWorld({ settings: { azureBillingCodeId: AZURE_CODE, productMarkupPercent: 10 } });
    // The seed's usage is for last month; make it the month that is final today.
    const [closed] = closedUsagePeriods(today(), 1);
    for (const u of w.sp.data.usage) u.period = closed!;
    const customers = new Set(w.sp.data.usage.map((u) => u.customerId));

    const runs = [await w.sync(), await w.sync(), await w.sync()];
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(runs.map((r) => r.applied.postCharge ?? 0)).toEqual([customers.size, 0, 0]);
    const charges = [...w.at.db.contractCharges.values()];
    expect(charges).toHaveLength(customers.size);
    expect(new Set(charges.map((c) => c.purchaseOrderNumber)).size).toBe(customers.size);
    expect(runs[2]!.usage?.filter((u) => u.period === closed).map((u) => u.action)).toEqual(
      [...customers].map(() => 'posted'),
    );
    // Each bundled charge is SpinPanel's price, or cost plus 10% where SpinPanel has none.
    const contractOf = (customerId: string) =>
      [...w!.at.db.contracts.values()].find((c) => c.contractNumber === `SP-${customerId}`)!.id;
    for (const customerId of customers) {
      const cents = w.sp.data.usage
        .filter((u) => u.customerId === customerId)
        .reduce((sum, u) => sum + (u.price ? Number(u.price.amount) : Number(u.cost.amount) * 1.1) * 100, 0);
      const charge = charges.find((c) => c.contractID === contractOf(customerId))!;
      expect(charge).toMatchObject({ billingCodeID: AZURE_CODE, unitQuantity: 1 });
      expect(charge.unitPrice).toBeCloseTo(Math.round(cents) / 100, 2);
    }

    const late = w.sp.data.usage[0]!;
    late.cost = { ...late.cost, amount: (Number(late.cost.amount) + 100).toFixed(4) };
    late.price = null;
    const fourth = await w.sync();
    expect(fourth.applied.postCharge ?? 0).toBe(0);
    expect(w.at.db.contractCharges.size).toBe(customers.size);
    expect(fourth.notices).toContainEqual(
      expect.objectContaining({ kind: 'usage-changed', customerId: late.customerId }),
    );
    expect(fourth.usage?.find((u) => u.customerId === late.customerId && u.period === closed)?.action).toBe(
      'changed-after-posting',
    );
  });

  it('moves seats to the new SKU and retires the old one in one run; a vanished subscription goes to 0', async () => {
    w = await startWorld();
    await w.sync();
    const subs = w.sp.data.subscriptions;
    const old = subs[0]!;
    const held = new Set(subs.filter((s) => s.customerId === old.customerId).map((s) => s.productId));
    const product = CATALOGUE.find((p) => !held.has(p.productId))!;
    w.sp.cancelSubscription(old.id);
    w.sp.addSubscription({
      customerId: old.customerId,
      productId: product.productId,
      quantity: old.quantity,
    });
    const vanished = subs.find((s) => s.customerId !== old.customerId)!;
    subs.splice(subs.indexOf(vanished), 1);

    // The next day: the first sync's adjustments took today's one change per line.
    w.advanceDays(1);
    const run = await w.sync();
    expect(run.status).toBe('succeeded');
    const day = w.day();
    const added = { ...product, billingFrequency: product.billingFrequency };
    expect(autotaskUnits(w, old.customerId, serviceNameOf(old), day)).toBe(0);
    expect(autotaskUnits(w, old.customerId, serviceNameOf(added), day)).toBe(old.quantity);
    expect(autotaskUnits(w, vanished.customerId, serviceNameOf(vanished), day)).toBe(0);
    const actions = run.recon.map((r) => [r.productId, r.action]);
    expect(actions).toContainEqual([old.productId, 'retire']);
    expect(actions).toContainEqual([product.productId, 'add']);
    expect(actions).toContainEqual([vanished.productId, 'retire']);
    expect(run.recon.filter((r) => r.action !== 'unchanged').every((r) => r.outcome === 'applied')).toBe(
      true,
    );
    const again = await w.sync();
    expect(again.applied).toEqual({});
  });

  it('reports per customer and product what a dry run would do, with the company name, and does it after', async () => {
    w = await startWorld();
    const dry = await w.sync(true);
    expect(w.at.requests.filter(isWrite)).toEqual([]);
    expect(dry.recon.length).toBe(w.sp.data.subscriptions.length);
    for (const line of dry.recon) {
      const customer = w.sp.data.customers.find((c) => c.id === line.customerId)!;
      expect(line).toMatchObject({
        action: 'add',
        targetUnitsBefore: null,
        targetCompany: { name: customer.name },
      });
      expect(line.outcome).toBeUndefined();
    }
    const real = await w.sync();
    const strip = (lines: typeof dry.recon) =>
      lines.map(({ outcome: _o, opKeys: _k, targetCompany, ...rest }) => ({
        ...rest,
        company: targetCompany?.name,
      }));
    expect(strip(real.recon)).toEqual(strip(dry.recon));
    expect(real.recon.every((l) => l.outcome === 'applied')).toBe(true);
  });

  it('changes settings through the API (validated, audited) and the next run uses them', async () => {
    w = await startWorld();
    const tokens = [
      {
        token: 'admin-token-0123456789',
        accountId: w.accountId,
        role: 'company_admin' as const,
        userId: 'admin-9',
      },
      { token: 'user-token-0123456789', accountId: w.accountId, role: 'user' as const, userId: 'user-3' },
    ];
    server = buildServer({ services: w.app.services, tokens: tokens.map(apiToken) });
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    const patch = async (body: unknown, token = tokens[0]!.token) => {
      const res = await fetch(`${base}/v1/accounts/${w!.accountId}/links/${w!.link.id}/settings`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      // biome-ignore lint/suspicious/noExplicitAny: asserted field by field
      return { status: res.status, body: (await res.json()) as any };
    };

    const bad = await patch({ serviceMarkupPercent: 'ten', effectiveDatePolicy: 'someday' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/serviceMarkupPercent/);
    expect(bad.body.error.message).toMatch(/effectiveDatePolicy/);
    expect((await patch({ serviceMarkup: 10 })).body.error.message).toMatch(/serviceMarkup/);
    expect((await patch({ contractStartDay: 5 }, tokens[1]!.token)).status).toBe(403);

    await w.sync();
    const ok = await patch({ effectiveDatePolicy: 'next-period', vendorName: null, contractStartDay: 1 });
    expect(ok.status).toBe(200);
    expect(ok.body.settings).toMatchObject({
      effectiveDatePolicy: 'next-period',
      serviceBillingCodeId: 29682801,
    });
    const audit = await readAudit(w.app.redis, w.app.store.keys, w.accountId);
    expect(audit.filter((e) => e.type === 'link.settings_changed').map((e) => e.data)).toEqual([
      { changed: { effectiveDatePolicy: { from: 'change-date', to: 'next-period' } } },
    ]);

    const sub = w.sp.data.subscriptions[0]!;
    const adjustmentsBefore = w.at.db.adjustments.length;
    w.sp.setQuantity(sub.id, sub.quantity + 2);
    // Under next-period the change waits for the next month (nothing is dated into the future)…
    const waiting = await w.sync();
    expect(waiting.applied).toEqual({});
    expect(waiting.recon).toContainEqual(expect.objectContaining({ action: 'pending' }));
    // …whose first run posts it, dated its 1st.
    const [y, m] = w.day().split('-').map(Number) as [number, number];
    const nextMonth = new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 10);
    w.advanceDays(Math.round((Date.parse(nextMonth) - Date.parse(w.day())) / 86_400_000) + 2);
    const run = await w.sync();
    expect(run.applied).toEqual({ adjustUnits: 1 });
    const [made] = w.at.db.adjustments.slice(adjustmentsBefore);
    expect(made).toMatchObject({ unitChange: 2, effectiveDate: `${nextMonth}T00:00:00Z` });
  });
});
