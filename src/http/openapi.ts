import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

/** The docs page runs swagger-ui's own script and styles, from this server only (no CDN, no validator badge). */
const DOCS_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/**
 * The API's OpenAPI 3 document, made from the routes' zod schemas, at `/openapi.json`, and an interactive page
 * at `/docs` (swagger-ui's assets from its npm package). Both public: they describe the API, they hold no data.
 */
export function registerOpenApi(app: FastifyInstance): void {
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'SpinPanel Billing Sync admin API',
        version: '1',
        description:
          'Consents, links to a billing system (Autotask PSA, Dynamics NAV / Business Central), mappings, syncs and data rights. Every error answers `{"error":{"code","message","details?"}}`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  app.register(async (scope) => {
    scope.get(
      '/openapi.json',
      {
        config: { public: true },
        schema: { summary: 'This API’s OpenAPI 3 document', tags: ['docs'], security: [] },
      },
      async () => app.swagger(),
    );
  });
  app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: DOCS_CSP,
    uiConfig: { url: '/openapi.json', validatorUrl: null } as Record<string, unknown>,
  });
}
