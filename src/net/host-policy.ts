import { RequestRefusedError } from './http.ts';

/**
 * Where a link's credentials may be sent: over https to the hosts the target itself uses, and — for a sandbox
 * or test double the operator names — over http or https to a few extra hosts. A pattern is a host name or IP
 * (`webservices5.autotask.net`, `127.0.0.1`), optionally with a port (`127.0.0.1:8443`, then only that port),
 * or `*.` and a domain for every host below it (`*.autotask.net`, which `autotask.net` itself is not).
 */
export interface HostPolicy {
  /** Whose hosts these are, for the refusal: "Autotask", "Microsoft (Entra ID)". */
  owner: string;
  /** The target's own hosts, https only. */
  https: readonly string[];
  /** Extra hosts (a sandbox's), http allowed. */
  extra: readonly string[];
}

/** A host pattern as the settings take it (see HostPolicy). */
export const HOST_PATTERN = /^(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/i;

function matches(pattern: string, url: URL): boolean {
  const m = HOST_PATTERN.exec(pattern.trim());
  if (!m) return false;
  const host = url.hostname.toLowerCase();
  const name = m[2]!.toLowerCase();
  const port = m[4]?.slice(1);
  const effectivePort = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (port !== undefined && port !== effectivePort) return false;
  return m[1] ? host.endsWith(`.${name}`) : host === name;
}

/** `https://host:port` of a URL: what a refusal may show (never a path, query or user info). */
export function originOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'an unreadable URL';
  }
}

/** Why `url` is outside `policy`, or undefined when it is inside. */
export function hostRefusal(url: string, policy: HostPolicy): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'it is not an absolute URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `${u.protocol} is neither https nor http`;
  if (u.username || u.password) return 'it carries a user name or password';
  if (policy.extra.some((p) => matches(p, u))) return undefined;
  if (!policy.https.some((p) => matches(p, u))) {
    const extra = policy.extra.length > 0 ? `, or the configured ${policy.extra.join(', ')}` : '';
    return `${u.host} is not a host of ${policy.owner} (${policy.https.join(', ')}${extra})`;
  }
  if (u.protocol !== 'https:') return `${policy.owner} is reached over https only`;
  return undefined;
}

/** Throws, before anything is sent, when `url` is outside `policy`; `what` names it: "the Autotask zone". */
export function assertHostAllowed(url: string, policy: HostPolicy, what: string): void {
  const reason = hostRefusal(url, policy);
  if (reason === undefined) return;
  throw new RequestRefusedError(
    'host_not_allowed',
    `${what} ${originOf(url)} is refused: ${reason}; no credential was sent to it`,
  );
}
