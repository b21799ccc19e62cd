import {
  type ApplyResults,
  type Connector,
  type ConnectorDeps,
  CredentialsRejectedError,
  type DesiredState,
  type Ledger,
  type LinkMapping,
  type Plan,
  type PlanOp,
  TargetError,
  type VerifyResult,
} from '../types.ts';
import { createAppliers } from './apply.ts';
import {
  AutotaskClient,
  type AutotaskClientOptions,
  AutotaskError,
  classifyAutotaskError,
} from './client.ts';
import { serviceName } from './mappers.ts';
import type { AutotaskOp } from './ops.ts';
import { planAutotask } from './planner.ts';
import { readAutotaskState } from './read.ts';
import { AutotaskCredentials, AutotaskSettings, type AutotaskSettingsInput } from './schemas.ts';
import { type AutotaskState, assertAutotaskState } from './state.ts';

export interface AutotaskConnectorDeps
  extends ConnectorDeps<AutotaskCredentials, AutotaskSettingsInput | AutotaskSettings> {
  /** e.g. https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation (configurable per link). */
  zoneLookupUrl: string;
  /** A zone cached on the link: skips the lookup. */
  zoneUrl?: string;
  /** Told the zone once a read found it (to cache it per link). */
  onZone?: (zoneUrl: string) => void;
  /** Tuning and test seams of the client (sleep, retry bounds, timeout). */
  client?: Partial<
    Omit<AutotaskClientOptions, 'http' | 'credentials' | 'zoneLookupUrl' | 'zoneUrl' | 'signal'>
  >;
}

export function createAutotaskConnector(deps: AutotaskConnectorDeps): Connector {
  const credentials = AutotaskCredentials.parse(deps.credentials);
  const settings = AutotaskSettings.parse(deps.settings);
  const client = new AutotaskClient({
    ...deps.client,
    http: deps.http,
    credentials,
    zoneLookupUrl: deps.zoneLookupUrl,
    zoneUrl: deps.zoneUrl,
    signal: deps.signal,
  });
  const appliers = createAppliers(client);

  async function verify(): Promise<VerifyResult> {
    let zoneUrl: string;
    try {
      zoneUrl = await client.zoneUrl();
    } catch (err) {
      // Autotask cannot place this user in any zone: the user name is wrong (or not an API user).
      throw rejectedOrRethrow(err, () => true);
    }
    try {
      // Company 0 is the Autotask owner (the MSP itself): a cheap authenticated call with a useful name.
      const owner = await client.queryPage('Companies', [{ op: 'eq', field: 'id', value: 0 }], {
        maxRecords: 1,
        includeFields: ['companyName'],
      });
      const name = (owner[0] as { companyName?: unknown } | undefined)?.companyName;
      return {
        displayName: typeof name === 'string' && name ? name : `Autotask (${new URL(zoneUrl).host})`,
        details: { zoneUrl, userName: credentials.userName },
      };
    } catch (err) {
      throw rejectedOrRethrow(err, (e) => e.status === 401 || e.status === 403);
    }
  }

  async function readState(
    desired: DesiredState,
    mapping: LinkMapping,
    ledger: Ledger,
  ): Promise<AutotaskState> {
    const state = await readAutotaskState(client, desired, mapping, settings, ledger, (l) =>
      serviceName(l.productName, l.period),
    );
    // The read found the zone (no request: the client keeps it), so the next run of the link skips the lookup.
    deps.onZone?.(await client.zoneUrl());
    return state;
  }

  // Ops of a plan this connector made from its own read, not applied yet: their lookups were that read.
  const unapplied = new WeakSet<PlanOp>();

  function plan(desired: DesiredState, state: unknown, mapping: LinkMapping, ledger: Ledger): Plan {
    assertAutotaskState(state);
    const made = planAutotask(desired, state, mapping, settings, ledger);
    for (const op of made.ops) unapplied.add(op);
    return made;
  }

  async function apply(op: PlanOp, results: ApplyResults): Promise<unknown> {
    const o = op as AutotaskOp;
    // Any other op (a replayed or rebuilt plan, a second try) looks its key up, or re-reads units, first.
    const checked = unapplied.delete(op);
    switch (o.kind) {
      case 'createService':
        return appliers.createService(o.data, checked);
      case 'updateService':
        return appliers.updateService(o.data);
      case 'createContract':
        return appliers.createContract(o.data, checked);
      case 'renewContract':
        return appliers.renewContract(o.data);
      case 'addContractService':
        return appliers.addContractService(o.data, results, checked);
      case 'setPrice':
        return appliers.setPrice(o.data);
      case 'adjustUnits':
        return appliers.adjustUnits(o.data, results, checked);
      case 'postCharge':
        return appliers.postCharge(o.data, results, checked);
      default: {
        const never: never = o;
        throw new TargetError(`unknown Autotask operation ${String((never as PlanOp).kind)}`, undefined, []);
      }
    }
  }

  return {
    kind: 'autotask',
    verify,
    readState,
    plan,
    apply,
    classify: classifyAutotaskError,
    // Usage is posted only with an Azure billing code to post it under.
    usageMonths: settings.azureBillingCodeId ? settings.usageMonths : 0,
    // Shown on the run record where the budget is watched (sync runs); a bare connector reads no more.
    ...(deps.client?.budget
      ? { budget: ({ fresh }) => client.budget.report(fresh, () => client.requestsSent) }
      : {}),
  };
}

/** A definite refusal becomes CredentialsRejectedError quoting Autotask; "try later" failures stay as they are. */
function rejectedOrRethrow(err: unknown, isRejection: (e: AutotaskError) => boolean): unknown {
  if (err instanceof AutotaskError && err.failure === 'permanent' && isRejection(err)) {
    const words = err.targetMessages.length > 0 ? err.targetMessages.join('; ') : `HTTP ${err.status ?? '?'}`;
    return new CredentialsRejectedError(words, { cause: err });
  }
  return err;
}
