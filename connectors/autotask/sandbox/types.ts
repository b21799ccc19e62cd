/** Options of the local Autotask sandbox. Every field is optional; defaults make a usable database. */
export interface AutotaskSandboxOptions {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** API users. @defaultValue one: sandbox@example.com / 'sandbox-secret' / 'SPINPANEL-SANDBOX' */
  users?: { userName: string; secret: string; integrationCode: string }[];
  /** Delay added to every request (while it counts as in flight). @defaultValue 0 */
  latencyMs?: number;
  /** Concurrent requests per (integration code, entity endpoint). @defaultValue 3 */
  threadLimit?: number;
  /** Rolling 60-minute request budget of the database. @defaultValue 10000 */
  requestThreshold?: number;
  /** Today as YYYY-MM-DD (stamps createDate fields). @defaultValue the real UTC date */
  today?: () => string;
  companies?: {
    id?: number;
    companyName: string;
    companyType?: number;
    isActive?: boolean;
    udfs?: Record<string, string>;
  }[];
  services?: {
    id?: number;
    name: string;
    unitPrice: number;
    unitCost?: number;
    billingCodeID: number;
    periodType?: number;
  }[];
  /** @defaultValue one recurring-contract-service code, id 29682801 */
  billingCodes?: { id: number; name: string; useType: number }[];
}

/** One request as the sandbox saw it; the Secret header is never recorded. */
export interface AutotaskRequest {
  seq: number;
  /** Date.now() when received */
  at: number;
  method: string;
  /** Path and query string as sent. */
  path: string;
  /** e.g. 'Contracts', 'ContractServiceAdjustments', 'zoneInformation' */
  entity: string;
  userName?: string;
  integrationCode?: string;
  /** 0 while the request is still in flight. */
  status: number;
  body?: unknown;
}

// biome-ignore lint/suspicious/noExplicitAny: tests inspect rows freely
export type Row = Record<string, any> & { id: number };

/** Live tables; tests may inspect (and seed) them. */
export interface SandboxDb {
  companies: Map<number, Row>;
  contracts: Map<number, Row>;
  services: Map<number, Row>;
  contractServices: Map<number, Row>;
  adjustments: Row[];
  billingCodes: Map<number, Row>;
  contractCharges: Map<number, Row>;
}

export interface AutotaskSandbox {
  /** origin, e.g. http://127.0.0.1:5555 */
  url: string;
  /** `${url}/atservicesrest/v1.0/zoneInformation` (the connector appends ?user=) */
  zoneLookupUrl: string;
  /** `${url}/ATServicesRest/`, what zoneInformation returns in `url` */
  apiBaseUrl: string;
  requests: AutotaskRequest[];
  db: SandboxDb;
  /** Units of a contract service in effect on a date (YYYY-MM-DD). */
  unitsAt(contractServiceId: number, date: string): number;
  configure(p: Partial<Pick<AutotaskSandboxOptions, 'latencyMs' | 'threadLimit' | 'requestThreshold'>>): void;
  /** Stops listening and destroys keep-alive sockets. */
  close(): Promise<void>;
}
