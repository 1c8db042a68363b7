// Drives peers/oidc.mjs as a relying party would, with plain fetch: no browser, no JavaScript,
// manual redirects and a small cookie jar. Run with `node --test peers/` from end2end/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { compactVerify, createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';

const PEER = new URL('./oidc.mjs', import.meta.url).pathname;
const CLIENT_ID = 'shipgate';
const SECRET = 'peer-test-secret';
// Nothing listens there: the flow stops at the redirect, as a browser would hand it to the RP.
const REDIRECT = 'http://127.0.0.1:9/auth/callback';
const REDIRECT_2 = 'http://localhost:9/other/callback';

// Starts the peer; resolves once it printed its `listening on` line.
async function startPeer(extra = []) {
  const args = [PEER, '--port', '0', '--client-id', CLIENT_ID, '--client-secret', SECRET,
    '--redirect-uri', REDIRECT, '--redirect-uri', REDIRECT_2, ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const m = stdout.match(/^listening on (http:\/\/127\.0\.0\.1:\d+)\n/);
      if (m) resolve(m[1]);
    });
    exited.then(({ code }) => reject(new Error(`peer exited (${code}) before listening:\n${stderr}`)));
  });
  return {
    url,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

// Cookies by name and path; enough for the peer's host-only, path-scoped cookies.
class Jar {
  #cookies = new Map();

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const key = `${name} ${path}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  names() {
    return [...this.#cookies.values()].map((c) => c.name);
  }
}

async function send(jar, url, init = {}) {
  const headers = { ...init.headers };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(res);
  return res;
}

// Follows redirects (GET) until a non-redirect answer or a Location on the relying party.
async function follow(jar, res, from) {
  let url = from;
  while (res.status >= 300 && res.status < 400) {
    await res.arrayBuffer();
    const next = new URL(res.headers.get('location'), url).href;
    if (next.startsWith(REDIRECT) || next.startsWith(REDIRECT_2)) return { callback: new URL(next) };
    url = next;
    res = await send(jar, url);
  }
  return { res, url };
}

function formAction(html, pageUrl, index = 0) {
  const actions = [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(actions[index], `no form #${index} in:\n${html}`);
  return new URL(actions[index].replace(/&#38;/g, '&'), pageUrl).href;
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function discover(base) {
  const res = await fetch(`${base}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  return res.json();
}

// Starts an authorization request; returns the login page (or the callback, if no page was shown).
async function authorize(peer, jar, params = {}) {
  const config = await discover(peer.url);
  const { verifier, challenge } = pkce();
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const query = {
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT,
    scope: 'openid email profile groups',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...params,
  };
  for (const [k, v] of Object.entries(query)) if (v === undefined) delete query[k];
  const start = `${config.authorization_endpoint}?${new URLSearchParams(query)}`;
  const out = await follow(jar, await send(jar, start), start);
  const page = out.res ? { status: out.res.status, html: await out.res.text(), url: out.url } : undefined;
  return { config, verifier, state, nonce, redirectUri: query.redirect_uri, page, callback: out.callback };
}

async function postForm(jar, url, fields) {
  return send(jar, url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
}

// The whole front channel: authorize, fill in the login form, come back with a code.
async function signIn(peer, { login = 'alice@example.com', password = 'password', jar = new Jar(), ...params } = {}) {
  const flow = await authorize(peer, jar, params);
  assert.equal(flow.page?.status, 200, `expected the login page, got ${JSON.stringify(flow.callback ?? flow.page)}`);
  const action = formAction(flow.page.html, flow.page.url);
  const out = await follow(jar, await postForm(jar, action, { login, password }), action);
  assert.ok(out.callback, `login did not come back to the client: ${out.res?.status}`);
  return { ...flow, jar, callback: out.callback };
}

async function exchange(flow, { code = flow.callback.searchParams.get('code'), verifier = flow.verifier, auth = 'basic', secret = SECRET } = {}) {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: flow.redirectUri, code_verifier: verifier });
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'basic') {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  } else {
    body.set('client_id', CLIENT_ID);
    body.set('client_secret', secret);
  }
  const res = await fetch(flow.config.token_endpoint, { method: 'POST', headers, body });
  return { status: res.status, body: await res.json() };
}

async function jwks(config) {
  const res = await fetch(config.jwks_uri);
  assert.equal(res.status, 200);
  return createLocalJWKSet(await res.json());
}

// What a relying party checks: signature by a published key, iss, aud, exp, and its own nonce.
async function verifyIdToken(flow, idToken) {
  const { payload } = await jwtVerify(idToken, await jwks(flow.config), {
    issuer: flow.config.issuer,
    audience: CLIENT_ID,
    algorithms: ['RS256'],
  });
  assert.equal(payload.nonce, flow.nonce, 'nonce');
  return payload;
}

async function control(peer, path, body) {
  const res = await fetch(`${peer.url}/_test/${path}`, body === undefined ? {} : {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe('oidc peer', () => {
  let peer;
  before(async () => { peer = await startPeer(); });
  after(async () => {
    const { code } = await peer.stop();
    assert.equal(code, 0, `peer exit code; stderr:\n${peer.stderr()}`);
    assert.equal(peer.stdout(), `listening on ${peer.url}\n`, 'stdout is exactly the one line');
  });

  test('discovery describes a code + PKCE provider on the same origin', async () => {
    const config = await discover(peer.url);
    assert.equal(config.issuer, peer.url);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint']) {
      assert.ok(config[key].startsWith(`${peer.url}/`), `${key}: ${config[key]}`);
    }
    assert.deepEqual(config.response_types_supported, ['code']);
    assert.deepEqual(config.grant_types_supported, ['authorization_code']);
    assert.deepEqual(config.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(config.scopes_supported, ['openid', 'email', 'profile', 'groups']);
    assert.deepEqual(config.token_endpoint_auth_methods_supported.sort(), ['client_secret_basic', 'client_secret_post']);
    assert.ok(config.id_token_signing_alg_values_supported.includes('RS256'));
    for (const claim of ['sub', 'email', 'email_verified', 'name', 'groups']) {
      assert.ok(config.claims_supported.includes(claim), claim);
    }
    const keys = (await (await fetch(config.jwks_uri)).json()).keys;
    assert.equal(keys.length, 1);
    assert.equal(keys[0].kty, 'RSA');
    assert.equal(keys[0].alg, 'RS256');
    assert.equal(keys[0].d, undefined, 'no private part published');
  });

  test('alice completes the authorization-code + PKCE flow (client_secret_basic)', async () => {
    await control(peer, 'reset', {});
    const flow = await signIn(peer, { login: 'alice@example.com' });
    assert.match(flow.page.url, /\/interaction\/[^/]+$/);
    assert.match(flow.page.html, /<input name="login"/);
    assert.match(flow.page.html, /<input name="password" type="password"/);
    assert.match(flow.page.html, /<button type="submit">Sign in<\/button>/);

    assert.equal(`${flow.callback.origin}${flow.callback.pathname}`, REDIRECT);
    assert.equal(flow.callback.searchParams.get('state'), flow.state);
    assert.equal(flow.callback.searchParams.get('iss'), peer.url);
    assert.equal(flow.callback.searchParams.get('error'), null);
    assert.ok(flow.callback.searchParams.get('code'));
    assert.ok(flow.jar.names().includes('_session'), 'a session cookie was set');

    const token = await exchange(flow);
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.equal(token.body.token_type, 'Bearer');
    assert.deepEqual(token.body.scope.split(' ').sort(), ['email', 'groups', 'openid', 'profile']);
    const claims = await verifyIdToken(flow, token.body.id_token);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(claims.iss, peer.url);
    assert.equal(claims.aud, CLIENT_ID);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.email_verified, true);
    assert.equal(claims.name, 'Alice Example');
    assert.deepEqual(claims.groups, ['release-managers']);
    assert.ok(claims.exp > now + 3000 && claims.exp <= now + 3700, `exp ${claims.exp - now}s from now`);
    assert.ok(Math.abs(claims.iat - now) < 30);
    assert.equal(decodeProtectedHeader(token.body.id_token).alg, 'RS256');

    const userinfo = await fetch(flow.config.userinfo_endpoint, { headers: { authorization: `Bearer ${token.body.access_token}` } });
    assert.equal(userinfo.status, 200);
    assert.deepEqual(await userinfo.json(), {
      sub: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice Example', groups: ['release-managers'],
    });

    const { body: logins } = await control(peer, 'logins');
    assert.deepEqual(logins.map((l) => [l.sub, l.email, l.clientId]), [['alice', 'alice@example.com', CLIENT_ID]]);
    assert.ok(Math.abs(Date.parse(logins[0].time) - Date.now()) < 30_000);
  });

  test('bob signs in with client_secret_post on the second redirect URI; scopes limit the claims', async () => {
    const flow = await signIn(peer, { login: 'BOB@example.com', redirect_uri: REDIRECT_2, scope: 'openid groups' });
    assert.equal(`${flow.callback.origin}${flow.callback.pathname}`, REDIRECT_2);
    assert.equal(flow.callback.searchParams.get('state'), flow.state);
    const token = await exchange(flow, { auth: 'post' });
    assert.equal(token.status, 200, JSON.stringify(token.body));
    const claims = await verifyIdToken(flow, token.body.id_token);
    assert.equal(claims.sub, 'bob');
    assert.deepEqual(claims.groups, ['developers']);
    assert.equal(claims.email, undefined, 'email scope not requested');
    assert.equal(claims.name, undefined, 'profile scope not requested');
  });

  test('the session cookie signs the same browser in again without the form', async () => {
    const first = await signIn(peer, { login: 'admin@example.com' });
    const before = (await control(peer, 'logins')).body.length;
    const again = await authorize(peer, first.jar);
    assert.equal(again.page, undefined, 'no login page the second time');
    assert.equal(again.callback.searchParams.get('state'), again.state);
    const token = await exchange(again);
    assert.equal(token.status, 200);
    const claims = await verifyIdToken(again, token.body.id_token);
    assert.equal(claims.sub, 'admin');
    assert.deepEqual(claims.groups, ['admins']);
    assert.equal((await control(peer, 'logins')).body.length, before, 'no new form login');

    const forced = await authorize(peer, first.jar, { prompt: 'login' });
    assert.equal(forced.page?.status, 200, 'prompt=login shows the form again');
  });

  test('a wrong code_verifier, a wrong secret and a reused code are refused', async () => {
    const flow = await signIn(peer);
    const wrongVerifier = await exchange(flow, { verifier: pkce().verifier });
    assert.equal(wrongVerifier.status, 400);
    assert.equal(wrongVerifier.body.error, 'invalid_grant');
    assert.equal(wrongVerifier.body.id_token, undefined);
    const noVerifier = await exchange(flow, { verifier: '' });
    assert.equal(noVerifier.status, 400);
    assert.equal(noVerifier.body.error, 'invalid_grant');
    assert.equal(noVerifier.body.id_token, undefined);
    // It was the verifier: the untouched code still works with the right one.
    const right = await exchange(flow);
    assert.equal(right.status, 200, JSON.stringify(right.body));
    await verifyIdToken(flow, right.body.id_token);

    const other = await signIn(peer);
    const wrongSecret = await exchange(other, { secret: 'not-the-secret' });
    assert.equal(wrongSecret.status, 401);
    assert.equal(wrongSecret.body.error, 'invalid_client');
    const wrongSecretPost = await exchange(other, { secret: 'not-the-secret', auth: 'post' });
    assert.equal(wrongSecretPost.status, 401);

    const ok = await exchange(other);
    assert.equal(ok.status, 200);
    const reused = await exchange(other);
    assert.equal(reused.status, 400);
    assert.equal(reused.body.error, 'invalid_grant');
  });

  test('an authorization request without PKCE is refused back to the client', async () => {
    const flow = await authorize(peer, new Jar(), { code_challenge: undefined, code_challenge_method: undefined });
    assert.equal(flow.page, undefined);
    assert.equal(flow.callback.searchParams.get('error'), 'invalid_request');
    assert.match(flow.callback.searchParams.get('error_description'), /PKCE/);
    assert.equal(flow.callback.searchParams.get('state'), flow.state);
    assert.equal(flow.callback.searchParams.get('code'), null);

    const plain = await authorize(peer, new Jar(), { code_challenge_method: 'plain' });
    assert.equal(plain.callback.searchParams.get('error'), 'invalid_request');
    assert.equal(plain.callback.searchParams.get('code'), null);
  });

  test('an unregistered redirect_uri gets an error page, not a redirect', async () => {
    const flow = await authorize(peer, new Jar(), { redirect_uri: 'http://127.0.0.1:9/evil' });
    assert.equal(flow.callback, undefined);
    assert.equal(flow.page.status, 400);
    assert.match(flow.page.html, /redirect_uri/);
  });

  test('a wrong password shows the form again with an error and issues no code', async () => {
    await control(peer, 'reset', {});
    const jar = new Jar();
    const flow = await authorize(peer, jar);
    const action = formAction(flow.page.html, flow.page.url);
    for (const [login, password] of [['alice@example.com', 'wrong'], ['nobody@example.com', 'password'], ['alice@example.com', '']]) {
      const res = await postForm(jar, action, { login, password });
      assert.equal(res.status, 401, `${login}/${password}`);
      assert.equal(res.headers.get('location'), null);
      const html = await res.text();
      assert.match(html, /<p class="error" role="alert">Invalid email or password\.<\/p>/);
      assert.match(html, /<input name="password" type="password"/);
      assert.ok(html.includes(`value="${login}"`), 'login is kept');
      assert.equal(formAction(html, action), action, 'the form posts to the same interaction');
    }
    assert.deepEqual((await control(peer, 'logins')).body, []);

    // The same interaction still completes with the right password.
    const out = await follow(jar, await postForm(jar, action, { login: 'alice@example.com', password: 'password' }), action);
    assert.equal(out.callback.searchParams.get('state'), flow.state);
    assert.ok(out.callback.searchParams.get('code'));
    assert.deepEqual((await control(peer, 'logins')).body.map((l) => l.sub), ['alice']);
  });

  test('cancel on the login page returns access_denied to the client', async () => {
    const jar = new Jar();
    const flow = await authorize(peer, jar);
    const cancel = formAction(flow.page.html, flow.page.url, 1);
    assert.match(cancel, /\/abort$/);
    const out = await follow(jar, await postForm(jar, cancel, {}), cancel);
    assert.equal(out.callback.searchParams.get('error'), 'access_denied');
    assert.equal(out.callback.searchParams.get('state'), flow.state);
    assert.equal(out.callback.searchParams.get('code'), null);
  });

  describe('/_test/next-id-token', () => {
    // Signs in, exchanges the code, checks the signature against /jwks only; returns the claims.
    async function tokenWithOverride(override) {
      const reset = await control(peer, 'reset', {});
      assert.equal(reset.status, 200);
      if (override) {
        const set = await control(peer, 'next-id-token', override);
        assert.equal(set.status, 200, JSON.stringify(set.body));
        assert.deepEqual(set.body.pending, override);
      }
      const flow = await signIn(peer);
      const token = await exchange(flow);
      assert.equal(token.status, 200, JSON.stringify(token.body));
      const { protectedHeader } = await compactVerify(token.body.id_token, await jwks(flow.config));
      assert.equal(protectedHeader.alg, 'RS256');
      return { flow, token: token.body.id_token, claims: decodeJwt(token.body.id_token) };
    }

    // Every claim but `changed` is what an untouched token carries.
    function assertOthersNormal(flow, claims, changed) {
      const now = Math.floor(Date.now() / 1000);
      if (changed !== 'iss') assert.equal(claims.iss, peer.url);
      if (changed !== 'aud') assert.equal(claims.aud, CLIENT_ID);
      if (changed !== 'nonce') assert.equal(claims.nonce, flow.nonce);
      if (changed !== 'exp') assert.ok(claims.exp > now + 3000, 'exp is normal');
      assert.equal(claims.sub, 'alice');
      assert.equal(claims.email, 'alice@example.com');
      assert.deepEqual(claims.groups, ['release-managers']);
    }

    // The next token after an override is a normal, fully valid one.
    async function assertNextIsNormal() {
      const { flow, token } = await tokenWithOverride(null);
      const claims = await verifyIdToken(flow, token);
      assertOthersNormal(flow, claims, null);
    }

    test('nonce', async () => {
      const { flow, token, claims } = await tokenWithOverride({ nonce: 'not-your-nonce' });
      assert.equal(claims.nonce, 'not-your-nonce');
      assert.notEqual(claims.nonce, flow.nonce);
      assertOthersNormal(flow, claims, 'nonce');
      await assert.rejects(verifyIdToken(flow, token), /nonce/);
      await assertNextIsNormal();
    });

    test('audience', async () => {
      const { flow, token, claims } = await tokenWithOverride({ audience: 'other' });
      assert.equal(claims.aud, 'other');
      assertOthersNormal(flow, claims, 'aud');
      await assert.rejects(verifyIdToken(flow, token), (err) => err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud');
      await assertNextIsNormal();
    });

    test('issuer', async () => {
      const { flow, token, claims } = await tokenWithOverride({ issuer: 'http://evil' });
      assert.equal(claims.iss, 'http://evil');
      assertOthersNormal(flow, claims, 'iss');
      await assert.rejects(verifyIdToken(flow, token), (err) => err instanceof errors.JWTClaimValidationFailed && err.claim === 'iss');
      await assertNextIsNormal();
    });

    test('expiresIn', async () => {
      const { flow, token, claims } = await tokenWithOverride({ expiresIn: -60 });
      const now = Math.floor(Date.now() / 1000);
      assert.ok(claims.exp <= now - 55 && claims.exp >= now - 90, `exp ${claims.exp - now}s from now`);
      assert.ok(claims.iat < claims.exp, 'iat before exp');
      assertOthersNormal(flow, claims, 'exp');
      await assert.rejects(verifyIdToken(flow, token), errors.JWTExpired);
      await assertNextIsNormal();
    });

    test('signature: foreign key with the published kid', async () => {
      await control(peer, 'reset', {});
      await control(peer, 'next-id-token', { signature: 'foreign' });
      const flow = await signIn(peer);
      const token = await exchange(flow);
      assert.equal(token.status, 200);
      const keys = (await (await fetch(flow.config.jwks_uri)).json()).keys;
      assert.equal(decodeProtectedHeader(token.body.id_token).kid, keys[0].kid);
      assertOthersNormal(flow, decodeJwt(token.body.id_token), null);
      await assert.rejects(verifyIdToken(flow, token.body.id_token), errors.JWSSignatureVerificationFailed);
      await assertNextIsNormal();
    });

    test('overrides merge until a token is issued, and reset clears them', async () => {
      await control(peer, 'reset', {});
      await control(peer, 'next-id-token', { nonce: 'n1' });
      const merged = await control(peer, 'next-id-token', { audience: ['other', 'more'] });
      assert.deepEqual(merged.body.pending, { nonce: 'n1', audience: ['other', 'more'] });
      const flow = await signIn(peer);
      const claims = decodeJwt((await exchange(flow)).body.id_token);
      assert.equal(claims.nonce, 'n1');
      assert.deepEqual(claims.aud, ['other', 'more']);

      await control(peer, 'next-id-token', { issuer: 'http://evil' });
      await control(peer, 'reset', {});
      assert.deepEqual((await control(peer, 'logins')).body, [], 'reset clears the login log');
      const after = await signIn(peer);
      await verifyIdToken(after, (await exchange(after)).body.id_token);
    });

    test('a null nonce removes the claim', async () => {
      const { flow, claims } = await tokenWithOverride({ nonce: null });
      assert.equal('nonce' in claims, false);
      assertOthersNormal(flow, claims, 'nonce');
    });

    test('bad control requests are refused', async () => {
      for (const body of [{ audiance: 'typo' }, {}, { expiresIn: 'soon' }, { signature: 'none' }, [1]]) {
        const res = await control(peer, 'next-id-token', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(typeof res.body.error, 'string');
      }
      const notJson = await fetch(`${peer.url}/_test/next-id-token`, { method: 'POST', body: '{' });
      assert.equal(notJson.status, 400);
      assert.equal((await fetch(`${peer.url}/_test/nope`)).status, 404);
      // Nothing refused was left pending.
      const flow = await signIn(peer);
      await verifyIdToken(flow, (await exchange(flow)).body.id_token);
    });
  });
});

test('--users replaces the default users', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-peer-'));
  const file = join(dir, 'users.json');
  writeFileSync(file, JSON.stringify([
    { sub: 'carol-1', email: 'carol@corp.test', name: 'Carol Ops', groups: ['ops', 'admins'], password: 'hunter2' },
  ]));
  const peer = await startPeer(['--users', file]);
  try {
    const jar = new Jar();
    const flow = await authorize(peer, jar);
    const action = formAction(flow.page.html, flow.page.url);
    const alice = await postForm(jar, action, { login: 'alice@example.com', password: 'password' });
    assert.equal(alice.status, 401, 'default users are gone');

    const carol = await signIn(peer, { login: 'carol@corp.test', password: 'hunter2' });
    const token = await exchange(carol);
    const claims = await verifyIdToken(carol, token.body.id_token);
    assert.equal(claims.sub, 'carol-1');
    assert.equal(claims.name, 'Carol Ops');
    assert.deepEqual(claims.groups, ['ops', 'admins']);
  } finally {
    const { code } = await peer.stop();
    assert.equal(code, 0);
  }
});

test('missing required options exit non-zero without listening', async () => {
  const child = spawn(process.execPath, [PEER, '--port', '0', '--redirect-uri', REDIRECT], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(code, 2);
  assert.equal(out, '');
  assert.match(err, /--client-secret is required/);
});
