/**
 * A bare API for tests and benchmarks that mount a few routes: the wiring api/app.ts gives every
 * route (zod compilers, the one error handler, the bearer-token auth hook), without the rest of
 * the app (console, session cookie, not-found page, limits). Register the routes on it.
 */
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { createAuthenticator } from '../../api/auth.js';
import { errorHandler } from '../../api/errors.js';
import type { ApiToken } from '../../lib/config/index.js';

export function routeApp(tokens: ApiToken[]) {
  const f = Fastify().withTypeProvider<ZodTypeProvider>();
  f.setValidatorCompiler(validatorCompiler);
  f.setSerializerCompiler(serializerCompiler);
  f.setErrorHandler(errorHandler);
  const authenticate = createAuthenticator(tokens);
  f.decorateRequest('principal', null);
  f.addHook('onRequest', async (req) => {
    req.principal = authenticate(req.headers.authorization);
  });
  return f;
}
