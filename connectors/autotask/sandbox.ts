/**
 * A local Autotask PSA (REST v1.0) that speaks the wire format of /work/shared/specs/autotask.md, for e2e
 * tests and the demo. The implementation lives in ./sandbox/.
 */
export { startAutotaskSandbox } from './sandbox/server.ts';
export type { AutotaskRequest, AutotaskSandbox, AutotaskSandboxOptions } from './sandbox/types.ts';
