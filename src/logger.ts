import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * Fields that hold a secret wherever they appear: link credentials (Autotask's `secret`, NAV/BC access keys and
 * client secrets, Windows passwords), SpinPanel keys, bearer tokens, the service's own keys. Never logging them is
 * the first line; these censor what slips through, at the top level and up to three objects deep.
 */
const SECRET_FIELDS = [
  'secret',
  'Secret',
  'password',
  'accessKey',
  'webServiceAccessKey',
  'clientSecret',
  'client_secret',
  'spinpanelApiKey',
  'apiKey',
  'credentials',
  'authorization',
  'Authorization',
  'cookie',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'CREDENTIALS_KEYS',
  'AUDIT_KEYS',
  'SPINPANEL_WEBHOOK_SECRET',
  'API_TOKENS',
];

/** Request headers of fastify's request serializer and of an axios error (`err.config.headers`). */
const HEADER_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-spinpanel-signature"]',
  '*.headers.authorization',
  '*.headers.Authorization',
  '*.headers.Secret',
  '*.headers.cookie',
  '*.config.headers.Authorization',
  '*.config.headers.authorization',
  '*.config.headers.Secret',
  '*.config.data',
  '*.request.headers.authorization',
];

export const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `*.*.*.${f}`]),
  ...HEADER_PATHS,
];

/**
 * The JSON logger of every process (api, worker, serve, demo): one object per line, ISO time, secrets censored
 * by path. Callers add the ids (fastify's `reqId`; a worker's runId/jobId/linkId child) rather than the logger.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
