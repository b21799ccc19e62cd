import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import httpntlm from 'httpntlm';
import { type NTLMType3, ntlmParse } from 'ntlm-parser';
import { SandboxReply } from './errors.ts';

/**
 * Windows authentication of a NAV server instance (NTLM, also offered as Negotiate), connection-bound as http.sys
 * does it: Type 1 → 401 with a Type 2 challenge → Type 3, all on one TCP socket. A Type 3 on a socket that holds no
 * challenge is answered 400 (the real server's answer when a client without keep-alive opens a new connection).
 * After a good Type 3 the socket stays authenticated until it closes.
 *
 * The Type 3 is parsed with `ntlm-parser`; its NTLMv2 response is verified against the configured password
 * (MS-NLMP 3.3.2: NTProofStr = HMAC-MD5(NTOWFv2, server challenge ‖ blob)), with the NT hash (MD4) from
 * `httpntlm`. NTLMv1 answers are refused, as Windows servers that require NTLMv2 do; Kerberos/SPNEGO tokens are
 * not modelled and are refused too.
 */

export interface WindowsUser {
  domain: string;
  userName: string;
  password: string;
}

type SocketState = { stage: 'challenged'; challenge: Buffer } | { stage: 'authenticated'; user: string };

// NTLMSSP_NEGOTIATE_* flags the challenge offers: Unicode, request target, NTLM, always sign, target type domain,
// extended session security, target info, version, 128- and 56-bit.
const CHALLENGE_FLAGS =
  0x1 | 0x4 | 0x200 | 0x8000 | 0x10000 | 0x80000 | 0x800000 | 0x2000000 | 0x20000000 | 0x80000000;

function avPair(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(type, 0);
  head.writeUInt16LE(value.length, 2);
  return Buffer.concat([head, value]);
}

/** A CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) for `domain`, with target info (needed for NTLMv2). */
export function challengeMessage(domain: string, server: string, challenge: Buffer): Buffer {
  const u = (s: string) => Buffer.from(s, 'utf16le');
  const fileTime = Buffer.alloc(8);
  fileTime.writeBigUInt64LE((BigInt(Date.now()) + 11_644_473_600_000n) * 10_000n);
  const targetName = u(domain);
  const targetInfo = Buffer.concat([
    avPair(2, u(domain)),
    avPair(1, u(server)),
    avPair(4, u(`${domain.toLowerCase()}.local`)),
    avPair(3, u(`${server.toLowerCase()}.${domain.toLowerCase()}.local`)),
    avPair(7, fileTime),
    avPair(0, Buffer.alloc(0)),
  ]);
  const head = Buffer.alloc(56);
  head.write('NTLMSSP\0', 0, 'ascii');
  head.writeUInt32LE(2, 8);
  head.writeUInt16LE(targetName.length, 12);
  head.writeUInt16LE(targetName.length, 14);
  head.writeUInt32LE(56, 16);
  head.writeUInt32LE(CHALLENGE_FLAGS >>> 0, 20);
  challenge.copy(head, 24);
  head.writeUInt16LE(targetInfo.length, 40);
  head.writeUInt16LE(targetInfo.length, 42);
  head.writeUInt32LE(56 + targetName.length, 44);
  // Version: Windows Server 2016 (10.0.14393), NTLM revision 15.
  head.writeUInt8(10, 48);
  head.writeUInt8(0, 49);
  head.writeUInt16LE(14393, 50);
  head.writeUInt8(15, 55);
  return Buffer.concat([head, targetName, targetInfo]);
}

/**
 * Whether an NTLMv2 response proves knowledge of `password` for `user`@`domain` under `serverChallenge`.
 * NTOWFv2 = HMAC-MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) ‖ domain)).
 */
export function verifyNtlmV2(
  ntResponse: Buffer,
  serverChallenge: Buffer,
  user: string,
  domain: string,
  password: string,
): boolean {
  if (ntResponse.length <= 24) return false;
  const ntHash: Buffer = httpntlm.ntlm.create_NT_hashed_password(password);
  const owf = createHmac('md5', ntHash)
    .update(Buffer.from(user.toUpperCase() + domain, 'utf16le'))
    .digest();
  const proof = ntResponse.subarray(0, 16);
  const blob = ntResponse.subarray(16);
  const expected = createHmac('md5', owf)
    .update(Buffer.concat([serverChallenge, blob]))
    .digest();
  return timingSafeEqual(proof, expected);
}

export class NtlmGate {
  private sockets = new WeakMap<Socket, SocketState>();

  constructor(
    private readonly users: WindowsUser[],
    private readonly serverName = 'NAVSRV',
  ) {}

  private challengeOffer(): SandboxReply {
    return new SandboxReply(401, undefined, { 'WWW-Authenticate': ['Negotiate', 'NTLM'] });
  }

  reset(): void {
    this.sockets = new WeakMap();
  }

  /** The authenticated `DOMAIN\user` of this request's socket, or the reply that continues the handshake. */
  authenticate(socket: Socket, authorization: string | undefined): string {
    const state = this.sockets.get(socket);
    const m = /^(NTLM|Negotiate)\s+([A-Za-z0-9+/=]+)$/i.exec(authorization ?? '');
    if (!m) {
      if (!authorization && state?.stage === 'authenticated') return state.user;
      throw this.challengeOffer();
    }
    const scheme = m[1] as string;
    const token = Buffer.from(m[2] as string, 'base64');
    if (token.subarray(0, 8).toString('latin1') !== 'NTLMSSP\0') throw this.challengeOffer();
    const type = token.readUInt32LE(8);
    if (type === 1) {
      const challenge = randomBytes(8);
      this.sockets.set(socket, { stage: 'challenged', challenge });
      const domain = this.users[0]?.domain ?? 'SANDBOX';
      const msg = challengeMessage(domain.toUpperCase(), this.serverName, challenge).toString('base64');
      throw new SandboxReply(401, undefined, { 'WWW-Authenticate': `${scheme} ${msg}` });
    }
    if (type !== 3) throw this.challengeOffer();
    if (state?.stage !== 'challenged') {
      // The challenge lives on the connection that asked for it.
      throw new SandboxReply(400, '<h1>Bad Request</h1>', { 'Content-Type': 'text/html' });
    }
    this.sockets.delete(socket);
    const user = this.check(token, state.challenge);
    if (!user) throw this.challengeOffer();
    this.sockets.set(socket, { stage: 'authenticated', user });
    return user;
  }

  private check(token: Buffer, challenge: Buffer): string | undefined {
    let msg: NTLMType3;
    try {
      msg = ntlmParse(token.toString('base64')) as NTLMType3;
    } catch {
      return undefined;
    }
    if (!msg.ntlmResponseData?.hex) return undefined;
    const userName = msg.userNameData ?? '';
    const domain = msg.targetNameData ?? '';
    const who = this.users.find(
      (u) =>
        u.userName.toLowerCase() === userName.toLowerCase() &&
        u.domain.toLowerCase() === domain.toLowerCase(),
    );
    if (!who) return undefined;
    const nt = Buffer.from(msg.ntlmResponseData.hex, 'hex');
    if (!verifyNtlmV2(nt, challenge, userName, domain, who.password)) return undefined;
    return `${who.domain.toUpperCase()}\\${who.userName}`;
  }
}
