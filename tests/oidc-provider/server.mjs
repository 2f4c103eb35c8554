// Loopback oidc-provider (https://github.com/panva/node-oidc-provider) for
// authsec end-to-end tests. NOT FOR PRODUCTION: every login succeeds, every
// requested scope is granted, keys and secrets live only in memory.
//
// Started by `authsec_tests::oidc_provider::OidcProvider::start` (Rust), or by
// hand: `PORT=8812 node server.mjs`.
//
// Environment:
//   PORT                      port on 127.0.0.1 to bind; 0 or unset = any free
//                             port (the real one is in the `ready` line)
//   OIDC_RESOURCES            comma-separated RFC 8707 resource indicators that
//                             are accepted (default http://127.0.0.1:8811/mcp)
//   OIDC_SCOPES               space-separated scopes of every resource
//                             (default "notes:read notes:write notes:admin")
//   OIDC_ACCESS_TOKEN_FORMAT  "jwt" (default) or "opaque"
//   OIDC_ACCESS_TOKEN_TTL     access token lifetime in seconds (default 600)
//   OIDC_RS_CLIENT_ID         confidential introspection client (default notes-rs)
//   OIDC_RS_CLIENT_SECRET     its secret (default notes-rs-secret)
//   OIDC_DEFAULT_LOGIN        account used when no login_hint (default alice)
//   OIDC_DEBUG                "1" to log provider events on stderr
//
// Stdout carries exactly one line, `ready <issuer>`, once the server listens.
// Everything else goes to stderr. The process exits when stdin reaches EOF
// (the parent died or closed the pipe), on SIGTERM and on SIGINT.
//
// Behaviour worth knowing (oidc-provider 9.13.3):
// - JWT access tokens are signed RS256 with a per-process RSA key (kid in the
//   JWKS at /jwks) and carry the JOSE header `typ: at+jwt` (RFC 9068); claims:
//   iss, sub, aud (= the resource), client_id, scope, jti, iat, exp, plus
//   acr, amr and auth_time added through `extraTokenClaims`.
// - Introspection and revocation REFUSE structured (JWT) tokens before even
//   looking them up: HTTP 400 with
//   {"error":"unsupported_token_type","error_description":"Structured JWT
//   Tokens cannot be introspected via the introspection_endpoint"} (for
//   revocation: "... cannot be revoked via the revocation_endpoint"). There is
//   no `active: false` answer for them. Tests of introspection and revocation
//   therefore run with OIDC_ACCESS_TOKEN_FORMAT=opaque.
// - Revoking any token of a grant (access or refresh token) ends every token
//   of that grant: the in-memory adapter's revokeByGrantId drops all of them.
//   Reusing a rotated (consumed) refresh token does the same and answers
//   invalid_grant.
// - acr_values needs the `openid` scope (stock check: "openid scope must be
//   requested when using the acr_values parameter").
// - Refresh tokens are issued to every client allowed the refresh_token grant
//   on the authorization_code grant, without `offline_access`
//   (`issueRefreshToken` below). Public clients get rotated refresh tokens.
// - PKCE (S256 only) is required for every client, public or confidential.
// - Node.js: oidc-provider 9 supports Node.js 22 LTS and later and prints
//   "Unsupported runtime" on 20.x, where it works nonetheless (tested 20.20).

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const env = process.env;
const HOST = '127.0.0.1';
const requestedPort = Number.parseInt(env.PORT ?? '0', 10);
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  console.error(`invalid PORT ${JSON.stringify(env.PORT)}`);
  process.exit(2);
}

