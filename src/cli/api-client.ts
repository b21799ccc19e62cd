/** The admin API's one error shape, as the CLI reports it: the API's own message, never the token. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ApiClientOptions {
  /** Base URL of a running admin API, e.g. `http://127.0.0.1:8080`. */
  api: string;
  /** A bearer token of `API_TOKENS`; sent only in the Authorization header. */
  token: string;
  /** Which account the commands act on (the token must be allowed it). */
  accountId: string;
}

/** A thin JSON client over the admin API (`/openapi.json`): one request, one parsed answer or an ApiError. */
export class ApiClient {
  readonly #token: string;
  readonly base: string;
  readonly accountId: string;

  constructor(opts: ApiClientOptions) {
    this.#token = opts.token;
    this.base = opts.api.replace(/\/+$/, '');
    this.accountId = opts.accountId;
  }

  /** `path` is relative to the account: `/links` means `/v1/accounts/:accountId/links`. */
  account(path: string): string {
    return `/v1/accounts/${encodeURIComponent(this.accountId)}${path}`;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      throw new ApiError(0, 'api_unreachable', `cannot reach the API at ${this.base}`, { cause: error });
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? `HTTP ${res.status}`);
    }
    return parsed as T;
  }
}
