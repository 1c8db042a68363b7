#!/usr/bin/env node
// A local OpenID Connect provider for Shipgate's tests: oidc-provider (panva, OpenID certified)
// with one confidential client, a handful of test users, a login form that works with and
// without JavaScript, and a control API for negative tests.
//
// Usage:
//   node end2end/peers/oidc.mjs --port 0 --client-id shipgate --client-secret S \
//        --redirect-uri http://127.0.0.1:8080/auth/callback [--redirect-uri URI2 ...] \
//        [--users users.json]
//
// Prints exactly one stdout line, `listening on http://127.0.0.1:<port>`, once it accepts
// connections (everything else goes to stderr), and serves until SIGTERM/SIGINT, then exits 0.
// The issuer is that URL exactly (no trailing slash).
//
// Provider endpoints (standard, advertised by discovery):
//   GET  /.well-known/openid-configuration
//   GET  /jwks                 one RS256 key, generated at start (nothing secret on disk)
//   GET  /auth                 authorization endpoint: response_type=code only, PKCE S256 required
//   POST /token                client_secret_basic or client_secret_post
//   GET  /me                   userinfo
//
// Client: the one given on the command line; grant authorization_code, response type code,
// scopes `openid email profile groups`. The ID token carries the user's claims for the granted
// scopes: sub (openid), email + email_verified (email), name (profile), groups (groups).
//
// Users: alice@example.com (groups ["release-managers"]), bob@example.com (["developers"]),
// admin@example.com (["admins"]), password `password` for each. `--users FILE` replaces them with
// a JSON array of {"sub", "email", "name", "groups", "password"} (optional "email_verified",
// default true).
//
// Interaction (login and consent), usable by a browser and by a plain HTTP client that follows
// redirects and keeps cookies:
//   1. GET /auth?... with no session answers 303 to /interaction/<uid> (and sets the
//      `_interaction` cookie, Path=/interaction/<uid>, and `_interaction_resume`, Path=/auth/<uid>).
//   2. GET /interaction/<uid> is an HTML page with
//        <form method="post" action="/interaction/<uid>">
//          <input name="login">      email address (or sub) of the user
//          <input name="password">
//          <button type="submit">Sign in</button>
//      and a second form, action="/interaction/<uid>/abort", with <button>Cancel</button>.
//   3. POST /interaction/<uid> (application/x-www-form-urlencoded: login=...&password=...)
//      - wrong login or password: 401 with the same form again, the login prefilled and
//        <p class="error" role="alert">Invalid email or password.</p>; nothing is redirected.
//      - right: signs the user in AND grants every scope the client asked for (no consent
//        page), then 303 to /auth/<uid>, which answers 303 to the client's redirect_uri with
//        ?code=...&state=...&iss=... The session cookie `_session` makes later /auth requests
//        from the same browser skip the form.
//   4. POST /interaction/<uid>/abort: 303 to /auth/<uid>, then to redirect_uri with
//      ?error=access_denied&state=...
//   If the provider ever asks for consent alone (signed-in user, new scopes), GET
//   /interaction/<uid> grants it at once and redirects, with no page shown.
//
// Control API (same port, plain JSON, no authentication):
//   POST /_test/next-id-token  {"nonce": "x"} | {"audience": "other"} | {"issuer": "http://evil"}
//                              | {"expiresIn": -60} | {"signature": "foreign"}
//        The NEXT ID token issued by /token carries exactly that wrong value (several keys may
//        be combined; a second POST before a token is issued merges into the pending one; a
//        null nonce/audience/issuer removes the claim). It is re-signed with the provider's own
//        private key (same kid, still verifiable with /jwks), except {"signature": "foreign"},
//        which signs with a key that is NOT in /jwks (same kid), to show a relying party
//        rejects a bad signature. expiresIn sets exp = now + expiresIn (iat moves before exp).
//        Answers 200 {"pending": {...}}; unknown keys or wrong types give 400.
//   POST /_test/reset          clears pending overrides and the login log; 200 {}.
//   GET  /_test/logins         200 [{"sub", "email", "clientId", "time"}] successful form logins,
//                              oldest first (time is an ISO 8601 UTC string).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';

