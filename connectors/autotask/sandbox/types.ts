import type { FaultOptions, Faults } from './faults.ts';

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
  /** Latency Autotask adds once the database used 50% / 75% of its budget. @defaultValue 500 / 1000 */
  budgetLatencyMs?: { from50?: number; from75?: number };
  /** Injected faults (5xx, thread-limit answers, timeouts, `{"itemId": null}`), seeded. @defaultValue none */
  faults?: FaultOptions;
  /** Today as YYYY-MM-DD (stamps createDate fields). @defaultValue the real UTC date */
  today?: () => string;
  companies?: {
    id?: number;
    companyName: string;
    companyType?: number;
    isActive?: boolean;
    udfs?: Record<string, string>;
    /** A customer currency (see `currencies`); unset: the internal currency. */
    currencyID?: number;
  }[];
  /** Customer currencies: an amount × exchangeRate is the internal-currency amount. @defaultValue none */
  currencies?: { id: number; name: string; exchangeRate: number }[];
  /** Values of ContractCharges.chargeType (they differ per instance). @defaultValue 1 Operational, 2 Capitalized */
  chargeTypes?: { value: number; label: string; isDefaultValue?: boolean; isActive?: boolean }[];
  services?: {
    id?: number;
    name: string;
    unitPrice: number;
    unitCost?: number;
    billingCodeID: number;
    periodType?: number;
  }[];
  /** @defaultValue a recurring-contract-service code, id 29682801, and a material code, id 29682802 */
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
  configure(
    p: Partial<
      Pick<
        AutotaskSandboxOptions,
        'latencyMs' | 'threadLimit' | 'requestThreshold' | 'budgetLatencyMs' | 'faults'
      >
    >,
  ): void;
  /** The fault injector: `inject()` one-off faults, read `injected` counts. */
  faults: Faults;
  /** Counts `n` requests of other integrations on this database, now, against the hourly budget. */
  useBudget(n: number): void;
  /** Stops listening and destroys keep-alive sockets. */
  close(): Promise<void>;
}
