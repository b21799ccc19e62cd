import { closedUsagePeriods } from './src/spinpanel/snapshot.ts';
import { isWrite, startWorld, today } from './test/helpers/world.ts';

for (const settings of [{}, { azureBillingCodeId: 29682802 }, { azureBillingCodeId: 29682802, tenantIdUdf: 'Tenant', vendorName: 'Pax8' }]) {
  const w = await startWorld({ settings, spinpanel: { customers: 50, subscriptionsPerCustomer: 4 }, companies: (cs) => [...cs.map((c) => ({ companyName: c.name, udfs: { Tenant: c.microsoftTenantId } })), { companyName: 'Pax8' }] });
  const [closed] = closedUsagePeriods(today(), 1);
  for (const u of w.sp.data.usage) u.period = closed!;
  const a0 = w.at.requests.length;
  await w.sync();
  const a1 = w.at.requests.length;
  const run = await w.sync();
  const second = w.at.requests.slice(a1);
  console.log(JSON.stringify({ settings, first: a1 - a0, firstWrites: w.at.requests.slice(a0, a1).filter(isWrite).length, resync: second.length, resyncWrites: second.filter(isWrite).length, byEntity: second.reduce((m: Record<string, number>, r) => ((m[r.entity] = (m[r.entity] ?? 0) + 1), m), {}), applied: run.applied }));
  await w.close();
}
