import pino, { type Logger } from 'pino';

/** Paths that could ever hold a secret are censored, as a second line behind never logging them. */
const REDACT = [
  'secret',
  '*.secret',
  'credentials',
  '*.credentials',
  'spinpanelApiKey',
  '*.spinpanelApiKey',
  'authorization',
  '*.authorization',
  'headers.Secret',
  'req.headers.authorization',
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}
