import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/api-client.ts';
import { clientFrom } from '../../src/cli/remote-context.ts';
import { exitCodeOf } from '../../src/cli/remote-sync.ts';
import { progressBar, table } from '../../src/cli/table.ts';

describe('remote CLI pieces', () => {
  it('takes flags over the environment, treats blank variables as unset, and names every missing one', () => {
    const env = { BILLING_SYNC_API: 'http://env:1', BILLING_SYNC_TOKEN: 't', BILLING_SYNC_ACCOUNT: ' ' };
    expect(() => clientFrom({}, env)).toThrow(/--account \(or BILLING_SYNC_ACCOUNT\)/);
    const c = clientFrom({ api: 'http://flag:2/', account: 'acc' }, env);
    expect(c.base).toBe('http://flag:2');
    expect(c.account('/links')).toBe('/v1/accounts/acc/links');
    expect(() => clientFrom({}, {})).toThrow(UsageError);
    expect(() => clientFrom({ api: 'flag:2', token: 't', account: 'a' }, {})).toThrow(/http\(s\) URL/);
  });

  it('keeps the token out of what a client shows of itself', () => {
    const c = clientFrom({ api: 'http://h:1', token: 'sekrit-token-123', account: 'a' }, {});
    expect(JSON.stringify(c)).not.toContain('sekrit');
  });

  it('pads table columns, says (none) for no rows, and draws done/total', () => {
    expect(
      table(
        [
          { id: 'a', n: 10 },
          { id: 'bbb', n: 2 },
        ],
        ['id', 'n'],
      ),
    ).toBe('ID   N\na    10\nbbb  2\n');
    expect(table([], ['id'])).toBe('(none)\n');
    expect(progressBar(1, 4, 8)).toBe('[##------] 1/4');
    expect(progressBar(0, 0, 4)).toBe('[----] 0/0');
  });

  it('exits 0 only for a succeeded run', () => {
    expect(exitCodeOf({ status: 'succeeded' })).toBe(0);
    for (const status of ['failed', 'partial', 'cancelled', 'awaiting-approval'])
      expect(exitCodeOf({ status })).toBe(1);
  });
});
