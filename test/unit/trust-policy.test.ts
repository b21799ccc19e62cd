import axios from 'axios';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AutotaskClient,
  autotaskZonePolicy,
  classifyAutotaskError,
} from '../../connectors/autotask/client.ts';
import { assertNavisionHosts, NavisionCredentials } from '../../connectors/navision/schemas.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { assertHostAllowed, type HostPolicy, hostRefusal } from '../../src/net/host-policy.ts';
import { isRedirect, RequestRefusedError, redirectRefused, refusalOf } from '../../src/net/http.ts';
import { classifySpinPanelError } from '../../src/spinpanel/errors.ts';
import { generateData } from '../../src/spinpanel/seed.ts';
import { pullSnapshot, readAccount } from '../../src/spinpanel/snapshot.ts';
import { permanentRunFailure } from '../../src/sync/failure.ts';
import { keyEnv } from '../helpers/store.ts';

beforeAll(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
});

const autotask = autotaskZonePolicy();

describe('host policy', () => {
  it("lets Autotask's zones through over https only, on its own hosts", () => {
    expect(hostRefusal('https://webservices5.autotask.net/ATServicesRest/', autotask)).toBeUndefined();
    expect(hostRefusal('https://WebServices15.AutoTask.net:443/x', autotask)).toBeUndefined();
    expect(hostRefusal('http://webservices5.autotask.net/ATServicesRest/', autotask)).toBe(
      'Autotask is reached over https only',
    );
    for (const url of [
      'https://autotask.net/',
      'https://evilautotask.net/',
      'https://webservices5.autotask.net.evil.example/',
      'https://127.0.0.1/',
    ]) {
      expect(hostRefusal(url, autotask), url).toMatch(/is not a host of Autotask \(\*\.autotask\.net\)/);
    }
    // Whatever stands before an @ is user info, not the host: refused either way.
    for (const url of [
      'https://u:p@webservices5.autotask.net/',
      'https://webservices5.autotask.net@evil.example/',
    ]) {
      expect(hostRefusal(url, autotask), url).toBe('it carries a user name or password');
    }
    expect(hostRefusal('ftp://webservices5.autotask.net/', autotask)).toBe('ftp: is neither https nor http');
    expect(hostRefusal('/relative', autotask)).toBe('it is not an absolute URL');
  });

  it('lets a sandbox add its own hosts, over http too, and a port pins the one port', () => {
    const policy: HostPolicy = {
      ...autotask,
      extra: ['127.0.0.1:8443', 'sandbox.internal', '*.lab.example'],
    };
    expect(hostRefusal('http://127.0.0.1:8443/ATServicesRest/', policy)).toBeUndefined();
    expect(hostRefusal('http://127.0.0.1:8444/', policy)).toMatch(
      /127\.0\.0\.1:8444 is not a host of Autotask \(\*\.autotask\.net, or the configured 127\.0\.0\.1:8443, sandbox\.internal, \*\.lab\.example\)/,
    );
    expect(hostRefusal('http://sandbox.internal:1234/', policy)).toBeUndefined();
    expect(hostRefusal('http://zone.lab.example/', policy)).toBeUndefined();
    expect(hostRefusal('http://lab.example/', policy)).toMatch(/not a host of Autotask/);
    // The default ports count: a pattern with :443 matches an https URL that names none.
    expect(hostRefusal('https://sandbox.example/', { ...autotask, extra: ['sandbox.example:443'] })).toBe(
      undefined,
    );
  });

  it('refuses with the origin alone, never the path or query, and as a permanent target refusal', () => {
    let caught: unknown;
    try {
      assertHostAllowed('http://10.0.0.9:81/path?user=api@msp.example', autotask, 'the Autotask zone');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RequestRefusedError);
    const err = caught as RequestRefusedError;
    expect(err).toMatchObject({ name: 'TargetError', code: 'host_not_allowed' });
    expect(err.message).toBe(
      'the Autotask zone http://10.0.0.9:81 is refused: 10.0.0.9:81 is not a host of Autotask (*.autotask.net); no credential was sent to it',
    );
    expect(classifyAutotaskError(err).kind).toBe('permanent');
    // The engine ends the job at once for it, the same as for the target's own permanent refusals.
    expect(permanentRunFailure(err, { classify: classifyAutotaskError })?.name).toBe('RunFailedPermanently');
  });
});

