// A person operates runs from the run page (local mode: the one user is an admin): approves a
// gate, cancels a run and retries it. With JavaScript on (hydrated forms, the run reloads in
// place) and off (plain form posts that come back to the page).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startShipgate, startMoto, deliver, branchPush, examples, launchBrowser, runStatus, until } from './harness.mjs';

const GATED = 'e'.repeat(40);
const shots = new URL('../test-results/', import.meta.url).pathname;

let moto;
let server;
let browser;
let gatedRun;

// A run whose build waits for an image that never comes: live, and nothing to take back.
async function waitingRun(delivery, sha) {
  const pushed = await deliver(server.base, 'push', delivery, branchPush(sha));
  return pushed.run_ids[0];
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  moto = await startMoto();
  await moto.seed(GATED);
  server = await startShipgate({
    ...moto.env,
    SHIPGATE_POLL_INTERVAL: '200ms',
  });
  browser = await launchBrowser();
  [gatedRun] = (await deliver(server.base, 'push', 'e2e-op-gate', branchPush(GATED))).run_ids;
  const ci = structuredClone(examples('workflow_run').find((e) => e.workflow_run.status === 'completed'));
  ci.repository = branchPush(GATED).repository;
  Object.assign(ci.workflow_run, { head_sha: GATED, head_branch: 'master', status: 'completed', conclusion: 'success' });
  ci.action = 'completed';
  await deliver(server.base, 'workflow_run', 'e2e-op-ci', ci);
  await until('staging to ship and production to wait', async () => (await runStatus(server.base, gatedRun)) === 'awaiting_approval');
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await moto?.stop();
});

async function hydrated(page, url) {
  await page.goto(url);
  await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
}

test('with JavaScript on, the run page approves a gate, cancels a run and retries it in place', async () => {
  const context = await browser.newContext({ javaScriptEnabled: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await hydrated(page, `${server.base}/runs/${gatedRun}`);
  const production = page.locator('li.stage[data-stage="deploy"]').nth(1);
  await production.locator('textarea[name="comment"]').first().fill('ship it');
  await page.screenshot({ path: `${shots}/run-gate-js.png`, fullPage: true });
  await production.getByRole('button', { name: 'Approve production' }).click();
  // The run reloads without leaving the page: the decision shows and the form is gone.
  await production.locator('li.decision-approved').waitFor({ timeout: 15_000 });
  assert.match(await production.locator('.decision-comment').innerText(), /ship it/);
  assert.equal(await page.locator('.gate-form').count(), 0);
  assert.equal(page.url(), `${server.base}/runs/${gatedRun}`);

  const live = await waitingRun('e2e-op-js', '7'.repeat(40));
  await hydrated(page, `${server.base}/runs/${live}`);
  await page.getByLabel('Reason for cancelling').fill('wrong commit');
  await page.getByRole('button', { name: 'Cancel run' }).click();
  await page.locator('h1 .badge', { hasText: 'cancelled' }).waitFor({ timeout: 15_000 });
  assert.equal(await runStatus(server.base, live), 'cancelled');
  assert.match(await page.locator('li.stage[data-stage="build"]').innerText(), /cancelled by local: wrong commit/);

  await page.getByRole('button', { name: 'Retry' }).click();
  await page.waitForURL((url) => url.pathname !== `/runs/${live}`, { timeout: 15_000 });
  const retried = Number(new URL(page.url()).pathname.split('/').pop());
  assert.ok(retried > live, `a new run: ${page.url()}`);
  await page.locator(`a[href="/runs/${live}"]`, { hasText: `run #${live}` }).waitFor();
  assert.equal(await runStatus(server.base, retried), 'running');
  await page.screenshot({ path: `${shots}/run-retried-js.png`, fullPage: true });
  assert.deepEqual(errors, [], 'no script errors on the page');
  await context.close();
});

test('with JavaScript off, the same forms post and come back to the page', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const live = await waitingRun('e2e-op-nojs', '8'.repeat(40));
  await page.goto(`${server.base}/runs/${live}`);
  assert.equal(await page.locator('html').getAttribute('data-hydrated'), null, 'nothing hydrated');
  await page.getByRole('button', { name: 'Cancel run' }).click();
  await page.waitForLoadState();
  assert.equal(new URL(page.url()).pathname, `/runs/${live}`);
  assert.equal(await page.locator('h1 .badge').textContent(), 'cancelled');
  assert.equal(await page.getByRole('button', { name: 'Cancel run' }).count(), 0);

  await page.getByRole('button', { name: 'Retry' }).click();
  await page.waitForURL((url) => url.pathname !== `/runs/${live}`);
  const retried = Number(new URL(page.url()).pathname.split('/').pop());
  assert.equal(await runStatus(server.base, retried), 'running');
  assert.equal(await page.locator(`a[href="/runs/${live}"]`).count(), 1, 'the new run links the one it retries');
  await page.screenshot({ path: `${shots}/run-retried-nojs.png`, fullPage: true });
  await context.close();
});
