import type { Account, Customer, Subscription, UsageLine } from '../domain/types.ts';
import { mulberry32 } from '../prng.ts';

/** Deterministic data for the SpinPanel sandbox: the same seed and clock give the same records, byte for byte. */

export type Rand = () => number;

export { mulberry32 };

/** FNV-1a over a string, scaled to [0, 1): a stable per-record coin that does not consume the PRNG. */
export function hashUnit(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 4294967296;
}

const int = (rand: Rand, min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
const pick = <T>(rand: Rand, list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;

/** A version-4-shaped uuid drawn from the PRNG. */
export function uuidFrom(rand: Rand): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16));
  hex[12] = '4';
  hex[16] = '89ab'[Math.floor(rand() * 4)] as string;
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Amounts are kept in ten-thousandths so no float ever reaches a price. */
export function formatAmount(tenThousandths: number): string {
  const sign = tenThousandths < 0 ? '-' : '';
  const abs = Math.abs(Math.round(tenThousandths));
  return `${sign}${Math.floor(abs / 10_000)}.${String(abs % 10_000).padStart(4, '0')}`;
}

export interface Product {
  productId: string;
  productName: string;
  offerType: Subscription['offerType'];
  billingFrequency: Subscription['billingFrequency'];
  termDuration: Subscription['termDuration'];
  /** Monthly list price per seat, in ten-thousandths of a euro. */
  price: number;
}

export const CATALOGUE: readonly Product[] = [
  p('CFQ7TTC0LH18:0001', 'Microsoft 365 Business Basic', 'nce', 'monthly', 'P1Y', 56_000),
  p('CFQ7TTC0LDPB:0001', 'Microsoft 365 Business Standard', 'nce', 'monthly', 'P1Y', 117_000),
  p('CFQ7TTC0LCHC:0002', 'Microsoft 365 Business Premium', 'nce', 'monthly', 'P1Y', 206_000),
  p('CFQ7TTC0LF8Q:0001', 'Office 365 E3', 'nce', 'annual', 'P1Y', 216_000),
  p('CFQ7TTC0LFLZ:0002', 'Microsoft 365 E3', 'nce', 'monthly', 'P1Y', 330_000),
  p('CFQ7TTC0LFK5:0002', 'Microsoft 365 E5', 'nce', 'annual', 'P1Y', 547_000),
  p('CFQ7TTC0LH0R:0001', 'Exchange Online (Plan 1)', 'nce', 'monthly', 'P1M', 44_400),
  p('CFQ7TTC0LH1G:0002', 'Microsoft 365 Apps for business', 'nce', 'monthly', 'P1Y', 98_000),
  p('CFQ7TTC0LCH4:0001', 'Microsoft Intune Plan 1', 'nce', 'monthly', 'P1Y', 75_000),
  p('CFQ7TTC0LCHT:0001', 'Microsoft Defender for Business', 'nce', 'monthly', 'P1Y', 28_000),
  p('CFQ7TTC0L3PB:0001', 'Power BI Pro', 'nce', 'triennial', 'P3Y', 131_000),
  p('CFQ7TTC0HD33:0002', 'Visio Plan 2', 'license', 'monthly', 'P1M', 141_000),
];

function p(
  productId: string,
  productName: string,
  offerType: Product['offerType'],
  billingFrequency: Product['billingFrequency'],
  termDuration: Product['termDuration'],
  price: number,
): Product {
  return { productId, productName, offerType, billingFrequency, termDuration, price };
}

