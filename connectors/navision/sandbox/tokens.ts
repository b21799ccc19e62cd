import { randomBytes, randomUUID } from 'node:crypto';
import type { Result } from './crud.ts';
import { SandboxReply } from './errors.ts';

/**
 * A stand-in for Microsoft Entra ID's token endpoint (`POST /{tenant}/oauth2/v2.0/token`, client credentials) and
 * the bearer check of BC online. Tokens look like Entra's JWTs but are only valid here; they expire after the
 * configured lifetime, and an expired or unknown one gets 401 with `WWW-Authenticate: Bearer … error="invalid_token"`.
 */

export const BC_SCOPE = 'https://api.businesscentral.dynamics.com/.default';
const AUDIENCE = 'https://api.businesscentral.dynamics.com';

interface Issued {
  clientId: string;
  tenantId: string;
  expiresAt: number;
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** Entra's error body: `error`, an `AADSTS…` description, codes and ids. */
function entraError(status: number, error: string, code: number, text: string): SandboxReply {
  const trace = randomUUID();
  const correlation = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return new SandboxReply(status, {
    error,
    error_description: `AADSTS${code}: ${text} Trace ID: ${trace} Correlation ID: ${correlation} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: trace,
    correlation_id: correlation,
  });
}

export class TokenIssuer {
  private readonly issued = new Map<string, Issued>();

  constructor(
    private readonly tenantId: string,
    private readonly clients: { clientId: string; clientSecret: string }[],
    private lifetimeS: number,
  ) {}

  setLifetime(s: number): void {
    this.lifetimeS = s;
  }

  expireAll(): void {
    for (const t of this.issued.values()) t.expiresAt = 0;
  }

  /** Answers a token request; `form` is the urlencoded body. */
  token(tenant: string, method: string, form: URLSearchParams): Result {
    if (method !== 'POST')
      throw entraError(405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
    if (tenant !== this.tenantId)
      throw entraError(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials')
      throw entraError(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grant ?? ''}'.`,
      );
    const clientId = form.get('client_id') ?? '';
    const client = this.clients.find((c) => c.clientId === clientId);
    if (!client)
      throw entraError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`,
      );
    if (form.get('client_secret') !== client.clientSecret)
      throw entraError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    const scope = form.get('scope');
    if (!scope)
      throw entraError(
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'scope'.",
      );
    if (scope !== BC_SCOPE) {
      if (scope.startsWith(AUDIENCE) && !scope.endsWith('/.default'))
        throw entraError(
          400,
          'invalid_scope',
          1002012,
          `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        );
      throw entraError(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${scope.replace(/\/\.default$/, '')} was not found in the tenant named ${tenant}.`,
      );
    }
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      aud: AUDIENCE,
      iss: `https://sts.windows.net/${tenant}/`,
      iat: now,
      nbf: now,
      exp: now + this.lifetimeS,
      appid: clientId,
      tid: tenant,
      roles: ['API.ReadWrite.All'],
      jti: randomUUID(),
    };
    const token = `${b64url({ typ: 'JWT', alg: 'RS256', kid: 'sandbox' })}.${b64url(payload)}.${randomBytes(32).toString('base64url')}`;
    this.issued.set(token, { clientId, tenantId: tenant, expiresAt: Date.now() + this.lifetimeS * 1000 });
    return {
      status: 200,
      body: {
        token_type: 'Bearer',
        expires_in: this.lifetimeS,
        ext_expires_in: this.lifetimeS,
        access_token: token,
      },
    };
  }

  /** The client id a bearer token belongs to, or a 401 as BC online answers it. */
  check(authorization: string | undefined, tenant: string, authority: string): string {
    const challenge = `Bearer authorization_uri="${authority}/${this.tenantId}/oauth2/authorize", resource_id="${AUDIENCE}"`;
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const refuse = (extra: string) =>
      new SandboxReply(
        401,
        {
          error: {
            code: 'Authentication_InvalidCredentials',
            message: `The server has rejected the client credentials.  CorrelationId: ${randomUUID()}.`,
          },
        },
        { 'WWW-Authenticate': `${challenge}${extra}` },
      );
    if (!m) throw refuse('');
    const t = this.issued.get(m[1] as string);
    if (!t) throw refuse(', error="invalid_token", error_description="The access token is invalid"');
    if (t.expiresAt <= Date.now())
      throw refuse(', error="invalid_token", error_description="The access token has expired"');
    if (t.tenantId !== tenant)
      throw refuse(', error="invalid_token", error_description="The access token is for another tenant"');
    return t.clientId;
  }
}
