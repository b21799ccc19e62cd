import { z } from 'zod';
import { assertHostAllowed, originOf } from '../../src/net/host-policy.ts';
import { RequestRefusedError } from '../../src/net/http.ts';

/**
 * Credentials of a NAV / Business Central link, one of three flavours chosen per link. zod's messages name
 * fields and never values, so a secret cannot leak through a validation error; no custom message here quotes
 * a value either.
 */

/** `http(s)://host:port[/path]` without a trailing slash, so paths can be appended with one. */
const baseUrl = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));

/**
 * `true` lets an on-premises server be reached over plain http (a server without TLS on the MSP's own network);
 * the link's audit entry records it. Otherwise https only (`assertNavisionHosts`).
 */
const allowHttp = z.boolean().optional();

/** A NAV / BC server instance (`DynamicsNAV100`, `BC`): one path segment. */
const serverInstance = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]+$/, 'expected a server instance name (letters, digits, _ . -)');

/** Company names are `Text[30]` in NAV and BC, case-sensitive, and may hold any character (`A&B Co's "IT"`). */
const company = z.string().min(1).max(30);

/** A published web service name (page 810 "Web Services"); one path segment. */
const serviceName = z.string().trim().min(1).max(240);

/** The page web services the connector uses on NAV, by what it uses them for; defaults are the usual names. */
export const NavServices = z
  .strictObject({
    customer: serviceName.default('Customer'),
    item: serviceName.default('Item'),
    salesInvoice: serviceName.default('SalesInvoice'),
    salesInvoiceLines: serviceName.default('SalesInvoiceSalesLines'),
    postedSalesInvoice: serviceName.default('PostedSalesInvoice'),
  })
  .prefault({});
export type NavServices = z.infer<typeof NavServices>;

/** NavUserPassword: the user name and its 44-character web service access key, sent as HTTP Basic. */
export const BasicAuth = z.strictObject({
  type: z.literal('basic'),
  user: z.string().min(1),
  accessKey: z.string().min(1),
});
export type BasicAuth = z.infer<typeof BasicAuth>;

/** Windows authentication (NTLM, also when the server offers Negotiate). */
export const NtlmAuth = z.strictObject({
  type: z.literal('ntlm'),
  user: z.string().min(1),
  password: z.string().min(1),
  domain: z.string().trim().min(1).optional(),
  /** Sent in the NTLM messages; unset: this machine's host name. */
  workstation: z.string().trim().min(1).optional(),
});
export type NtlmAuth = z.infer<typeof NtlmAuth>;

/** NAV 2016–2018 on-premises, OData V4 page web services. */
export const NavODataCredentials = z.strictObject({
  flavour: z.literal('nav-odata'),
  /** e.g. `https://nav.example.com:7048` */
  baseUrl,
  serverInstance,
  company,
  services: NavServices,
  auth: z.discriminatedUnion('type', [BasicAuth, NtlmAuth]),
  allowHttp,
});
export type NavODataCredentials = z.infer<typeof NavODataCredentials>;

/** Business Central online, API v2.0, OAuth2 client credentials (a service principal) against Entra ID. */
export const BcOnlineCredentials = z.strictObject({
  flavour: z.literal('bc-online'),
  /** Entra tenant id (a GUID) or its verified domain name. */
  tenantId: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9.-]+$/, 'expected a tenant id or domain'),
  /** `Production`, `Sandbox`, … (one path segment). */
  environment: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]+$/, 'expected an environment name'),
  company,
  clientId: z.string().trim().min(1),
  clientSecret: z.string().min(1),
  /** The token authority; configurable so a sandbox can serve it. */
  authorityUrl: baseUrl.default('https://login.microsoftonline.com'),
  /** The API host (configurable so a sandbox can serve it); the token's scope stays Business Central's resource. */
  apiUrl: baseUrl.default('https://api.businesscentral.dynamics.com'),
  /** Never: Business Central online is Microsoft's, over https (a sandbox's hosts: NAVISION_ALLOWED_HOSTS). */
  allowHttp: z.literal(false, 'Business Central online is reached over https only').optional(),
});
export type BcOnlineCredentials = z.infer<typeof BcOnlineCredentials>;

/** Business Central on-premises, API v2.0, Basic with a web service access key. */
export const BcOnPremCredentials = z.strictObject({
  flavour: z.literal('bc-onprem'),
  /** e.g. `https://bc.example.com:7048` */
  baseUrl,
  serverInstance,
  company,
  auth: BasicAuth,
  allowHttp,
});
export type BcOnPremCredentials = z.infer<typeof BcOnPremCredentials>;

export const NavisionCredentials = z.discriminatedUnion('flavour', [
  NavODataCredentials,
  BcOnlineCredentials,
  BcOnPremCredentials,
]);
export type NavisionCredentials = z.infer<typeof NavisionCredentials>;
export type NavisionCredentialsInput = z.input<typeof NavisionCredentials>;
export type Flavour = NavisionCredentials['flavour'];

/** Microsoft's hosts of Business Central online: Entra ID's token authority and the API. */
export const BC_ONLINE_HOSTS = {
  authorityUrl: ['login.microsoftonline.com'],
  apiUrl: ['api.businesscentral.dynamics.com'],
} as const;

/**
 * Where a link's NAV / BC credentials may go, checked before any is sent (the registry, for a credentials check
 * and every run alike). Business Central online: https on Microsoft's hosts — the client secret goes to the
 * authority, the token to the API — or on `extra` hosts a sandbox adds (NAVISION_ALLOWED_HOSTS, http allowed).
 * On-premises: the MSP's own server, on any host, over https unless the link says `allowHttp: true`.
 */
export function assertNavisionHosts(c: NavisionCredentials, extra: readonly string[]): void {
  if (c.flavour === 'bc-online') {
    for (const field of ['authorityUrl', 'apiUrl'] as const) {
      const policy = { owner: 'Microsoft', https: BC_ONLINE_HOSTS[field], extra };
      assertHostAllowed(c[field], policy, `Business Central online's ${field}`);
    }
    return;
  }
  if (c.allowHttp !== true && new URL(c.baseUrl).protocol !== 'https:') {
    throw new RequestRefusedError(
      'host_not_allowed',
      `the on-premises server ${originOf(c.baseUrl)} is refused: it is reached over https unless the credentials say allowHttp: true (a server without TLS); no credential was sent to it`,
    );
  }
}

/** The secrets of a credential set, to be cut out of anything logged or thrown. */
export function secretsOf(c: NavisionCredentials): string[] {
  switch (c.flavour) {
    case 'nav-odata':
      return [c.auth.type === 'basic' ? c.auth.accessKey : c.auth.password];
    case 'bc-onprem':
      return [c.auth.accessKey];
    case 'bc-online':
      return [c.clientSecret];
  }
}

/** One OData collection answer: a page of records and, when there are more, the link to the next page. */
export const CollectionResponse = z.looseObject({
  value: z.array(z.looseObject({})),
  '@odata.nextLink': z.string().min(1).optional(),
});

/** Entra ID's token answer (v2.0 endpoint). `expires_in` is seconds; some proxies send it as a string. */
export const TokenResponse = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.coerce.number().positive().optional(),
});

/** A BC company as `GET …/companies` lists it. */
export const BcCompany = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  displayName: z.string().nullish(),
});
export type BcCompany = z.infer<typeof BcCompany>;