const FIRST = [
  'Van Dijk',
  'De Vries',
  'Bakker',
  'Jansen',
  'Visser',
  'Smit',
  'Mulder',
  'De Boer',
  'Hendriks',
  'Dekker',
  'Northwind',
  'Fabrikam',
  'Tailspin',
  'Woodgrove',
  'Litware',
  'Adatum',
  'Proseware',
  'Wingtip',
  'Lucerne',
  'Blue Yonder',
] as const;
const TRADE = [
  'Installatietechniek',
  'Accountants',
  'Logistics',
  'Bouw',
  'Advocaten',
  'Consulting',
  'Transport',
  'Tandartsen',
  'Makelaardij',
  'Engineering',
  'Software',
  'Zorggroep',
] as const;
const COUNTRIES = [
  { code: 'NL', forms: ['B.V.', 'N.V.', 'Holding B.V.'] },
  { code: 'BE', forms: ['BV', 'NV'] },
] as const;
const CONTACTS = [
  'Sanne de Jong',
  'Pieter Willems',
  'Emma Janssens',
  'Daan Vermeulen',
  'Sophie Clarke',
] as const;

/** The `onmicrosoft.com` label: lowercase letters and digits of the unique part of the name. */
const slug = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, '');

function companyName(rand: Rand, taken: Set<string>): { name: string; domain: string; countryCode: string } {
  for (let attempt = 0; ; attempt++) {
    const country = pick(rand, COUNTRIES);
    const base = `${pick(rand, FIRST)} ${pick(rand, TRADE)}`;
    // Past a few hundred customers the combinations run out: a number keeps names unique instead of looping.
    const unique = attempt < 50 ? base : `${base} ${taken.size + 1}`;
    if (!taken.has(unique)) {
      taken.add(unique);
      return {
        name: `${unique} ${pick(rand, country.forms)}`,
        domain: slug(unique),
        countryCode: country.code,
      };
    }
  }
}

const HOUR = 3_600_000;
const isoDay = (d: Date) => d.toISOString().slice(0, 10);
function addMonths(d: Date, months: number): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, d.getUTCDate()));
}
const TERM_MONTHS = { P1M: 1, P1Y: 12, P3Y: 36 } as const;

function makeCustomer(rand: Rand, taken: Set<string>, now: Date): Customer {
  const { name, domain, countryCode } = companyName(rand, taken);
  const contact = rand() < 0.8 ? pick(rand, CONTACTS) : null;
  return {
    id: uuidFrom(rand),
    name,
    microsoftTenantId: uuidFrom(rand),
    primaryDomain: `${domain}.onmicrosoft.com`,
    countryCode,
    currency: 'EUR',
    status: 'active',
    billing: { enabled: true, sendAllSubscriptions: false, pricingSource: 'spinpanel' },
    billingContact: contact
      ? {
          name: contact,
          email: `${contact.split(' ')[0]?.toLowerCase()}@${domain}.${countryCode.toLowerCase()}`,
        }
      : null,
    updatedAt: new Date(now.getTime() - int(rand, 24, 720) * HOUR).toISOString(),
  };
}

/** A complete, valid subscription for `customerId`; `overrides` win over every drawn field. */
export function makeSubscription(
  rand: Rand,
  customerId: string,
  product: Product,
  now: Date,
  overrides: Partial<Subscription> = {},
): Subscription {
  const quantity = int(rand, 1, 300);
  const start = addMonths(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), -int(rand, 1, 24));
  const term = TERM_MONTHS[product.termDuration];
  let end = addMonths(start, term);
  while (end <= now) end = addMonths(end, term);
  // CSP partners buy at list price minus a margin of 10–20%.
  const cost = Math.round((product.price * (80 + int(rand, 0, 10))) / 100);
  return {
    id: uuidFrom(rand),
    customerId,
    productId: product.productId,
    productName: product.productName,
    offerType: product.offerType,
    billingFrequency: product.billingFrequency,
    termDuration: product.termDuration,
    quantity,
    assignedLicenses: rand() < 0.2 ? null : int(rand, 0, quantity),
    unitCost: { amount: formatAmount(cost), currency: 'EUR' },
    unitPrice: { amount: formatAmount(product.price), currency: 'EUR' },
    status: 'active',
    billingEnabled: true,
    startDate: isoDay(start),
    commitmentEndDate: product.offerType === 'license' ? null : isoDay(end),
    updatedAt: new Date(now.getTime() - int(rand, 1, 720) * HOUR).toISOString(),
    ...overrides,
  };
}

