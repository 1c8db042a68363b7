// The README's demo, started as scripts/run.sh starts it after its build
// (scripts/demo-serve.sh: the local AWS stand-in, seeded, and Shipgate pointed at it), and
// driven by scripts/demo-push.sh (GitHub's signed push, CI's image in the stand-in's ECR, CI's
// completion). A newcomer watches the run appear, staging deploy by itself with its rollout
// progressing live, production wait at its gate, and, once they click Approve, production
// deploy the same digest. With JavaScript on (live updates, no reload) and off (plain pages
// and form posts). Every page says that AWS is a local stand-in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startDemo, launchBrowser, until } from './harness.mjs';

const shots = new URL('../test-results/', import.meta.url).pathname;

let demo;
let browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  demo = await startDemo();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

async function run(id) {
  const res = await fetch(`${demo.base}/api/v1/runs/${id}`);
  assert.equal(res.status, 200);
  return res.json();
}

const deployOf = (r, env) => r.deploys.find((d) => d.environment === env);

// What demo-push.sh says it did: the run it started and the image CI pushed.
function pushed(output) {
  const run = output.match(/started run #(\d+)/);
  const image = output.match(/(\S+\/demo):([0-9a-f]{40}) (sha256:[0-9a-f]{64})/);
  assert.ok(run && image, `demo-push.sh names its run and image:\n${output}`);
  return { runId: Number(run[1]), uri: image[1], tag: image[2], digest: image[3] };
}

// Stage cards of a run page, in timeline order: Source, Build, staging, production.
const stage = (page, env) => page.locator('li.stage[data-stage="deploy"]').nth(env === 'staging' ? 0 : 1);
const badge = (card) => card.locator('.stage-head .badge').textContent();

// Follows a deploy card on the open page until it succeeds, noting each task count it showed.
async function watchRollout(page, card, what) {
  const seen = [];
  await until(`${what} to succeed`, async () => {
    const counts = card.locator('.tasks-text');
    if (await counts.count()) {
      const text = (await counts.textContent()).trim();
      if (seen.at(-1) !== text) seen.push(text);
    }
    return (await badge(card)) === 'succeeded';
  }, 120_000);
  return seen;
}

test('the demo says it runs against a local AWS stand-in, which holds what the pipeline points at', async () => {
  const out = demo.output();
  assert.match(out, /DEMO against a local AWS stand-in/);
  assert.ok(out.includes(`Every AWS call goes to ${demo.awsUrl}`), out);
  assert.match(out, /seeded: ECR repository demo \(us-east-1\)/);
  assert.match(out, /seeded: ECS service staging\/demo \(us-east-1\): Fargate, 4 tasks .*\(container app\)/);
  assert.match(out, /seeded: ECS service production\/demo \(us-east-1\): Fargate, 4 tasks .*\(container app\)/);
  assert.match(out, /For a real account instead/);
  // The stand-in answers at the address the demo wrote down.
  const res = await fetch(`${demo.awsUrl}/_shipgate/network`);
  assert.equal(res.status, 200);
  assert.ok((await res.json()).subnets.length > 0);
});

test('with JavaScript on, a pushed run ships to staging live, waits at production, and ships the same digest once approved', async (t) => {
  const context = await browser.newContext({ javaScriptEnabled: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${demo.base}/`);
  await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
  assert.equal(await page.locator('tr.run-row').count(), 0, 'a fresh demo has no runs');

  // The newcomer's second terminal: scripts/demo-push.sh. The run appears on the open page.
  const pushing = demo.push();
  await page.locator('tr.run-row').first().waitFor({ timeout: 20_000 });
  const runId = Number(await page.locator('tr.run-row').first().getAttribute('data-run-id'));
  const shipped = pushed(await pushing);
  assert.equal(shipped.runId, runId);

  await page.locator(`tr[data-run-id="${runId}"] a.run-link`).click();
  await page.waitForURL(`**/runs/${runId}`);
  await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
  // Everything from here on arrives without a reload: this mark would not survive one.
  await page.evaluate(() => { window.demoMark = 'no reload'; });
  const staging = stage(page, 'staging');
  const production = stage(page, 'production');

  const stagingCounts = await watchRollout(page, staging, 'staging');
  // The rollout was seen in steps: some tasks running of 4, then all of them.
  const partial = stagingCounts.filter((t) => /^[0-3]\/4 running/.test(t));
  assert.ok(partial.length >= 2, `rollout progress shown step by step: ${JSON.stringify(stagingCounts)}`);
  assert.match(stagingCounts.at(-1), /^4\/4 running/);
  t.diagnostic(`staging showed ${JSON.stringify(stagingCounts)}`);
  // CI's completion, as the workflow_run delivery told it.
  assert.match(await page.locator('li.stage[data-stage="build"] dd.ci').innerText(), /^CI completed\s+success/i);
  assert.match(await page.locator('li.stage[data-stage="build"] a.ci-link').getAttribute('href'), /^https:\/\/github\.com\/octo-org\/demo\/actions\/runs\/\d+$/);

  // Production waits for a person, with nothing sent to ECS.
  await until('production to wait at its gate', async () => (await badge(production)) === 'awaiting approval');
  assert.equal((await run(runId)).status, 'awaiting_approval');
  assert.equal(await production.locator('.deploy-facts').count(), 0, 'nothing deployed to production yet');
  const offered = await production.locator('.gate-note code.digest').getAttribute('title');
  assert.equal(offered, shipped.digest, 'the gate offers the digest CI pushed');
  await page.screenshot({ path: `${shots}/demo-gate-js.png`, fullPage: true });

  await production.getByRole('button', { name: 'Approve production' }).click();
  await production.locator('li.decision-approved').waitFor({ timeout: 15_000 });
  const productionCounts = await watchRollout(page, production, 'production');
  assert.ok(productionCounts.some((t) => /^[0-3]\/4 running/.test(t)), `production's rollout shown live: ${JSON.stringify(productionCounts)}`);
  t.diagnostic(`production showed ${JSON.stringify(productionCounts)}`);
  assert.equal(await page.evaluate(() => window.demoMark), 'no reload');
  await page.locator('h1 .badge', { hasText: 'succeeded' }).waitFor({ timeout: 15_000 });

  // The same image, by digest, in both environments: on the page and in the API.
  const stagingImage = await staging.locator('.deploy-facts code.digest').getAttribute('title');
  const productionImage = await production.locator('.deploy-facts code.digest').getAttribute('title');
  assert.equal(stagingImage, `${shipped.uri}@${shipped.digest}`);
  assert.equal(productionImage, stagingImage);
  const done = await run(runId);
  assert.equal(done.status, 'succeeded');
  assert.equal(done.build.image_tag, shipped.tag);
  assert.equal(done.build.image_digest, shipped.digest);
  assert.deepEqual(['staging', 'production'].map((env) => [deployOf(done, env).outcome, deployOf(done, env).image]),
    [['succeeded', stagingImage], ['succeeded', stagingImage]]);
  await page.screenshot({ path: `${shots}/demo-done-js.png`, fullPage: true });
  assert.deepEqual(errors, [], 'no script errors on the page');
  await context.close();
});

test('with JavaScript off, the next push ships to staging, and an approval through a plain form ships production', async () => {
  // A quicker CI and rollout: this pass reads pages as they are served, not live.
  const shipped = pushed(await demo.push({ DEMO_CI_SECONDS: '0', DEMO_ROLLOUT_POLLS: '3' }));
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const url = `${demo.base}/runs/${shipped.runId}`;
  await until('production to wait at its gate', async () => {
    await page.goto(url);
    return (await badge(stage(page, 'production'))) === 'awaiting approval';
  }, 90_000);
  assert.equal(await page.locator('html').getAttribute('data-hydrated'), null, 'nothing hydrated');
  const staging = stage(page, 'staging');
  assert.equal(await badge(staging), 'succeeded');
  assert.equal(await staging.locator('.deploy-facts code.digest').getAttribute('title'), `${shipped.uri}@${shipped.digest}`);

  await Promise.all([page.waitForNavigation(), stage(page, 'production').getByRole('button', { name: 'Approve production' }).click()]);
  assert.equal(new URL(page.url()).pathname, `/runs/${shipped.runId}`);
  assert.equal(await stage(page, 'production').locator('li.decision-approved').count(), 1);
  await until('production to succeed', async () => {
    await page.goto(url);
    return (await badge(stage(page, 'production'))) === 'succeeded';
  }, 90_000);
  assert.equal(await stage(page, 'production').locator('.deploy-facts code.digest').getAttribute('title'), `${shipped.uri}@${shipped.digest}`);
  const done = await run(shipped.runId);
  assert.equal(deployOf(done, 'production').image, deployOf(done, 'staging').image);
  await page.screenshot({ path: `${shots}/demo-done-nojs.png`, fullPage: true });
  await context.close();
});

for (const javaScriptEnabled of [true, false]) {
  test(`the top bar says AWS calls go to the local stand-in (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    await page.goto(`${demo.base}/services`);
    const notice = page.locator('header .aws-stand-in[role="status"]');
    assert.equal(await notice.isVisible(), true, 'the stand-in notice is shown');
    assert.ok((await notice.innerText()).includes(new URL(demo.awsUrl).host), await notice.innerText());
    await context.close();
  });
}

test('stopping the demo stops the AWS stand-in with Shipgate', async () => {
  const how = await demo.stop();
  assert.equal(how.leftovers, false, 'nothing the demo started outlives it');
  await assert.rejects(fetch(`${demo.awsUrl}/_shipgate/network`), 'the stand-in is gone');
  await assert.rejects(fetch(`${demo.base}/readyz`), 'Shipgate is gone');
});
