// An admin (local mode: the one user is one) makes an API token in the browser, sees it once,
// uses it, revokes it, and finds both acts in the audit log. With JavaScript on (the page
// updates in place) and off (plain form posts; the token survives the redirect once).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startShipgate, launchBrowser } from './harness.mjs';

const shots = new URL('../test-results/', import.meta.url).pathname;

let server;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  server = await startShipgate();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function apiStatus(token) {
  const res = await fetch(`${server.base}/api/v1/pipelines`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text() };
}

async function makeToken(page, name) {
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Role').selectOption('viewer');
  await page.getByLabel('Expires in days').fill('30');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = page.locator('.new-token code.token-secret');
  await secret.waitFor({ timeout: 15_000 });
  return (await secret.innerText()).trim();
}

for (const javaScriptEnabled of [true, false]) {
  const how = javaScriptEnabled ? 'on' : 'off';
  test(`with JavaScript ${how}, a token is shown once, works, is revoked and both acts are audited`, async () => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.base}/admin/tokens`);
    if (javaScriptEnabled) {
      await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
    }

    const name = `ci-${how}`;
    const token = await makeToken(page, name);
    assert.match(token, /^sgp_[0-9a-f]{64}$/);
    await page.screenshot({ path: `${shots}/tokens-created-js-${how}.png`, fullPage: true });
    const row = page.locator('tr.token-row', { has: page.locator('.token-name', { hasText: name }) });
    assert.match(await row.innerText(), /viewer/);
    assert.equal((await apiStatus(token)).status, 200, 'the new token works');

    // Shown once: a fresh visit does not show it again, anywhere in the page.
    await page.goto(`${server.base}/admin/tokens`);
    await row.waitFor();
    assert.equal(await page.locator('.new-token').count(), 0);
    assert.ok(!(await page.content()).includes(token), 'the token is not in the page any more');

    await row.getByRole('button', { name: `Revoke ${name}` }).click();
    await row.locator('.badge-revoked').waitFor({ timeout: 15_000 });
    const refused = await apiStatus(token);
    assert.equal(refused.status, 401);
    assert.match(refused.body, /revoked/);

    await page.goto(`${server.base}/admin/audit`);
    const log = await page.locator('main').innerText();
    assert.match(log, /token\.create/);
    assert.match(log, /token\.revoke/);
    assert.ok(!(await page.content()).includes(token), 'the audit page never shows a token');
    assert.deepEqual(errors, [], 'no script errors on the page');
    await context.close();
  });
}