const METERS = [
  { meterCategory: 'Virtual Machines', productName: 'D2s v5', unit: '1 Hour', qty: [100, 744], rate: 1_050 },
  {
    meterCategory: 'Storage',
    productName: 'Standard SSD Managed Disks E10',
    unit: '1/Month',
    qty: [1, 8],
    rate: 86_000,
  },
  { meterCategory: 'Bandwidth', productName: 'Data Transfer Out', unit: '1 GB', qty: [5, 900], rate: 790 },
  { meterCategory: 'Azure App Service', productName: 'B1', unit: '1 Hour', qty: [200, 744], rate: 1_600 },
] as const;
const RESOURCE_GROUPS = ['rg-web', 'rg-data', 'rg-backup', null] as const;

function makeUsage(rand: Rand, customerId: string, period: string): UsageLine[] {
  return Array.from({ length: int(rand, 2, 4) }, () => {
    const meter = pick(rand, METERS);
    const micro = int(rand, meter.qty[0] * 1_000_000, meter.qty[1] * 1_000_000);
    const quantity = `${Math.floor(micro / 1_000_000)}.${String(micro % 1_000_000).padStart(6, '0')}`;
    const cost = Math.round((micro / 1_000_000) * meter.rate);
    return {
      id: uuidFrom(rand),
      customerId,
      period,
      resourceGroup: pick(rand, RESOURCE_GROUPS),
      meterCategory: meter.meterCategory,
      productName: meter.productName,
      unit: meter.unit,
      quantity,
      cost: { amount: formatAmount(cost), currency: 'EUR' },
      // Half the lines carry a SpinPanel price; null means "apply the link's Azure mark-up".
      price: rand() < 0.5 ? null : { amount: formatAmount(Math.round(cost * 1.1)), currency: 'EUR' },
    };
  });
}

/** `YYYY-MM` of the month before `now` (UTC): the usage period being billed in arrears. */
export function previousPeriod(now: Date): string {
  return addMonths(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), -1)
    .toISOString()
    .slice(0, 7);
}

export interface SeedData {
  account: Account;
  customers: Customer[];
  subscriptions: Subscription[];
  usage: UsageLine[];
}

export interface SeedOptions {
  /** @defaultValue 1 */
  seed?: number;
  /** @defaultValue 5 */
  customers?: number;
  /** @defaultValue 4 */
  subscriptionsPerCustomer?: number;
  /** The clock the dates are relative to. @defaultValue the current time */
  now?: Date;
  /** The account's IANA time zone. @defaultValue UTC */
  timeZone?: string;
}

export function generateData(opts: SeedOptions = {}): SeedData {
  const rand = mulberry32(opts.seed ?? 1);
  const now = opts.now ?? new Date();
  const account: Account = {
    id: uuidFrom(rand),
    name: 'Contoso IT B.V.',
    region: 'westeurope',
    currency: 'EUR',
    timeZone: opts.timeZone ?? 'UTC',
  };
  const taken = new Set<string>();
  const customers = Array.from({ length: opts.customers ?? 5 }, () => makeCustomer(rand, taken, now));
  const perCustomer = opts.subscriptionsPerCustomer ?? 4;
  const subscriptions: Subscription[] = [];
  const usage: UsageLine[] = [];
  const period = previousPeriod(now);
  for (const customer of customers) {
    // Walk the catalogue from a random start so a customer holds distinct products until it wraps.
    const first = int(rand, 0, CATALOGUE.length - 1);
    for (let i = 0; i < perCustomer; i++) {
      const product = CATALOGUE[(first + i) % CATALOGUE.length] as Product;
      subscriptions.push(makeSubscription(rand, customer.id, product, now));
    }
    usage.push(...makeUsage(rand, customer.id, period));
  }
  return { account, customers, subscriptions, usage };
}
