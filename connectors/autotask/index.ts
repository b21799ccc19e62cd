export {
  AutotaskClient,
  type AutotaskClientOptions,
  AutotaskError,
  classifyAutotaskError,
  type Filter,
} from './client.ts';
export { type AutotaskConnectorDeps, createAutotaskConnector } from './connector.ts';
export { contractBody, serviceBody } from './mappers.ts';
export { type AutotaskOp, type AutotaskState, planAutotask } from './planner.ts';
export { AutotaskCredentials, AutotaskSettings, type AutotaskSettingsInput } from './schemas.ts';
