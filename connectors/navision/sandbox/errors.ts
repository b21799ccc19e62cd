import { randomUUID } from 'node:crypto';

/** A response the sandbox answers instead of a result: thrown by handlers, rendered by the server. */
export class SandboxReply extends Error {
  override name = 'SandboxReply';
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers?: Record<string, string | string[]>,
  ) {
    super(`HTTP ${status}`);
  }
}

/** NAV's and BC's OData error body: the message ends with two spaces and a correlation id. */
export const odataError = (
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string | string[]>,
): SandboxReply =>
  new SandboxReply(
    status,
    { error: { code, message: `${message}  CorrelationId: ${randomUUID()}.` } },
    headers,
  );

// The codes and texts below are those of Microsoft's "Troubleshooting OData/API calls" table unless noted.

export const syntaxError = (): SandboxReply =>
  odataError(400, 'BadRequest_NotFound', 'Bad Request - Error in query syntax.');

export const segmentNotFound = (segment: string): SandboxReply =>
  odataError(404, 'BadRequest_ResourceNotFound', `Resource not found for the segment '${segment}'.`);

/** A key that matches no record (status and code inferred: the OData stack's not-found, with NAV's text). */
export const recordNotFound = (table: string, key: string): SandboxReply =>
  odataError(
    404,
    'BadRequest_NotFound',
    `The ${table} does not exist. Identification fields and values: ${key}`,
  );

export const methodNotAllowed = (method: string, set: string): SandboxReply =>
  odataError(
    405,
    'BadRequest_MethodNotAllowed',
    `'${method}' requests for '${set}' of EdmType 'Entity' are not allowed within Microsoft Dynamics NAV OData web services.`,
  );

export const badRequest = (message: string): SandboxReply => odataError(400, 'BadRequest', message);

export const unknownProperty = (name: string, type: string): SandboxReply =>
  odataError(400, 'BadRequest_NotFound', `Could not find a property named '${name}' on type '${type}'.`);

export const dialog = (message: string): SandboxReply =>
  odataError(400, 'Application_DialogException', message);

export const readOnlyControl = (caption: string): SandboxReply =>
  odataError(400, 'BadRequest_InvalidOperation', `Control '${caption}' is read-only`);

export const stringTooLong = (value: string, max: number): SandboxReply =>
  odataError(
    400,
    'Application_StringExceededLength',
    `The length of the string is ${value.length}, but it must be less than or equal to ${max} characters. Value: ${value}`,
  );

export const missingConcurrencyToken = (): SandboxReply =>
  odataError(
    400,
    'BadRequest_InvalidToken',
    'Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.',
  );

export const entityChanged = (): SandboxReply =>
  odataError(409, 'Request_EntityChanged', 'Another user has already changed the record.');

export const tableRelation = (field: string, table: string, value: string, related: string): SandboxReply =>
  odataError(
    400,
    'Internal_InvalidTableRelation',
    `The field ${field} of table ${table} contains a value (${value}) that cannot be found in the related table (${related}).`,
  );

/** A related record that must exist (NAV's `Record.GET` error; 400 on a write is inferred). */
export const relatedNotFound = (table: string, key: string): SandboxReply =>
  odataError(
    400,
    'Internal_RecordNotFound',
    `The ${table} does not exist. Identification fields and values: ${key}`,
  );

export const testField = (field: string, table: string, key: string): SandboxReply =>
  odataError(
    400,
    'Application_FieldValidationException',
    `${field} must have a value in ${table}: ${key}. It cannot be zero or empty.`,
  );

export const manualNumbers = (series: string): SandboxReply =>
  dialog(
    `You may not enter numbers manually. If you want to enter numbers manually, please activate Manual Nos. in No. Series ${series}.`,
  );

export const invalidCredentials = (headers?: Record<string, string | string[]>): SandboxReply =>
  odataError(
    401,
    'Authentication_InvalidCredentials',
    'The server has rejected the client credentials.',
    headers,
  );
