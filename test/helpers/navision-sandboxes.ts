import { afterEach } from 'vitest';
import {
  type NavisionSandbox,
  type NavisionSandboxOptions,
  startNavisionSandbox,
} from '../../connectors/navision/sandbox.ts';

/**
 * For a test file: a `start(opts)` that opens a NAV/BC sandbox with `defaults` (then `opts`) on a real socket,
 * and closes every one it opened after each test.
 */
export function navisionSandboxes(
  defaults: NavisionSandboxOptions = {},
): (opts?: NavisionSandboxOptions) => Promise<NavisionSandbox> {
  let open: NavisionSandbox[] = [];
  afterEach(async () => {
    await Promise.all(open.map((s) => s.close()));
    open = [];
  });
  return async (opts = {}) => {
    const sb = await startNavisionSandbox({ ...defaults, ...opts });
    open.push(sb);
    return sb;
  };
}
