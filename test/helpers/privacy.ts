import { loadConfig } from '../../src/config.ts';
import { revokeConsent } from '../../src/consent/revoke.ts';
import type { Customer } from '../../src/domain/types.ts';
import type { CreateLinkDeps } from '../../src/links/links.ts';
import type { PrivacyDeps } from '../../src/privacy/deps.ts';
import { keyEnv, type TestStore } from './store.ts';

/** Link creation without a target: every credential is accepted, settings are taken as given. */
export const acceptingLinkDeps: CreateLinkDeps = {
  spinpanelAccount: async (_key, under) => under.accountId,
  verify: async () => ({ displayName: 'Sandbox DB' }),
  parseSettings: (_t, s) => s,
  defaultEveryMinutes: 60,
};

/** What the privacy features need, over a test store, with the real revocation (no queues). */
export const privacyDeps = (t: TestStore, env: Record<string, string> = {}): PrivacyDeps => ({
  store: t.ctx,
  config: loadConfig({ CREDENTIALS_KEYS: keyEnv(), ...env }),
  revokeConsent: (actor, accountId, consentId) => revokeConsent(t.ctx, actor, accountId, consentId),
});

/** A SpinPanel customer with a billing contact: the personal data minimisation must drop. */
export const customerWithContact = (id: string): Customer => ({
  id,
  name: `Customer ${id}`,
  microsoftTenantId: `t-${id}`,
  primaryDomain: `${id}.example`,
  countryCode: 'NL',
  currency: 'EUR',
  status: 'active',
  billing: { enabled: true, sendAllSubscriptions: true, pricingSource: 'spinpanel' },
  billingContact: { name: 'Jan Jansen', email: 'jan@example.nl' },
  updatedAt: '2026-01-01T00:00:00Z',
});
