/**
 * A local Dynamics NAV 2016–2018 (OData V4 page web services) and Business Central API v2.0 (on-premises and
 * online, with an Entra ID token endpoint) that speaks the wire format of /work/shared/specs/navision.md and
 * connectors/navision/NOTES.md, for e2e tests and the demo. The implementation lives in ./sandbox/.
 */
export type { Company, Customer, Item, PostedSalesInvoice, SalesInvoice, SalesLine } from './sandbox/db.ts';
export type { FaultKind, FaultOptions, Faults, ScriptedFault } from './sandbox/faults.ts';
export { NAVISION_SANDBOX_DEFAULTS, startNavisionSandbox } from './sandbox/server.ts';
export type {
  BcOnlineOptions,
  BcOnPremOptions,
  CompanySeed,
  Flavour,
  LimitOptions,
  NavisionRequest,
  NavisionSandbox,
  NavisionSandboxOptions,
  NavOptions,
  NavServiceNames,
  SandboxSettingsPatch,
} from './sandbox/types.ts';
