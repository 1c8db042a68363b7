// Sign-in through a real OpenID provider (oidc-provider, end2end/peers/oidc.mjs) in Chromium:
// the dashboard sends a signed-out visitor to the provider, the person logs in on the
// provider's form, and comes back signed in; the header says who they are; sign-out ends
// it. With JavaScript on (hydrated) and off (plain HTML forms and redirects).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startShipgate, startOidc, freePort, OIDC_CLIENT, launchBrowser } from './harness.mjs';

const shots = new URL('../test-results/', import.meta.url).pathname;
let provider;
let server;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  provider = await startOidc(`${base}/auth/callback`);
  const toml = `public_url = "${base}"

[auth]
issuer = "${provider.issuer}"
client_id = "${OIDC_CLIENT.id}"
scopes = ["openid", "email", "profile", "groups"]

[[auth.grant]]
domain = "example.com"
role = "viewer"

[[auth.grant]]
group = "release-managers"
role = "release-manager"
`;
  server = await startShipgate({ SHIPGATE_OIDC_CLIENT_SECRET: OIDC_CLIENT.secret }, { port, toml });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await provider?.stop();
});

async function signIn(page, login) {
  await page.goto(`${server.base}/pipelines`);
  // Signed out: Shipgate sent the browser to the provider's login form.
  assert.ok(page.url().startsWith(`${provider.issuer}/interaction/`), page.url());
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'password');
  await Promise.all([page.waitForURL(`${server.base}/pipelines`), page.click('button[type="submit"]')]);
}

for (const javaScriptEnabled of [true, false]) {
  const mode = javaScriptEnabled ? 'JavaScript on' : 'JavaScript off';

  test(`a person signs in at the provider, sees who they are, and signs out (${mode})`, async () => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    try {
      await signIn(page, 'alice@example.com');
      if (javaScriptEnabled) await page.waitForSelector('html[data-hydrated="true"]');
      await page.waitForSelector('.account-name');
      assert.equal(await page.textContent('.account-name'), 'Alice Example');
      assert.match(await page.textContent('.account-access'), /release-manager/);
      assert.ok(await page.isVisible('text=hello'), 'the pipelines page lists the pipeline');

      const cookies = await context.cookies(server.base);
      const session = cookies.find((c) => c.name === 'shipgate_session');
      assert.ok(session, 'a session cookie');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Lax');
      // Scripts cannot read it.
      if (javaScriptEnabled) assert.ok(!(await page.evaluate(() => document.cookie)).includes('shipgate_session'));

      await page.screenshot({ path: `${shots}signin-${javaScriptEnabled ? 'js' : 'nojs'}.png` });
      await Promise.all([page.waitForURL(`${server.base}/auth/signed-out`), page.click('button:has-text("Sign out")')]);
      assert.match(await page.textContent('h1'), /Signed out/);
      // The session is over on the server: the API refuses the old cookie.
      const res = await fetch(`${server.base}/api/v1/runs`, { headers: { cookie: `shipgate_session=${session.value}` } });
      assert.equal(res.status, 401);
    } finally {
      await context.close();
    }
  });
}

test('a form on another site cannot act with the signed-in person\'s cookie', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, 'bob@example.com');
    // A page from elsewhere posts a form at Shipgate; the browser attaches the session
    // cookie (SameSite=Lax allows top-level POST navigations only from the same site, but
    // Shipgate does not rely on that alone).
    // Another site, served by the test itself: an attacker's page carries none of
    // Shipgate's headers (Shipgate's own pages would refuse to post the form at all, by
    // their `form-action 'self'`), so only Shipgate's cross-site check stands in the way.
    await page.route('http://evil.test/', (route) => route.fulfill({
      contentType: 'text/html',
      body: `<form id="f" method="post" action="${server.base}/auth/sign-out"><button>win a prize</button></form>`,
    }));
    await page.goto('http://evil.test/');
    const [response] = await Promise.all([page.waitForNavigation(), page.click('#f button')]);
    assert.equal(response.status(), 403);
    assert.match(await page.textContent('body'), /cross-site request refused/);
    // Still signed in: the sign-out did not happen.
    await page.goto(`${server.base}/pipelines`);
    assert.equal(page.url(), `${server.base}/pipelines`);
    await page.waitForSelector('.account-name');
    assert.equal(await page.textContent('.account-name'), 'Bob Example');
  } finally {
    await context.close();
  }
});