// stdout carries only the `listening on` line; oidc-provider prints its notices with console.info.
console.log = console.error;
console.info = console.error;

const DEFAULT_USERS = [
  { sub: 'alice', email: 'alice@example.com', name: 'Alice Example', groups: ['release-managers'], password: 'password' },
  { sub: 'bob', email: 'bob@example.com', name: 'Bob Example', groups: ['developers'], password: 'password' },
  { sub: 'admin', email: 'admin@example.com', name: 'Admin Example', groups: ['admins'], password: 'password' },
];

const SCOPES = ['openid', 'email', 'profile', 'groups'];

function fail(message) {
  console.error(`oidc.mjs: ${message}`);
  process.exit(2);
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        port: { type: 'string', default: '0' },
        'client-id': { type: 'string', default: 'shipgate' },
        'client-secret': { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        users: { type: 'string' },
      },
      strict: true,
    }).values;
  } catch (err) {
    fail(err.message);
  }
  const port = Number(parsed.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${parsed.port}`);
  if (!parsed['client-secret']) fail('--client-secret is required');
  if (!parsed['redirect-uri']?.length) fail('at least one --redirect-uri is required');
  let users = DEFAULT_USERS;
  if (parsed.users) {
    try {
      users = JSON.parse(readFileSync(parsed.users, 'utf8'));
    } catch (err) {
      fail(`cannot read --users ${parsed.users}: ${err.message}`);
    }
    if (!Array.isArray(users) || users.some((u) => typeof u?.sub !== 'string' || typeof u.email !== 'string'
      || typeof u.password !== 'string' || (u.groups !== undefined && !Array.isArray(u.groups)))) {
      fail('--users must be a JSON array of {"sub", "email", "name", "groups", "password"}');
    }
  }
  return {
    port,
    clientId: parsed['client-id'],
    clientSecret: parsed['client-secret'],
    redirectUris: parsed['redirect-uri'],
    users,
  };
}

// Storage for oidc-provider's models (sessions, interactions, codes, tokens, grants), in memory.
function memoryAdapter() {
  const items = new Map(); // "Model:id" -> { payload, expiresAt (ms) }
  const byGrant = new Map(); // grantId -> Set of "Model:id"
  const sessionByUid = new Map(); // session uid -> session id
  const live = (key) => {
    const item = items.get(key);
    if (item && item.expiresAt !== undefined && item.expiresAt <= Date.now()) {
      items.delete(key);
      return undefined;
    }
    return item;
  };
  return class Adapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      const key = `${this.model}:${id}`;
      items.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
      if (payload.grantId && this.model !== 'Grant') {
        if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
        byGrant.get(payload.grantId).add(key);
      }
      if (this.model === 'Session' && payload.uid) sessionByUid.set(payload.uid, id);
    }

    async find(id) {
      return live(`${this.model}:${id}`)?.payload;
    }

    async findByUid(uid) {
      const id = sessionByUid.get(uid);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode() {
      return undefined; // device flow is not enabled
    }

    async consume(id) {
      const item = live(`${this.model}:${id}`);
      if (item) item.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      items.delete(`${this.model}:${id}`);
    }

    async revokeByGrantId(grantId) {
      for (const key of byGrant.get(grantId) ?? []) items.delete(key);
      byGrant.delete(grantId);
    }
  };
}

function html(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage({ uid, clientId, scopes, login = '', error }) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in - Shipgate test OIDC provider</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:24em;margin:3em auto}label{display:block;margin:.8em 0}
input{display:block;width:100%;padding:.3em}.error{color:#b00020}button{margin-top:1em}</style></head>
<body>
<h1>Sign in</h1>
<p><strong>${html(clientId)}</strong> asks for: ${scopes.map(html).join(', ')}</p>
${error ? `<p class="error" role="alert">${html(error)}</p>\n` : ''}<form method="post" action="/interaction/${html(uid)}">
<label>Email <input name="login" type="text" autocomplete="username" value="${html(login)}" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${html(uid)}/abort"><button type="submit">Cancel</button></form>
</body>
</html>
`;
}

