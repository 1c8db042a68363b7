// An admin sets a pipeline up from its Set up page and runs Verify, against moto (the
// `hello` clusters, services and repository seeded by server/tests/peers/seed_hello.py), with
// JavaScript on and off. The kit is plain HTML either way: every file is shown and can be
// downloaded; with JavaScript each piece also has a copy button. Verify is a plain form too:
// it runs in the engine and the page shows each check with its fix.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startShipgate, startMoto, launchBrowser } from './harness.mjs';

const shots = new URL('../test-results/', import.meta.url).pathname;

let moto;
let server;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  moto = await startMoto();
  await moto.seed();
  server = await startShipgate(moto.env);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await moto?.stop();
});

const hydrated = (page) => page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });

async function step(page, control) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: 60_000 }), control.click()]);
}

const checkRow = (page, id) => page.locator(`tr[data-check="${id}"]`);

for (const javaScriptEnabled of [true, false]) {
  const how = javaScriptEnabled ? 'on' : 'off';

  test(`with JavaScript ${how}, the Set up page shows the kit and Verify shows each check with its fix`, async () => {
    const context = await browser.newContext({ javaScriptEnabled });
    if (javaScriptEnabled) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(`${server.base}/pipelines/hello`);
    await step(page, page.getByRole('link', { name: 'Set up' }));
    assert.match(page.url(), /\/pipelines\/hello\/setup$/);
    if (javaScriptEnabled) await hydrated(page);
    const main = page.locator('main');
    assert.match(await main.innerText(), /Set up hello/);

    // The workflow, as generated for the pipeline: its branch, repository and tag.
    const workflow = await page.locator('#kit-workflow').innerText();
    assert.match(workflow, /branches: \["master"\]/);
    assert.match(workflow, /id-token: write/);
    assert.match(workflow, /\/hello-world:\$\{\{ steps\.tag\.outputs\.tag \}\}/);
    // No public_url is set, so the payload URL is a placeholder the page says how to fill.
    assert.equal(await page.locator('#kit-webhook-url').innerText(), 'PUBLIC_URL/webhooks/github');
    assert.match(await page.locator('section.placeholders').innerText(), /PUBLIC_URL — .*public_url/);
    assert.match(await page.locator('#kit-shipgate_policy').innerText(), /ecs:UpdateService/);

    // Each file downloads as itself, with or without JavaScript.
    const link = page.locator('#workflow').getByRole('link', { name: /Download build\.yml/ });
    assert.equal(await link.getAttribute('download'), 'build.yml');
    const download = await context.request.get(`${server.base}${await link.getAttribute('href')}`);
    assert.equal(download.status(), 200);
    assert.match(download.headers()['content-disposition'], /attachment; filename="build\.yml"/);
    assert.equal((await download.text()).trim(), workflow.trim());

    // Copy buttons exist only where they work.
    const copy = page.locator('#workflow button[data-copy]');
    if (javaScriptEnabled) {
      assert.ok(await copy.isVisible(), 'with JavaScript the copy button shows');
      await copy.click();
      await page.waitForFunction(() => document.querySelector('#workflow button[data-copy]').textContent === 'Copied');
      assert.equal((await page.evaluate(() => navigator.clipboard.readText())).trim(), workflow.trim());
    } else {
      assert.equal(await copy.isVisible(), false, 'without JavaScript there is nothing to copy with');
    }

    await step(page, page.getByRole('button', { name: 'Verify now' }));
    assert.match(page.url(), /\/pipelines\/hello\/setup\?verified=1/);
    assert.match(await page.locator('.verify-summary').innerText(), /Checked at .*: \d+ problems/);
    // moto has the seeded services: they pass; the repository's settings and the webhook do not yet.
    assert.equal(await checkRow(page, 'env.staging.service').getAttribute('class'), 'check check-ok');
    assert.equal(await checkRow(page, 'env.production.container').getAttribute('class'), 'check check-ok');
    const webhook = checkRow(page, 'webhook.delivery');
    assert.equal(await webhook.getAttribute('class'), 'check check-problem');
    assert.match(await webhook.innerText(), /No webhook delivery from Codertocat\/Hello-World has arrived yet/);
    assert.match(await webhook.innerText(), /Redeliver/);
    // moto's default identity is not an IAM user it can simulate: writes are not_checked, never ok.
    assert.equal(await checkRow(page, 'permissions.ecs:UpdateService').getAttribute('class'), 'check check-not_checked');
    const text = await main.innerText();
    assert.doesNotMatch(text, /\{ source:|DispatchFailure/, 'no Rust debug output');
    await page.screenshot({ path: `${shots}/setup-verify-js-${how}.png`, fullPage: true });

    // The Pipelines page carries the badge.
    await page.goto(`${server.base}/pipelines`);
    const badge = page.locator('a.badge-check-problem');
    assert.match(await badge.textContent(), /\d+ problems?/);
    assert.equal(await badge.getAttribute('href'), '/pipelines/hello/setup#verify');
    assert.deepEqual(errors, []);
    await context.close();
  });
}

test('Verify over the API answers with every check in its fields', async () => {
  const res = await fetch(`${server.base}/api/v1/pipelines/hello/verify`, { method: 'POST' });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.pending, false);
  assert.ok(body.checks.length > 10);
  for (const c of body.checks) {
    assert.deepEqual(Object.keys(c).sort(), ['detail', 'fix', 'id', 'status', 'subject']);
    assert.ok(['ok', 'problem', 'not_checked'].includes(c.status));
  }
  const setup = await (await fetch(`${server.base}/api/v1/pipelines/hello/setup`)).json();
  assert.equal(setup.files.find((f) => f.id === 'workflow').path, '.github/workflows/build.yml');
  assert.equal(setup.verification.checks.length, body.checks.length);
});
