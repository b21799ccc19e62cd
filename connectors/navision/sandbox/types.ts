import type { Company } from './db.ts';
import type { FaultOptions, Faults } from './faults.ts';

/** Which of the three APIs a request spoke to (`token` is the sandbox's Entra ID authority). */
export type Flavour = 'nav' | 'bcOnPrem' | 'bcOnline' | 'token';

/** Published page web service names of a NAV instance (page 810 "Web Services"). */
export interface NavServiceNames {
  /** Page 21. @defaultValue 'Customer' */
  customer: string;
  /** Page 30. @defaultValue 'Item' */
  item: string;
  /** Page 43. @defaultValue 'SalesInvoice' */
  salesInvoice: string;
  /** The lines subpage of page 43, as NAV names it: service name + part name. @defaultValue 'SalesInvoiceSalesLines' */
  salesInvoiceLines: string;
  /** Page 132; its lines subpage is served as `${name}SalesInvLines`. @defaultValue 'PostedSalesInvoice' */
  postedSalesInvoice: string;
}

export interface NavOptions {
  /** Server instance, the first path segment. @defaultValue 'DynamicsNAV110' */
  instance?: string;
  /**
   * One credential type per server instance, as NAV has: `basic` (NavUserPassword: user + web service access key)
   * or `windows` (NTLM, offered as `Negotiate` and `NTLM`). @defaultValue 'basic'
   */
  auth?: 'basic' | 'windows';
  /** Basic users. @defaultValue one: `NAVISION_SANDBOX_DEFAULTS.navUser` (NAVUSER, a 44-character key) */
  users?: { userName: string; webServiceAccessKey: string }[];
  /** Windows users for `auth: 'windows'`. @defaultValue one: `NAVISION_SANDBOX_DEFAULTS.windowsUser` (SANDBOX\\navuser) */
  windowsUsers?: { domain: string; userName: string; password: string }[];
  services?: Partial<NavServiceNames>;
  /**
   * Name of the `[ServiceEnabled]` posting function added to the SalesInvoice page, called as the bound action
   * `NAV.<name>` (NAV 2018+; page services use the `NAV.` prefix, the API `Microsoft.NAV.`). `null`: none published
   * (NAV 2016/2017 have no bound actions). @defaultValue 'Post'
   */
  postAction?: string | null;
  /**
   * Text/Code lengths of page fields, as `$metadata` shows them, keyed `<DefaultServiceName>.<Field>`
   * (e.g. `'Item.Description': 30`). @defaultValue NAV 2016–2018 lengths: names and descriptions 50,
   * External_Document_No 35, numbers 20
   */
  fieldLengths?: Record<string, number>;
  /** Server-driven page size (ODataServicesMaxPageSize). @defaultValue 1000 */
  pageSize?: number;
}

export interface BcOnPremOptions {
  /** @defaultValue 'BC' */
  instance?: string;
  /** Basic users (web service access keys). @defaultValue one: `NAVISION_SANDBOX_DEFAULTS.bcUser` (BCUSER) */
  users?: { userName: string; webServiceAccessKey: string }[];
  /** @defaultValue 20000 */
  pageSize?: number;
}

export interface BcOnlineOptions {
  /** Entra tenant id (GUID) in `/v2.0/{tenant}/{environment}/…` and the token URL. @defaultValue a fixed GUID */
  tenantId?: string;
  /** @defaultValue 'production' */
  environment?: string;
  /** Registered service principals. @defaultValue one: `NAVISION_SANDBOX_DEFAULTS.client` */
  clients?: { clientId: string; clientSecret: string }[];
  /** Lifetime of an access token (`expires_in`). @defaultValue 3599 */
  tokenLifetimeS?: number;
  /** @defaultValue 20000 */
  pageSize?: number;
}

/**
 * Business Central's per-user / per-service-principal limits (operational-limits-online), applied to both BC
 * flavours; NAV has none.
 */
export interface LimitOptions {
  /** Requests processed at once. @defaultValue 5 */
  maxConcurrent?: number;
  /** Requests waiting for a slot; one more is refused with 429. @defaultValue 95 */
  maxQueue?: number;
  /** A request queued longer than this is refused with 503. @defaultValue 480000 (8 minutes) */
  maxQueueWaitMs?: number;
  /** Requests per sliding window; more are refused with 429. @defaultValue 6000 */
  windowRequests?: number;
  /** @defaultValue 300000 (5 minutes) */
  windowMs?: number;
  /**
   * `Retry-After` on a 429: a number of seconds, `'auto'` (until the window has room again) or `null` for none,
   * which the docs leave possible. @defaultValue null
   */
  retryAfter?: number | 'auto' | null;
}

export interface PostingGroups {
  genBus: string[];
  vatBus: string[];
  customer: string[];
  genProd: string[];
  vatProd: string[];
  inventory: string[];
}

export interface NumberSeriesSeed {
  code: string;
  /** The next number to hand out, e.g. '1001' or 'S-INV100001'. */
  next: string;
  /** Whether a client may send its own number. */
  manual?: boolean;
}

export interface CustomerSeed {
  no: string;
  name: string;
  id?: string;
  email?: string;
  currencyCode?: string;
  genBusPostingGroup?: string;
  vatBusPostingGroup?: string;
  customerPostingGroup?: string;
  blocked?: '' | 'Ship' | 'Invoice' | 'All';
}

