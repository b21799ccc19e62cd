import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { invalidCredentials } from './errors.ts';
import type { NtlmGate } from './ntlm.ts';
import type { TokenIssuer } from './tokens.ts';

/** Who a request is: Basic (user + web service access key), NTLM on NAV, or a bearer token on BC online. */

export interface BasicUser {
  userName: string;
  webServiceAccessKey: string;
}

export function basicUser(authorization: string | undefined, users: BasicUser[], realm: string): string {
  const challenge = { 'WWW-Authenticate': `Basic realm="${realm}"` };
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization ?? '');
  if (!m) throw invalidCredentials(challenge);
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  const [name, key] = colon < 0 ? [text, ''] : [text.slice(0, colon), text.slice(colon + 1)];
  const user = users.find((u) => u.userName.toLowerCase() === name.toLowerCase());
  if (!user || user.webServiceAccessKey !== key) throw invalidCredentials(challenge);
  return user.userName;
}

export interface Authenticators {
  navAuth: 'basic' | 'windows';
  navUsers: BasicUser[];
  ntlm: NtlmGate;
  bcUsers: BasicUser[];
  tokens: TokenIssuer;
  authority: () => string;
}

export function identify(
  a: Authenticators,
  flavour: 'nav' | 'bcOnPrem' | 'bcOnline',
  req: IncomingMessage,
  tenant?: string,
): string {
  const authorization = req.headers.authorization;
  switch (flavour) {
    case 'nav':
      return a.navAuth === 'windows'
        ? a.ntlm.authenticate(req.socket as Socket, authorization)
        : basicUser(authorization, a.navUsers, 'Microsoft Dynamics NAV');
    case 'bcOnPrem':
      return basicUser(authorization, a.bcUsers, 'Business Central');
    case 'bcOnline':
      return a.tokens.check(authorization, tenant ?? '', a.authority());
  }
}
