// A real OAuth 2.0 authorization server for the token-storm tests: oidc-provider
// with the client_credentials grant, on 127.0.0.1.
//
//   node server.mjs --port 4567 --clients clients.json [--ttl 600]
//
// clients.json: [{"client_id": "...", "client_secret": "...",
//                 "token_endpoint_auth_method": "client_secret_basic"}, ...]
// The port may also come from OAUTH_PORT. Once listening it prints one line,
// "READY http://127.0.0.1:PORT", on stdout; the token endpoint is /token,
// and GET /stats counts its answers by status.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OAUTH_PORT },
    clients: { type: 'string' },
    ttl: { type: 'string', default: '600' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || !values.clients) {
  console.error('usage: node server.mjs --port PORT --clients FILE [--ttl SECONDS]');
  process.exit(2);
}
const ttl = Number(values.ttl);
const SCOPES = ['fleet:read', 'fleet:write'];

const clients = JSON.parse(readFileSync(values.clients, 'utf8')).map((c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_basic',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  scope: SCOPES.join(' '),
}));

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients,
  scopes: ['openid', ...SCOPES],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: () => ttl },
  cookies: { keys: ['fleetload-test-cookie-key'] },
});

// Ground truth for the tests: GET /stats answers the token endpoint's
// answers so far, by status ({"200": n, "401": n}).
const tokenAnswers = {};
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/stats') {
    ctx.body = tokenAnswers;
    return;
  }
  await next();
  if (ctx.path === '/token') {
    tokenAnswers[ctx.status] = (tokenAnswers[ctx.status] || 0) + 1;
  }
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
