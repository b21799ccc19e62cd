import { describe, expect, it } from 'vitest';
import { RequestRefusedError } from '../../src/net/http.ts';
import { permanentRunFailure } from '../../src/sync/failure.ts';

describe('permanentRunFailure', () => {
  it('ends the run at once for a request the host policy refused, even before a connector exists', () => {
    const refused = new RequestRefusedError('host_not_allowed', 'nav.example.com is not allowed over http');
    expect(permanentRunFailure(refused, undefined)?.message).toBe('nav.example.com is not allowed over http');
  });

  it('leaves errors nobody classified to the queue’s retries', () => {
    expect(permanentRunFailure(new Error('connection to Redis lost'), undefined)).toBeUndefined();
  });
});