describe('redirects', () => {
  it('are 3xx answers other than 304', () => {
    expect([301, 302, 303, 307, 308, 300].every(isRedirect)).toBe(true);
    expect([200, 204, 304, 400, undefined].some(isRedirect)).toBe(false);
  });

  it("name the Location's host (relative ones on the request's), never a path or query", () => {
    const err = redirectRefused(
      302,
      'https://a.example/v1/account?key=x',
      'https://b.example:8443/steal?k=1',
    );
    expect(err).toMatchObject({ name: 'TargetError', code: 'redirect_refused', status: 302 });
    expect(err.message).toBe(
      'a.example answered 302 with a redirect to b.example:8443: redirects are not followed, so nothing was sent there (point the link at the final address)',
    );
    expect(redirectRefused(307, 'https://a.example/x', '/elsewhere').message).toContain(
      'a redirect to a.example',
    );
    expect(redirectRefused(301, 'https://a.example/x', undefined).message).toContain(
      'a redirect without a Location',
    );
  });

  it('are found behind a wrapping error and across a process boundary (by name and code)', () => {
    const inner = redirectRefused(302, 'https://a.example/', 'https://b.example/');
    const wrapped = new Error('the customer service "Customer" cannot be read', { cause: inner });
    expect(refusalOf(wrapped)).toEqual({ code: 'redirect_refused', message: inner.message });
    const revived = Object.assign(new Error('x'), { name: 'TargetError', code: 'host_not_allowed' });
    expect(refusalOf(revived)?.code).toBe('host_not_allowed');
    expect(refusalOf(Object.assign(new Error('x'), { name: 'TargetError', code: 'Other' }))).toBeUndefined();
  });
});

describe('the Autotask zone', () => {
  const credentials = { userName: 'api@example.com', secret: 'zone-secret', integrationCode: 'CODE' };
  const LOOKUP = 'https://webservices.autotask.net';
  const client = (over: Record<string, unknown> = {}) =>
    new AutotaskClient({
      http: axios.create(),
      credentials,
      zoneLookupUrl: `${LOOKUP}/atservicesrest/v1.0/zoneInformation`,
      zonePolicy: autotask,
      sleep: async () => {},
      ...over,
    });
  const lookupAnswers = (url: string) =>
    nock(LOOKUP).get('/atservicesrest/v1.0/zoneInformation').query(true).reply(200, { url, ci: 1 });

  it('a looked-up zone off the policy is refused before anything is sent to it', async () => {
    const lookup = lookupAnswers('http://webservices5.autotask.net/ATServicesRest/');
    const zone = nock('http://webservices5.autotask.net').post(/.*/).reply(200, { items: [] });
    await expect(client().queryPage('Companies', [])).rejects.toMatchObject({
      code: 'host_not_allowed',
      message: expect.stringContaining('Autotask is reached over https only'),
    });
    expect(lookup.isDone()).toBe(true);
    expect(zone.isDone()).toBe(false);
  });

  it('a zone given from a cache is checked the same, and a good zone is used', async () => {
    await expect(client({ zoneUrl: 'https://zone.evil.example/ATServicesRest/' }).zoneUrl()).rejects.toThrow(
      /the Autotask zone https:\/\/zone\.evil\.example is refused/,
    );
    lookupAnswers('https://webservices5.autotask.net/ATServicesRest/');
    await expect(client().zoneUrl()).resolves.toBe('https://webservices5.autotask.net/ATServicesRest/');
  });
});