function send(res, status, body, type = 'application/json') {
  const text = type === 'application/json' ? JSON.stringify(body) : body;
  res.writeHead(status, {
    'Content-Type': `${type}; charset=utf-8`,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('request body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req) {
  const text = await readBody(req);
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw Object.assign(new Error('body is not JSON'), { status: 400 });
  }
}

// Checks a /_test/next-id-token body; returns the override or throws a 400.
function parseOverride(body) {
  const bad = (message) => Object.assign(new Error(message), { status: 400 });
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad('expected a JSON object');
  const known = ['nonce', 'audience', 'issuer', 'expiresIn', 'signature'];
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length) throw bad(`unknown override ${unknown.join(', ')}; known: ${known.join(', ')}`);
  if (!Object.keys(body).length) throw bad(`no override given; known: ${known.join(', ')}`);
  for (const key of ['nonce', 'issuer']) {
    if (key in body && body[key] !== null && typeof body[key] !== 'string') throw bad(`${key} must be a string or null`);
  }
  if ('audience' in body && body.audience !== null && typeof body.audience !== 'string'
    && !(Array.isArray(body.audience) && body.audience.every((a) => typeof a === 'string'))) {
    throw bad('audience must be a string, an array of strings or null');
  }
  if ('expiresIn' in body && !Number.isInteger(body.expiresIn)) throw bad('expiresIn must be an integer (seconds)');
  if ('signature' in body && body.signature !== 'foreign') throw bad('signature must be "foreign"');
  return body;
}

async function main() {
  const opts = options();

  // Signing key: generated per run, published at /jwks.
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingJwk = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig' };
  signingJwk.kid = await calculateJwkThumbprint(signingJwk);
  let foreignKey; // made on first use: same kid, never published

  const usersBySub = new Map(opts.users.map((u) => [u.sub, u]));
  const findUser = (login) => {
    const wanted = String(login ?? '').trim().toLowerCase();
    return opts.users.find((u) => u.email.toLowerCase() === wanted) ?? usersBySub.get(String(login ?? '').trim());
  };

  const logins = [];
  let pending = null; // override for the next ID token

  const server = createServer();
  server.keepAliveTimeout = 1000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: [{
      client_id: opts.clientId,
      client_secret: opts.clientSecret,
      redirect_uris: opts.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      // oidc-provider accepts client_secret_post as well for a client_secret_basic client.
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    jwks: { keys: [signingJwk] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // Plain http: SameSite=None cookies without Secure are dropped by browsers.
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    scopes: SCOPES,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    // Put the scope-granted claims into the ID token too, not only into userinfo.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: false },
      introspection: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      const user = usersBySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: user.sub,
        async claims() {
          return {
            sub: user.sub,
            email: user.email,
            email_verified: user.email_verified ?? true,
            name: user.name ?? user.email,
            groups: user.groups ?? [],
          };
        },
      };
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 120,
      ClientCredentials: 600,
      IdToken: 3600,
      Interaction: 3600,
      Session: 86400,
      Grant: 86400,
      RefreshToken: 86400,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
    },
    clientBasedCORS: () => false,
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body>
<h1>Sign-in error</h1>
${Object.entries(out).map(([k, v]) => `<p><strong>${html(k)}</strong>: <span class="${html(k)}">${html(v)}</span></p>`).join('\n')}
</body></html>\n`;
    },
  });

  provider.on('server_error', (ctx, err) => console.error('oidc.mjs: server error', err));

  // Applies (and clears) the pending override to the ID token of a successful token response.
  async function tamper(idToken) {
    const override = pending;
    pending = null;
    const header = decodeProtectedHeader(idToken);
    const claims = decodeJwt(idToken);
    const set = (name, value) => {
      if (value === null) delete claims[name];
      else claims[name] = value;
    };
    if ('nonce' in override) set('nonce', override.nonce);
    if ('audience' in override) set('aud', override.audience);
    if ('issuer' in override) set('iss', override.issuer);
    if ('expiresIn' in override) {
      claims.exp = Math.floor(Date.now() / 1000) + override.expiresIn;
      if (claims.iat >= claims.exp) claims.iat = claims.exp - 300;
    }
    let key = privateKey;
    if (override.signature === 'foreign') {
      foreignKey ??= (await generateKeyPair('RS256')).privateKey;
      key = foreignKey;
    }
    return new SignJWT(claims).setProtectedHeader(header).sign(key);
  }

  provider.use(async (ctx, next) => {
    await next();
    if (pending && ctx.method === 'POST' && ctx.path === '/token' && ctx.status === 200
      && ctx.body && typeof ctx.body.id_token === 'string') {
      ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token) };
    }
  });

  async function grantRequested(details, accountId) {
    const { params } = details;
    const grant = new provider.Grant({ accountId, clientId: params.client_id });
    const requested = String(params.scope ?? '').split(' ').filter((s) => SCOPES.includes(s));
    grant.addOIDCScope(requested.join(' '));
    if (params.claims) {
      const wanted = JSON.parse(params.claims);
      const names = [...Object.keys(wanted.id_token ?? {}), ...Object.keys(wanted.userinfo ?? {})];
      if (names.length) grant.addOIDCClaims(names);
    }
    return grant.save();
  }

  async function interaction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) {
      return send(res, 400, 'interaction does not match the cookie', 'text/plain');
    }
    const { prompt, params } = details;
    const scopes = String(params.scope ?? '').split(' ').filter(Boolean);

    if (action === 'abort' && req.method === 'POST') {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'the user cancelled the sign-in',
      }, { mergeWithLastSubmission: false });
    }

    if (prompt.name === 'consent') {
      // Already signed in, consent missing: grant what was asked, with no page.
      const grantId = await grantRequested(details, details.session.accountId);
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    if (prompt.name !== 'login') {
      return send(res, 400, `unsupported prompt ${prompt.name}`, 'text/plain');
    }

    if (req.method === 'GET' && !action) {
      return send(res, 200, loginPage({ uid, clientId: params.client_id, scopes }), 'text/html');
    }
    if (req.method === 'POST' && !action) {
      const form = new URLSearchParams(await readBody(req));
      const user = findUser(form.get('login'));
      if (!user || form.get('password') !== user.password) {
        console.error(`oidc.mjs: failed login for ${JSON.stringify(form.get('login'))}`);
        return send(res, 401, loginPage({
          uid, clientId: params.client_id, scopes, login: form.get('login') ?? '', error: 'Invalid email or password.',
        }), 'text/html');
      }
      const grantId = await grantRequested(details, user.sub);
      logins.push({ sub: user.sub, email: user.email, clientId: params.client_id, time: new Date().toISOString() });
      console.error(`oidc.mjs: ${user.sub} signed in for ${params.client_id}`);
      return provider.interactionFinished(req, res, {
        login: { accountId: user.sub },
        consent: { grantId },
      }, { mergeWithLastSubmission: false });
    }
    return send(res, 405, 'method not allowed', 'text/plain');
  }

  async function control(req, res, path) {
    if (path === '/_test/next-id-token' && req.method === 'POST') {
      const override = parseOverride(await readJson(req));
      pending = { ...(pending ?? {}), ...override };
      return send(res, 200, { pending });
    }
    if (path === '/_test/reset' && req.method === 'POST') {
      pending = null;
      logins.length = 0;
      return send(res, 200, {});
    }
    if (path === '/_test/logins' && req.method === 'GET') {
      return send(res, 200, logins);
    }
    return send(res, 404, { error: `no control endpoint ${req.method} ${path}` });
  }

  const providerCallback = provider.callback();
  server.on('request', async (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    try {
      if (pathname.startsWith('/_test/')) return await control(req, res, pathname);
      const m = pathname.match(/^\/interaction\/([^/]+)(?:\/(abort))?$/);
      if (m) return await interaction(req, res, m[1], m[2]);
      return providerCallback(req, res);
    } catch (err) {
      const status = err.status ?? err.statusCode ?? 500;
      if (status >= 500) console.error('oidc.mjs:', err);
      if (res.headersSent) return res.end();
      const message = err.error_description ?? err.message;
      return pathname.startsWith('/_test/')
        ? send(res, status, { error: message })
        : send(res, status, `${err.error ?? 'error'}: ${message}\n`, 'text/plain');
    }
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  process.stdout.write(`listening on ${issuer}\n`);
}

main().catch((err) => {
  console.error('oidc.mjs:', err);
  process.exit(1);
});
