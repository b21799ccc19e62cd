import axios from 'axios';
import { createAutotaskConnector } from '../../connectors/autotask/connector.ts';
import type { PlanOp } from '../../connectors/types.ts';

/** An Autotask connector talking to hosts that nock answers (unit tests of apply, verify and readState). */
export const LOOKUP = 'https://lookup.test';
export const ZONE = 'https://zone2.test';
export const API = '/ATServicesRest/V1.0';
export const Q = (entity: string) => `${API}/${entity}/query`;
export const credentials = { userName: 'api@example.com', secret: 'shh-secret', integrationCode: 'CODE' };

/** `withZone: false` makes the connector discover its zone first. Waits are skipped. */
export function nockConnector(withZone = true) {
  return createAutotaskConnector({
    http: axios.create({ timeout: 2_000 }),
    credentials,
    settings: { serviceBillingCodeId: 29682801, azureBillingCodeId: 29682802 },
    zoneLookupUrl: `${LOOKUP}/atservicesrest/v1.0/zoneInformation`,
    zoneUrl: withZone ? `${ZONE}/ATServicesRest/` : undefined,
    client: { sleep: async () => {} },
  });
}

export const contractBody = {
  contractName: 'SpinPanel – Contoso',
  contractNumber: 'SP-c1',
  contractType: 7,
  status: 1,
  companyID: 100,
  startDate: '2025-03-01',
  endDate: '2026-02-28',
  timeReportingRequiresStartAndStopTimes: 1,
  description: 'x',
};
/** The contract as Autotask returns it once made (id 77, dates as date-times). */
export const contractRow = {
  ...contractBody,
  id: 77,
  startDate: '2025-03-01T00:00:00Z',
  endDate: '2026-02-28T00:00:00Z',
};
export const createContract: PlanOp = {
  key: 'contract:c1',
  kind: 'createContract',
  summary: '',
  data: { body: contractBody },
};

/** The ContractServiceUnits row of contract service 900 on contract 77 for March 2025. */
export const unitsRow = (
  units: number,
  startDate = '2025-03-01T00:00:00Z',
  endDate = '2025-03-31T00:00:00Z',
) => ({
  id: 1,
  contractID: 77,
  contractServiceID: 900,
  startDate,
  endDate,
  units,
});
