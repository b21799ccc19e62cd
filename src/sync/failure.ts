import type { Connector } from '../../connectors/types.ts';
import { RequestRefusedError } from '../net/http.ts';
import { classifySpinPanelError, isSpinPanelError } from '../spinpanel/errors.ts';

/**
 * A run ended by a failure every attempt would meet again — credentials rejected, an answer the sync cannot
 * read — in the source's or target's own words. The worker ends the job at once instead of retrying it.
 * Matched by `name` as well, so it survives a process boundary.
 */
export class RunFailedPermanently extends Error {
  override name = 'RunFailedPermanently';
}

export const isRunFailedPermanently = (e: unknown): e is RunFailedPermanently =>
  e instanceof Error && e.name === 'RunFailedPermanently';

/** An answer of the target (or a record of one): only its classifier may call it permanent for the whole run. */
const isTargetAnswer = (e: unknown) =>
  e instanceof Error && (e.name === 'TargetError' || e.name === 'CredentialsRejectedError');

/**
 * Whether the error that ended a run ends every attempt of it: asked of SpinPanel's classifier for SpinPanel's
 * answers and of the connector's for the target's. Anything else — Redis, a lost lock, a bug — is left to the
 * queue's retries, since the classifiers call whatever they do not know permanent.
 */
export function permanentRunFailure(
  error: unknown,
  connector: Pick<Connector, 'classify'> | undefined,
): RunFailedPermanently | undefined {
  // A request the policy refused before it was sent (a host off the allow-list, a redirect): every attempt
  // meets the same refusal, whether or not a connector was made.
  if (error instanceof RequestRefusedError) return new RunFailedPermanently(error.message, { cause: error });
  const verdict = isSpinPanelError(error)
    ? classifySpinPanelError(error)
    : connector && isTargetAnswer(error)
      ? connector.classify(error)
      : undefined;
  return verdict?.kind === 'permanent'
    ? new RunFailedPermanently(verdict.message, { cause: error })
    : undefined;
}