const RESOURCES = new Set(
  (env.OIDC_RESOURCES || 'http://127.0.0.1:8811/mcp')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const RESOURCE_SCOPE = (env.OIDC_SCOPES || 'notes:read notes:write notes:admin')
  .split(/\s+/)
  .filter(Boolean)
  .join(' ');
const ACCESS_TOKEN_FORMAT = env.OIDC_ACCESS_TOKEN_FORMAT || 'jwt';
if (!['jwt', 'opaque'].includes(ACCESS_TOKEN_FORMAT)) {
  console.error(`invalid OIDC_ACCESS_TOKEN_FORMAT ${JSON.stringify(ACCESS_TOKEN_FORMAT)} (jwt or opaque)`);
  process.exit(2);
}
const ACCESS_TOKEN_TTL = Number.parseInt(env.OIDC_ACCESS_TOKEN_TTL || '600', 10);
const RS_CLIENT_ID = env.OIDC_RS_CLIENT_ID || 'notes-rs';
const RS_CLIENT_SECRET = env.OIDC_RS_CLIENT_SECRET || 'notes-rs-secret';
const DEFAULT_LOGIN = env.OIDC_DEFAULT_LOGIN || 'alice';
const DEBUG = env.OIDC_DEBUG === '1';

// Exit with the parent: stdin is a pipe from the test process.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

// Per-process RS256 signing key.
function signingJwk() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    ...jwk, kid: `rs256-${crypto.randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig',
  };
}

function loginFor(params) {
  const accountId = params.login_hint || DEFAULT_LOGIN;
  const acrValues = String(params.acr_values || '').split(' ').filter(Boolean);
  const mfa = acrValues.includes('mfa');
  return {
    accountId,
    acr: mfa ? 'mfa' : 'pwd',
    amr: mfa ? ['pwd', 'mfa'] : ['pwd'],
    remember: false,
  };
}

// The server is created (and the port known) before the provider, so that
// PORT=0 works without a race: the issuer needs the real port.
const server = http.createServer();
server.on('error', (err) => {
  console.error(`oidc-provider server error: ${err.message}`);
  process.exit(1);
});

server.listen({ host: HOST, port: requestedPort }, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;

  const configuration = {
    clients: [
      {
        client_id: RS_CLIENT_ID,
        client_secret: RS_CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        // Introspection (and revocation) only: no grant, no redirect.
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: [signingJwk()] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    // Any account id exists: the headless login picks it from login_hint.
    async findAccount(_ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub };
        },
      };
    },
    acrValues: ['pwd', 'mfa'],
    scopes: ['openid', 'offline_access'],
    // OAuth 2.1: authorization code only (no implicit / hybrid).
    responseTypes: ['code'],
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      introspection: { enabled: true },
      revocation: {
        enabled: true,
        // Stock policy: only the client the token was issued to may revoke
        // it. Here the resource server client may revoke any token too, so
        // tests can revoke without holding the issuing client's context.
        async allowedPolicy(ctx, client, token) {
          if (client.clientId === RS_CLIENT_ID) return true;
          if (token.clientId !== client.clientId) {
            if (client.clientAuthMethod === 'none') return false;
            throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          }
          return true;
        },
      },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A request without `resource` gets the only configured resource when
        // there is exactly one; otherwise no default.
        async defaultResource(_ctx, _client, oneOf) {
          if (oneOf) return Array.isArray(oneOf) && oneOf.length === 1 ? oneOf[0] : oneOf;
          return RESOURCES.size === 1 ? [...RESOURCES][0] : undefined;
        },
        // A refresh without `resource` gets the resource of the grant.
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(_ctx, resourceIndicator) {
          if (!RESOURCES.has(resourceIndicator)) {
            throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: RESOURCE_SCOPE,
            audience: resourceIndicator,
            accessTokenTTL: ACCESS_TOKEN_TTL,
            accessTokenFormat: ACCESS_TOKEN_FORMAT,
            ...(ACCESS_TOKEN_FORMAT === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
          };
        },
      },
    },
    pkce: { required: () => true },
    // Tokens outlive the (cookie) session: the headless client drops it.
    expiresWithSession: async () => false,
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && (code.kind === 'AuthorizationCode' || code.kind === 'RefreshToken'),
    // acr / amr / auth_time of the login, copied into access tokens (JWT
    // claims, or introspection members for opaque tokens).
    async extraTokenClaims(ctx) {
      const source = ctx?.oidc?.entities?.AuthorizationCode
        || ctx?.oidc?.entities?.RefreshToken;
      if (!source) return undefined;
      const claims = {};
      if (source.acr) claims.acr = source.acr;
      if (source.amr) claims.amr = source.amr;
      if (source.authTime) claims.auth_time = source.authTime;
      return Object.keys(claims).length ? claims : undefined;
    },
    interactions: {
      url: async (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      ClientCredentials: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
    },
    // Errors as JSON, not HTML, so the Rust side can show them.
    async renderError(ctx, out) {
      ctx.type = 'application/json; charset=utf-8';
      ctx.body = out;
    },
  };

  let provider;
  try {
    provider = new Provider(issuer, configuration);
  } catch (err) {
    console.error(`oidc-provider configuration error: ${err.stack || err}`);
    process.exit(1);
  }

  if (DEBUG) {
    for (const event of ['server_error', 'grant.error', 'authorization.error', 'introspection.error', 'revocation.error', 'registration_create.error']) {
      provider.on(event, (...args) => console.error(`[oidc-provider] ${event}`, ...args));
    }
  } else {
    provider.on('server_error', (_ctx, err) => console.error(`[oidc-provider] server_error ${err.stack || err}`));
  }

  // RFC 8414 alias, and headless interactions: GET /interaction/:uid
  // finishes the pending prompt at once (login as login_hint, or consent to
  // everything requested) and 303-redirects back to the authorization
  // endpoint, which either asks for the next prompt or redirects to the
  // client's redirect_uri with the code.
  provider.use(async (ctx, next) => {
    // RFC 8414 metadata (what MCP clients fetch) = the OIDC discovery document.
    if (ctx.path === '/.well-known/oauth-authorization-server') {
      ctx.path = '/.well-known/openid-configuration';
      return next();
    }

    const match = /^\/interaction\/([^/]+)\/?$/.exec(ctx.path);
    if (!match) return next();

    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      const { prompt, params, session } = details;
      let result;

      switch (prompt.name) {
        case 'login':
          result = { login: loginFor(params) };
          break;
        case 'consent': {
          const grant = details.grantId
            ? await provider.Grant.find(details.grantId)
            : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
          const {
            missingOIDCScope, missingOIDCClaims, missingResourceScopes,
          } = prompt.details;
          if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
          if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
          if (missingResourceScopes) {
            for (const [indicator, scopes] of Object.entries(missingResourceScopes)) {
              grant.addResourceScope(indicator, scopes.join(' '));
            }
          }
          const grantId = await grant.save();
          result = { consent: { grantId } };
          break;
        }
        default:
          result = {
            error: 'access_denied',
            error_description: `headless interaction cannot handle prompt ${prompt.name}`,
          };
      }

      const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
        mergeWithLastSubmission: true,
      });
      ctx.status = 303;
      ctx.redirect(returnTo);
    } catch (err) {
      ctx.status = err.statusCode || err.status || 400;
      ctx.type = 'application/json; charset=utf-8';
      ctx.body = {
        error: err.error || 'interaction_failed',
        error_description: err.error_description || err.message,
      };
    }
    return undefined;
  });

  server.on('request', provider.callback());
  process.stdout.write(`ready ${issuer}\n`);
});
