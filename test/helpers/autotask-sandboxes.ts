import { afterEach } from 'vitest';
import {
  type AutotaskSandbox,
  type AutotaskSandboxOptions,
  startAutotaskSandbox,
} from '../../connectors/autotask/sandbox.ts';

/**
 * For a test file: a `start(opts)` that opens an Autotask sandbox with `defaults` (then `opts`) on a real socket,
 * and closes every one it opened after each test.
 */
export function autotaskSandboxes(
  defaults: AutotaskSandboxOptions,
): (opts?: AutotaskSandboxOptions) => Promise<AutotaskSandbox> {
  let open: AutotaskSandbox[] = [];
  afterEach(async () => {
    await Promise.all(open.map((s) => s.close()));
    open = [];
  });
  return async (opts = {}) => {
    const sb = await startAutotaskSandbox({ ...defaults, ...opts });
    open.push(sb);
    return sb;
  };
}
