/**
 * A container (contract) the mapping also gives to a customer that is not planned on it — billing off, opted
 * out, held back for a quarantined record, gone from SpinPanel, or unmapped itself — holds that customer's seats
 * too: planned from the others' lines alone, its quantities would drop. Such a container is left alone and its
 * customers are reported. `mappedTo`: container key → the customers the mapping puts on it.
 */
export function holdSharedContainers<C extends { customers: { customerId: string; name: string }[] }>(
  containers: ReadonlyMap<string, C>,
  mappedTo: ReadonlyMap<string, string[]>,
  noun: string,
): { key: string; customers: { customerId: string; name: string }[]; reason: string }[] {
  const held: { key: string; customers: { customerId: string; name: string }[]; reason: string }[] = [];
  for (const [key, c] of containers) {
    const planned = new Set(c.customers.map((x) => x.customerId));
    const missing = (mappedTo.get(key) ?? []).find((id) => !planned.has(id));
    if (missing === undefined) continue;
    held.push({
      key,
      customers: c.customers,
      reason: `${noun} ${key.replace(/^id:/, '')} is shared with customer ${missing}, which this run does not plan (not billed through this link, opted out, held back or unmapped): nothing on it is changed`,
    });
  }
  return held;
}
