import type { PlanOp } from '../types.ts';
import type { ContractBody, ServiceBody } from './mappers.ts';

/** A not-yet-created record: the id is found in ApplyResults under this op key. */
export interface Ref {
  ref: string;
}
export type IdOrRef = number | Ref;

export const isRef = (v: IdOrRef): v is Ref => typeof v === 'object';
export const refKeys = (...ids: IdOrRef[]): string[] => ids.filter(isRef).map((r) => r.ref);

export interface CreateServiceData {
  productId: string;
  body: ServiceBody;
}
/** PATCH of a Service SpinPanel created (e.g. the vendor setting changed). */
export interface UpdateServiceData {
  serviceId: number;
  changes: { vendorCompanyID: number };
}
export interface CreateContractData {
  body: ContractBody;
}
/** An expired managed contract gets a later end date (and is made active again). */
export interface RenewContractData {
  contractId: number;
  contractNumber: string;
  endDate: string;
  status?: number;
}
export interface AddContractServiceData {
  contractId: IdOrRef;
  serviceId: IdOrRef;
  unitPrice: number;
  unitCost?: number;
  invoiceDescription: string;
}
/** Sets a contract service's price in the customer's currency (`adjustedPrice` is its updatable price). */
export interface SetPriceData {
  contractId: number;
  contractServiceId: number;
  adjustedPrice: number;
}
export interface AdjustUnitsData {
  contractId: IdOrRef;
  contractServiceId: IdOrRef;
  serviceId: IdOrRef;
  unitChange: number;
  effectiveDate: string;
  /** Units the contract service should carry: apply re-reads the current units and posts the difference. */
  targetUnits: number;
  /** The day whose units apply re-reads (effective date + 7, or the contract's end when that is sooner). */
  readDate?: string;
  /** Sent only when SpinPanel sets prices; otherwise Autotask keeps its own. */
  adjustedUnitPrice?: number;
  adjustedUnitCost?: number;
}
/** One usage charge; `key` (in purchaseOrderNumber) is looked up before creating. */
export interface PostChargeData {
  contractId: IdOrRef;
  key: string;
  body: {
    name: string;
    description: string;
    datePurchased: string;
    unitQuantity: number;
    unitPrice: number;
    unitCost: number;
    billingCodeID: number;
    isBillableToCompany: boolean;
    purchaseOrderNumber: string;
  };
}

export type AutotaskOp =
  | PlanOp<'createService', CreateServiceData>
  | PlanOp<'updateService', UpdateServiceData>
  | PlanOp<'createContract', CreateContractData>
  | PlanOp<'renewContract', RenewContractData>
  | PlanOp<'addContractService', AddContractServiceData>
  | PlanOp<'setPrice', SetPriceData>
  | PlanOp<'adjustUnits', AdjustUnitsData>
  | PlanOp<'postCharge', PostChargeData>;
