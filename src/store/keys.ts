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
  runs(accountId: string, linkId: string): string;
  run(accountId: string, runId: string): string;
  runLock(accountId: string, linkId: string): string;
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
    runs: (a, l) => `${acct(a)}:link:${l}:runs`,
    run: (a, r) => `${acct(a)}:run:${r}`,
    runLock: (a, l) => `${acct(a)}:link:${l}:lock`,
    audit: (a) => `${acct(a)}:audit`,
  };
}
