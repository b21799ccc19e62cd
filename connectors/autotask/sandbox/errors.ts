/** A response the sandbox answers instead of a result: thrown by handlers, rendered by the server. */
export class SandboxReply extends Error {
  override name = 'SandboxReply';
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(`HTTP ${status}`);
  }
}

/** Autotask's business-rule failure: HTTP 500 with a string array naming the field. */
export const businessError = (message: string): SandboxReply => new SandboxReply(500, { errors: [message] });

export const notFound = (message: string): SandboxReply => new SandboxReply(404, { errors: [message] });

/** What ASP.NET Web API answers for a path no route matches. */
export const noRoute = (url: string): SandboxReply =>
  new SandboxReply(404, { Message: `No HTTP resource was found that matches the request URI '${url}'.` });

export const wrongVerb = (method: string): SandboxReply =>
  new SandboxReply(405, { Message: `The requested resource does not support http method '${method}'.` });

export const badRequest = (message: string): SandboxReply => new SandboxReply(400, { errors: [message] });
