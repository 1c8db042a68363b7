// A push ships to staging against moto (ECS rollouts simulated by server/tests/peers/moto_ecs.py),
// and a person checks the services and images pages: what ECS runs, which run put it there,
// and which image of the repository is live where. JavaScript on (the page's islands hydrated)
// and off (plain server-rendered HTML).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startShipgate, startMoto, deliver, branchPush, examples, launchBrowser, runStatus, until } from './harness.mjs';

const SHA = 'd'.repeat(40);
const URI = '123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world';
const shots = new URL('../test-results/', import.meta.url).pathname;

let moto;
let server;
let browser;
let runId;
let digests;

before(async () => {
  mkdirSync(shots, { recursive: true });
  moto = await startMoto();
  // The run's image, and one pushed by hand that no run built.
  digests = await moto.seed(SHA, 'hotfix');
  server = await startShipgate({
    ...moto.env,
    SHIPGATE_POLL_INTERVAL: '200ms',
    SHIPGATE_INVENTORY_INTERVAL: '1s',
  });
  browser = await launchBrowser();

  const pushed = await deliver(server.base, 'push', 'e2e-deploy-1', branchPush(SHA));
  [runId] = pushed.run_ids;
  const ci = structuredClone(examples('workflow_run').find((e) => e.workflow_run.status === 'completed'));
  ci.repository = branchPush(SHA).repository;
  Object.assign(ci.workflow_run, { head_sha: SHA, head_branch: 'master', status: 'completed', conclusion: 'success' });
  ci.action = 'completed';
  assert.equal((await deliver(server.base, 'workflow_run', 'e2e-deploy-ci', ci)).outcome, 'ci_recorded');
  await until('staging to ship and production to wait', async () => (await runStatus(server.base, runId)) === 'awaiting_approval');
  // The inventory refreshes after the deploy; wait until the page shows the new revision.
  await until('the services page to show the deploy', async () => {
    const html = await (await fetch(`${server.base}/services`)).text();
    return html.includes(`title="${URI}@${digests[SHA]}"`) && html.includes('As ECS reported it at');
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await moto?.stop();
});

async function checkServices(page) {
  const staging = page.locator('article.service[data-environment="staging"]');
  const image = staging.locator('.live-image');
  assert.equal(await image.locator('code.digest').getAttribute('title'), `${URI}@${digests[SHA]}`);
  assert.match(await image.innerText(), new RegExp(`deployed by run #${runId}`));
  assert.match(await staging.locator('.live-task-definition').innerText(), /^hello:\d+$/);
  assert.match(await staging.locator('.live-tasks').innerText(), /2\/2 running/);
  const production = page.locator('article.service[data-environment="production"]');
  assert.equal(await production.locator('.live-image code.image-ref').getAttribute('title'), `${URI}:previous`);
  assert.match(await production.locator('.live-image').innerText(), /not deployed by Shipgate/);
  assert.equal(await staging.locator(`tr.service-deploy[data-run-id="${runId}"][data-outcome="succeeded"]`).count(), 1);
}

async function checkImages(page) {
  const built = page.locator(`tr.image-row[data-digest="${digests[SHA]}"]`);
  const hotfix = page.locator(`tr.image-row[data-digest="${digests.hotfix}"]`);
  assert.deepEqual(await built.locator('.live-chip').allTextContents(), ['staging']);
  assert.match(await built.innerText(), new RegExp(`#${runId}`));
  assert.equal(await hotfix.locator('.live-chip').count(), 0, 'the hand-pushed image runs nowhere');
  assert.match(await hotfix.locator('.tags').innerText(), /hotfix/);
  assert.match(await page.locator('main').innerText(), /as listed at .* \(2 images\)/);
}

test('with JavaScript on, the services page hydrates and links to the images ECR holds', async () => {
  const context = await browser.newContext({ javaScriptEnabled: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.base}/services`);
  await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
  await checkServices(page);
  await page.screenshot({ path: `${shots}/services-js.png`, fullPage: true });

  // The link opens the pipeline's images.
  await page.locator('section.service-group[data-pipeline="hello"] a[href="/pipelines/hello/images"]').click();
  await page.waitForURL('**/pipelines/hello/images');
  await page.locator('table.images').waitFor();
  await checkImages(page);
  await page.screenshot({ path: `${shots}/images-js.png`, fullPage: true });
  assert.deepEqual(errors, [], 'no script errors on the page');
  await context.close();
});

test('with JavaScript off, the services and images pages are plain HTML with the same facts', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${server.base}/services`);
  assert.equal(await page.locator('html').getAttribute('data-hydrated'), null, 'nothing hydrated');
  await checkServices(page);
  await page.goto(`${server.base}/images?pipeline=hello`);
  await checkImages(page);
  await page.screenshot({ path: `${shots}/images-nojs.png`, fullPage: true });
  await context.close();
});