describe('NAV / BC URLs', () => {
  const online = {
    flavour: 'bc-online',
    tenantId: 'contoso.onmicrosoft.com',
    environment: 'Production',
    company: 'CRONUS',
    clientId: 'client',
    clientSecret: 'bc-secret',
  };
  const onprem = {
    flavour: 'bc-onprem',
    baseUrl: 'http://bc.msp.local:7048',
    serverInstance: 'BC',
    company: 'CRONUS',
    auth: { type: 'basic', user: 'SYNC', accessKey: 'k'.repeat(44) },
  };
  const check =
    (c: Record<string, unknown>, extra: string[] = []) =>
    () =>
      assertNavisionHosts(NavisionCredentials.parse(c), extra);

  it("BC online: Microsoft's hosts over https, or a sandbox's listed ones", () => {
    expect(check(online)).not.toThrow();
    expect(check({ ...online, authorityUrl: 'https://login.evil.example' })).toThrow(
      /authorityUrl https:\/\/login\.evil\.example is refused: .*not a host of Microsoft \(login\.microsoftonline\.com\)/,
    );
    expect(check({ ...online, apiUrl: 'http://api.businesscentral.dynamics.com' })).toThrow(
      /apiUrl .* is refused: Microsoft is reached over https only/,
    );
    const sandbox = { ...online, authorityUrl: 'http://127.0.0.1:9000', apiUrl: 'http://127.0.0.1:9000' };
    expect(check(sandbox, ['127.0.0.1:9000'])).not.toThrow();
    expect(check(sandbox, ['127.0.0.1:9001'])).toThrow(/127\.0\.0\.1:9000 is not a host of Microsoft/);
    // BC online cannot be told to use http.
    expect(() => NavisionCredentials.parse({ ...online, allowHttp: true })).toThrow(/https only/);
  });

  it('on-premises: any host of the MSP, over https unless the link allows http', () => {
    expect(check(onprem)).toThrow(
      'the on-premises server http://bc.msp.local:7048 is refused: it is reached over https unless the credentials say allowHttp: true',
    );
    expect(check({ ...onprem, allowHttp: true })).not.toThrow();
    expect(check({ ...onprem, baseUrl: 'https://bc.msp.local:7048' })).not.toThrow();
    expect(
      check({ ...onprem, flavour: 'nav-odata', auth: { type: 'ntlm', user: 'u', password: 'p' } }),
    ).toThrow(/allowHttp: true/);
  });
});

describe('account binding of a pull', () => {
  const data = generateData({ seed: 7, customers: 2, subscriptionsPerCustomer: 1 });
  const source = (asked: string[]) => {
    const read =
      <T>(path: string, answer: T) =>
      async () => {
        asked.push(path);
        return answer;
      };
    return {
      getAccount: read('/account', data.account),
      listCustomers: read('/customers', data.customers),
      listSubscriptions: read('/subscriptions', []),
    };
  };

  it("reads nothing after /account when the key is another account's, and fails for good", async () => {
    const asked: string[] = [];
    const err = await pullSnapshot(source(asked), { accountId: 'acct-other' }).catch((e: unknown) => e);
    expect(asked).toEqual(['/account']);
    expect((err as Error).message).toBe(
      "SpinPanel GET /account failed: API key of another account — the key belongs to another SpinPanel account, not to acct-other; nothing else is read with it (link acct-other's own key)",
    );
    // The key's own account is not named.
    expect((err as Error).message).not.toContain(data.account.id);
    expect(classifySpinPanelError(err).kind).toBe('permanent');
  });

  it('goes on when the key is the account’s own', async () => {
    const asked: string[] = [];
    const snap = await pullSnapshot(source(asked), { accountId: data.account.id });
    expect(snap.account.id).toBe(data.account.id);
    expect(asked[1]).toBe('/customers');
    await expect(readAccount({ getAccount: async () => ({ id: 1 }) })).rejects.toThrow(
      /invalid account record/,
    );
  });
});

describe('config', () => {
  it('takes the extra hosts as lists and names a bad entry', () => {
    const config = loadConfig({
      CREDENTIALS_KEYS: keyEnv(),
      AUTOTASK_ALLOWED_HOSTS: ' 127.0.0.1:8443, *.sandbox.example ',
    });
    expect(config.AUTOTASK_ALLOWED_HOSTS).toEqual(['127.0.0.1:8443', '*.sandbox.example']);
    expect(config.NAVISION_ALLOWED_HOSTS).toEqual([]);
    let caught: unknown;
    try {
      loadConfig({ CREDENTIALS_KEYS: keyEnv(), NAVISION_ALLOWED_HOSTS: 'http://bc.example' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).problems.join('\n')).toMatch(
      /NAVISION_ALLOWED_HOSTS.*each entry must be host, host:port or \*\.domain/,
    );
  });
});