export interface ItemSeed {
  no: string;
  description: string;
  id?: string;
  type?: 'Inventory' | 'Service' | 'Non-Inventory';
  unitPrice?: number;
  baseUnitOfMeasure?: string;
  genProdPostingGroup?: string;
  vatProdPostingGroup?: string;
  inventoryPostingGroup?: string;
}

export interface CompanySeed {
  name: string;
  /** @defaultValue a random GUID */
  id?: string;
  /** @defaultValue the name */
  displayName?: string;
  /** Local currency: blank on documents; the API shows this code for blank. @defaultValue 'USD' */
  lcyCode?: string;
  /** Foreign currencies (the Currency table). @defaultValue ['EUR', 'GBP', 'DKK'] */
  currencies?: string[];
  /** Codes that exist in each posting group table. @defaultValue DOMESTIC / SERVICES / … */
  postingGroups?: Partial<PostingGroups>;
  /** @defaultValue ['PCS', 'HOUR', 'MONTH', 'USER'] */
  unitsOfMeasure?: string[];
  /** G/L accounts for `G_L_Account` / `Account` lines. @defaultValue 6110 "Sales, Services" */
  glAccounts?: { no: string; name: string }[];
  /**
   * The customer/item templates BC applies when the API creates a customer or item (the API has no posting group
   * fields on customers). NAV pages never apply them. `null`: no template, so API-created records cannot be posted.
   * @defaultValue DOMESTIC/DOMESTIC/DOMESTIC for customers, SERVICES/VAT25 for items
   */
  templates?: {
    customer?: { genBusPostingGroup: string; vatBusPostingGroup: string; customerPostingGroup: string };
    item?: { genProdPostingGroup: string; vatProdPostingGroup: string; inventoryPostingGroup?: string };
  } | null;
  numberSeries?: Partial<
    Record<'customer' | 'item' | 'salesInvoice' | 'postedSalesInvoice', NumberSeriesSeed>
  >;
  customers?: CustomerSeed[];
  items?: ItemSeed[];
}

/** Options of the local NAV / Business Central sandbox. Every field is optional; defaults make a usable server. */
export interface NavisionSandboxOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** @defaultValue one company, 'CRONUS International Ltd.' */
  companies?: CompanySeed[];
  /**
   * Name of NAV's default company (ServicesDefaultCompany), used when the company segment is missing or its quotes
   * arrive percent-encoded. `null`: none, so such a request fails unless there is only one company.
   * @defaultValue the first company
   */
  defaultCompany?: string | null;
  nav?: NavOptions;
  bcOnPrem?: BcOnPremOptions;
  bcOnline?: BcOnlineOptions;
  limits?: LimitOptions;
  /** Delay added to every API request while it holds a processing slot. @defaultValue 0 */
  latencyMs?: number;
  /** Injected faults (5xx, lock timeouts, 429, lost answers), seeded. @defaultValue none */
  faults?: FaultOptions;
  /** Today (work date) as YYYY-MM-DD. @defaultValue the real UTC date */
  today?: () => string;
}

/** One request as the sandbox saw it; no Authorization header, key, password, secret or token is recorded. */
export interface NavisionRequest {
  seq: number;
  /** Date.now() when received */
  at: number;
  method: string;
  /** Path and query string exactly as sent (still percent-encoded). */
  path: string;
  flavour: Flavour | 'unknown';
  /** Entity set or action addressed last, e.g. 'SalesInvoiceSalesLines', 'salesInvoices', 'Microsoft.NAV.post'. */
  entity: string;
  /** The authenticated user, NTLM `DOMAIN\user`, or the OAuth client id. */
  user?: string;
  /** The company the server resolved (after any default-company fallback). */
  company?: string;
  /** 0 while in flight; -1 when the answer was lost on purpose (a `drop`/`timeout` fault). */
  status: number;
  /** The JSON body (token requests: grant_type, client_id and scope only). */
  body?: unknown;
  fault?: string;
}

export interface NavisionSandbox {
  /** origin, e.g. http://127.0.0.1:5555 */
  url: string;
  /** `${url}/${nav.instance}/ODataV4` */
  navBaseUrl: string;
  /** `${url}/${bcOnPrem.instance}/api/v2.0` */
  bcOnPremBaseUrl: string;
  /** `${url}/v2.0/${tenantId}/${environment}/api/v2.0` */
  bcOnlineBaseUrl: string;
  /** The authority to configure instead of https://login.microsoftonline.com: `${url}` */
  authorityUrl: string;
  /** `${url}/${tenantId}/oauth2/v2.0/token` */
  tokenUrl: string;
  tenantId: string;
  requests: NavisionRequest[];
  /** Live companies by name; tests may inspect and change them. */
  companies: Map<string, Company>;
  /** The company with this name; throws when there is none. */
  company(name: string): Company;
  /** The fault injector: `inject()` one-off faults, read `injected` counts. */
  faults: Faults;
  configure(p: SandboxSettingsPatch): void;
  /** Makes every access token issued so far expire now. */
  expireTokens(): void;
  /** Forgets NTLM-authenticated connections, as after a server restart. */
  resetNtlm(): void;
  /** Stops listening and destroys keep-alive sockets. */
  close(): Promise<void>;
}

export interface SandboxSettingsPatch {
  latencyMs?: number;
  limits?: LimitOptions;
  faults?: FaultOptions;
  navPageSize?: number;
  bcPageSize?: number;
  tokenLifetimeS?: number;
  defaultCompany?: string | null;
}
