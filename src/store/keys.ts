/**
 * Redis key layout. Every key of an account carries the hash tag `{acct:<id>}` so an account's consent, link
 * and mapping changes can be one MULTI and the layout works on Redis Cluster.
 */
export interface Keys {
  prefix: string;
  accounts(): string;
  account(accountId: string): string;
  consent(accountId: string, consentId: string): string;
  consents(accountId: string): string;
  link(accountId: string, linkId: string): string;
  links(accountId: string): string;
  credentials(accountId: string, linkId: string): string;
  mapping(accountId: string, linkId: string): string;
  /** Hash: what the sync made or adjusted in the link's target (the ownership ledger). */
  ledger(accountId: string, linkId: string): string;
  runs(accountId: string, linkId: string): string;
  run(accountId: string, runId: string): string;
  runLock(accountId: string, linkId: string): string;
  /** Sorted set of leases on one target endpoint (the cross-process thread limit). */
  linkSlots(accountId: string, linkId: string, endpoint: string): string;
  /** Hash minute → requests this link sent to its target (the rolling-hour budget). */
  linkUsage(accountId: string, linkId: string): string;
  /** Sorted set token → deadline of the link's requests on the wire (the gate adds, the answer removes). */
  inflight(accountId: string, linkId: string): string;
  /** Hash of counts an unlinked link keeps of its run history (no names, no reconciliation lines). */
  runHistory(accountId: string, linkId: string): string;
  /** Pub/sub channel on which revocation and suspension ask every worker to cancel a link's running sync. */
  cancelChannel(): string;
  audit(accountId: string): string;
}

export function createKeys(prefix: string): Keys {
  const acct = (accountId: string) => `${prefix}:{acct:${accountId}}`;
  return {
    prefix,
    accounts: () => `${prefix}:accounts`,
    account: acct,
    consent: (a, c) => `${acct(a)}:consent:${c}`,
    consents: (a) => `${acct(a)}:consents`,
    link: (a, l) => `${acct(a)}:link:${l}`,
    links: (a) => `${acct(a)}:links`,
    credentials: (a, l) => `${acct(a)}:link:${l}:credentials`,
    mapping: (a, l) => `${acct(a)}:link:${l}:mapping`,
    ledger: (a, l) => `${acct(a)}:link:${l}:ledger`,
    runs: (a, l) => `${acct(a)}:link:${l}:runs`,
    run: (a, r) => `${acct(a)}:run:${r}`,
    runLock: (a, l) => `${acct(a)}:link:${l}:lock`,
    linkSlots: (a, l, e) => `${acct(a)}:link:${l}:slots:${e}`,
    linkUsage: (a, l) => `${acct(a)}:link:${l}:usage`,
    inflight: (a, l) => `${acct(a)}:link:${l}:inflight`,
    runHistory: (a, l) => `${acct(a)}:link:${l}:history`,
    cancelChannel: () => `${prefix}:cancel`,
    audit: (a) => `${acct(a)}:audit`,
  };
}
