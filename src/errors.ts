/** Errors the admin API turns into HTTP answers. `code` is stable snake_case; `status` is the HTTP status. */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const notFound = (what: string) => new AppError('not_found', 404, `${what} not found`);
export const forbidden = (why: string) => new AppError('forbidden', 403, why);
export const conflict = (code: string, why: string) => new AppError(code, 409, why);
