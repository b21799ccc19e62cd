import {
  type ApplyResults,
  type Connector,
  type ConnectorDeps,
  type DesiredState,
  type Ledger,
  type LinkMapping,
  type Plan,
  type PlanOp,
  TargetError,
  type VerifyResult,
} from '../types.ts';
import { createAppliers } from './apply.ts';
import { NavisionClient, type NavisionClientOptions } from './client.ts';
import { segment } from './company.ts';
import { classifyNavisionError, credentialsRejected } from './errors.ts';
import { fieldsOf } from './fields.ts';
import { type NavisionOp, planNavision } from './planner.ts';
import { type NavisionState, readNavisionState } from './read.ts';
import { NavisionCredentials } from './schemas.ts';
import { NavisionSettings, type NavisionSettingsInput } from './settings.ts';

export interface NavisionConnectorDeps
  extends ConnectorDeps<unknown, NavisionSettingsInput | NavisionSettings> {
  /** Limits, budget and test seams of the client. */
  client?: Partial<Omit<NavisionClientOptions, 'http' | 'credentials' | 'signal'>>;
}

function assertState(state: unknown): asserts state is NavisionState {
  const s = state as Partial<NavisionState> | null;
  if (!s || typeof s.today !== 'string' || !Array.isArray(s.customers) || !Array.isArray(s.invoices)) {
    throw new TargetError('the NAV / BC plan was given a state that readState did not make', undefined, []);
  }
}

/** Dynamics NAV 2016–2018 (OData V4 pages) and Business Central API v2.0 (online, on-premises). */
export function createNavisionConnector(deps: NavisionConnectorDeps): Connector {
  const credentials = NavisionCredentials.parse(deps.credentials);
  const settings = NavisionSettings.parse(deps.settings);
  const client = new NavisionClient({ ...deps.client, http: deps.http, credentials, signal: deps.signal });
  const f = fieldsOf(credentials.flavour);
  const appliers = createAppliers(client, f, settings);

  /**
   * The credentials, the company (by name: NAV answers it back, BC resolves its id) and every entity set the sync
   * uses; a failure says which and why, in the target's words.
   */
  async function verify(): Promise<VerifyResult> {
    let company: { name: string; id?: string };
    try {
      company = await client.checkCompany();
    } catch (err) {
      throw credentialsRejected(err) ?? err;
    }
    const sets = client.sets;
    const checked: string[] = [];
    for (const [use, set] of Object.entries(sets)) {
      // BC's lines are read per invoice (a documentId filter is required): the invoices' read covers them.
      if (checked.includes(set) || (use === 'salesInvoiceLines' && credentials.flavour !== 'nav-odata'))
        continue;
      try {
        // One page of one record: readable, published, and the user may see it.
        for await (const _page of client.pages(segment(set), { maxPageSize: 1 })) break;
        checked.push(set);
      } catch (err) {
        const rejected = credentialsRejected(err);
        if (rejected) throw rejected;
        const words = err instanceof Error ? err.message : String(err);
        const status = (err as { status?: unknown }).status;
        throw new TargetError(
          `the ${use} service "${set}" cannot be read: ${words}`,
          typeof status === 'number' ? status : undefined,
          [words],
          { cause: err },
        );
      }
    }
    return {
      displayName: company.name,
      details: {
        flavour: credentials.flavour,
        ...(company.id ? { companyId: company.id } : {}),
        services: checked,
      },
    };
  }

  const readState = (desired: DesiredState, mapping: LinkMapping, ledger: Ledger): Promise<NavisionState> =>
    readNavisionState(client, f, desired, mapping, ledger, settings);

  // Ops of a plan this connector made from its own read, not applied yet: their look-ups were that read.
  const unapplied = new WeakSet<PlanOp>();

  function plan(desired: DesiredState, state: unknown, mapping: LinkMapping, ledger: Ledger): Plan {
    assertState(state);
    const made = planNavision(desired, state, mapping, settings, ledger);
    for (const op of made.ops) unapplied.add(op);
    return made;
  }

  async function apply(op: PlanOp, results: ApplyResults): Promise<unknown> {
    const o = op as NavisionOp;
    const checked = unapplied.delete(op);
    switch (o.kind) {
      case 'createCustomer':
        return appliers.createCustomer(o.data, checked);
      case 'createItem':
        return appliers.createItem(o.data, checked);
      case 'createInvoice':
        return appliers.createInvoice(o.data, results, checked);
      case 'completeInvoice':
        return appliers.completeInvoice(o.data, results);
      case 'postInvoice':
        return appliers.postInvoice(o.data, results);
      default: {
        const never: never = o;
        throw new TargetError(`unknown NAV / BC operation ${String((never as PlanOp).kind)}`, undefined, []);
      }
    }
  }

  return {
    kind: 'navision',
    verify,
    readState,
    plan,
    apply,
    classify: classifyNavisionError,
    usageMonths: 1,
    ...(deps.client?.budget ? { budget: ({ fresh }) => client.report(fresh) } : {}),
  };
}
