export { planUsageMonth, usageCharges, usageKeyBase } from '../../src/billing/charges.ts';
export {
  AutotaskClient,
  type AutotaskClientOptions,
  AutotaskError,
  classifyAutotaskError,
  type Filter,
} from './client.ts';
export { type AutotaskConnectorDeps, createAutotaskConnector } from './connector.ts';
export { contractBody, serviceBody } from './mappers.ts';
export type { AutotaskOp } from './ops.ts';
export { planAutotask } from './planner.ts';
export { AutotaskCredentials, AutotaskSettings, type AutotaskSettingsInput } from './schemas.ts';
export type { AutotaskState } from './state.ts';
