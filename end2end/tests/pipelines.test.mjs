// An admin links a repository to ECS services in the browser, against moto (the `hello`
// clusters, services and ECR repository seeded by server/tests/peers/seed_hello.py): every
// cluster, service and container is picked from what the stand-in reports, a field error is
// shown beside its field, the pipeline is saved (page and API), edited, and deleted after a
// confirmation, each change in the audit log. Also an environment imported from a live
// service, and the repository suggested from what the GitHub token can see (the GitHub fake,
// end2end/peers/github.mjs). With JavaScript on and off: the form is plain HTML either way;
// without JavaScript a "Show …" button takes each lookup step, with it choosing is enough.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { startShipgate, startMoto, launchBrowser, until } from './harness.mjs';
import { startGitHub } from '../peers/github.mjs';

const shots = new URL('../test-results/', import.meta.url).pathname;

let moto;
let github;
let server;
let browser;
const GITHUB_TOKEN = 'ghp_pipelines-e2e';
const REPOSITORIES = ['octo-org/web', 'octo-org/api', 'Codertocat/Hello-World'];

before(async () => {
  mkdirSync(shots, { recursive: true });
  moto = await startMoto();
  await moto.seed();
  github = await startGitHub({ repositories: REPOSITORIES, token: GITHUB_TOKEN });
  server = await startShipgate({ ...moto.env, SHIPGATE_GITHUB_API_URL: github.url, SHIPGATE_GITHUB_TOKEN: GITHUB_TOKEN });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await github?.stop();
  await moto?.stop();
});

async function api(path) {
  const res = await fetch(`${server.base}${path}`);
  return { status: res.status, json: res.status === 200 ? await res.json() : null };
}

const field = (page, name) => page.locator(`[name="${name}"]`);
const env = (page, i) => page.locator(`li.environment-form[data-environment-index="${i}"]`);
const errorBeside = (page, name) => page.locator(`[data-error-for="${name}"]`);

// Each click reloads the form (a GET that carries every value), with or without JavaScript.
async function step(page, button) {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), button.click()]);
}

const hydrated = (page) => page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });

// Region, then cluster, then service, then container, each from the list AWS reports.
// Without JavaScript the environment's lookup button, which names the next choice ("Show
// clusters", "Show services", …), takes each step; with it, the choice itself reloads the form.
async function pickService(page, i, { region, cluster, service, container }, javaScript) {
  const e = (f) => `environments[${i}].${f}`;
  const lookup = (label) => env(page, i).locator('button.lookup', { hasText: label });
  const choose = async (name, value, next) => {
    const input = field(page, e(name));
    const isSelect = (await input.evaluate((el) => el.tagName)) === 'SELECT';
    if (javaScript) {
      await hydrated(page);
      const changed = isSelect ? input.selectOption(value) : input.fill(value).then(() => input.press('Tab'));
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), changed]);
    } else {
      await (isSelect ? input.selectOption(value) : input.fill(value));
      await step(page, lookup(next));
    }
  };
  if ((await field(page, e('region')).inputValue()) !== region) {
    await choose('region', region, 'Show clusters');
  }
  assert.ok((await field(page, e('cluster')).evaluate((el) => el.tagName)) === 'SELECT', 'clusters are a list');
  const clusters = await field(page, e('cluster')).locator('option').allTextContents();
  assert.ok(clusters.includes('stg') && clusters.includes('prod'), `the stand-in's clusters: ${clusters}`);
  await choose('cluster', cluster, 'Show services');
  await choose('service', service, 'Show containers');
  await field(page, e('container')).selectOption(container);
}

for (const javaScriptEnabled of [true, false]) {
  const how = javaScriptEnabled ? 'on' : 'off';
  const name = `web-${how}`;

  test(`with JavaScript ${how}, a pipeline is linked through the form, edited and deleted, each change audited`, async () => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(`${server.base}/pipelines`);
    if (javaScriptEnabled) {
      await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
    }
    await step(page, page.getByRole('link', { name: 'New pipeline' }).first());
    assert.match(page.url(), /\/pipelines\/new$/);

    // The repository is suggested from what the GitHub token can see, and may be typed.
    const suggested = await page.locator('datalist#github-repositories option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(suggested, REPOSITORIES);
    assert.equal(await field(page, 'repository').getAttribute('list'), 'github-repositories');
    assert.match(await page.locator('[data-note-for="repository"]').innerText(), /Suggests the 3 repositories the GitHub token can see/);
    await field(page, 'name').fill(name);
    await field(page, 'repository').fill('octo-org/web');
    await field(page, 'branch').fill('refs/heads/main');
    await pickService(page, 0, { region: 'us-east-1', cluster: 'stg', service: 'hello', container: 'app' }, javaScriptEnabled);
    await field(page, 'environments[0].name').fill('staging');
    assert.equal(await field(page, 'environments[0].promotion').inputValue(), 'auto');

    await step(page, page.getByRole('button', { name: 'Add environment' }));
    assert.equal(await field(page, 'environments[1].region').inputValue(), 'us-east-1', 'the new environment starts in the same region');
    await pickService(page, 1, { region: 'us-east-1', cluster: 'prod', service: 'hello', container: 'app' }, javaScriptEnabled);
    await field(page, 'environments[1].name').fill('production');
    assert.equal(await field(page, 'environments[1].promotion').inputValue(), 'manual');
    await field(page, 'environments[1].required_approvals').fill('2');
    await field(page, 'environments[1].approvers').fill('alice@example.com, bob@example.com');
    await field(page, 'ecr_repository').selectOption('hello-world');

    // A bad branch: refused, and said beside the branch; nothing chosen is lost.
    await step(page, page.getByRole('button', { name: 'Create pipeline' }));
    assert.match(await errorBeside(page, 'branch').innerText(), /not a full ref/);
    assert.equal(await field(page, 'environments[1].cluster').inputValue(), 'prod');
    assert.equal(await field(page, 'environments[0].container').inputValue(), 'app');
    assert.equal((await api(`/api/v1/pipelines/${name}`)).status, 404, 'nothing saved');
    await page.screenshot({ path: `${shots}/pipeline-form-error-js-${how}.png`, fullPage: true });

    assert.match(await page.locator('[data-note-for="repository"]').innerText(), /Suggests the 3/, 'octo-org/web is one the token sees');
    await field(page, 'branch').fill('main');
    await step(page, page.getByRole('button', { name: 'Create pipeline' }));
    // A new pipeline lands on its Set up page, and its first Verify runs by itself.
    assert.match(page.url(), new RegExp(`/pipelines/${name}/setup\\?created=1$`));
    assert.match(await page.locator('main').innerText(), /Pipeline created\./);
    assert.match(await page.locator('#kit-workflow').innerText(), /branches: \["main"\]/);
    await until('the first Verify', async () => {
      const setup = (await api(`/api/v1/pipelines/${name}/setup`)).json;
      return setup.verification && !setup.verification.pending && setup.verification.checks.length > 0;
    });
    await page.reload();
    assert.equal(await page.locator('tr[data-check="env.staging.service"]').getAttribute('class'), 'check check-ok');
    await step(page, page.locator('nav.crumbs').getByRole('link', { name }));
    const saved = (await api(`/api/v1/pipelines/${name}`)).json;
    assert.equal(saved.repository, 'octo-org/web');
    assert.equal(saved.ecr_repository, 'hello-world');
    assert.deepEqual(
      saved.environments.map((e) => [e.name, e.region, e.cluster, e.service, e.container, e.promotion]),
      [['staging', 'us-east-1', 'stg', 'hello', 'app', 'auto'], ['production', 'us-east-1', 'prod', 'hello', 'app', 'manual']],
    );
    assert.equal(saved.environments[1].approval.required_approvals, 2);
    assert.deepEqual(saved.environments[1].approval.approvers, ['alice@example.com', 'bob@example.com']);

    await step(page, page.getByRole('link', { name: 'Edit' }));
    assert.equal(await field(page, 'environments[0].cluster').inputValue(), 'stg', 'the edit starts from the pipeline');
    await field(page, 'branch').fill('release');
    await step(page, page.getByRole('button', { name: 'Save changes' }));
    assert.equal((await api(`/api/v1/pipelines/${name}`)).json.branch, 'release');

    await step(page, page.getByRole('link', { name: 'Delete' }));
    assert.match(await page.locator('main').innerText(), /Its runs stay/);
    assert.equal((await api(`/api/v1/pipelines/${name}`)).status, 200, 'nothing is deleted before the confirmation');
    await step(page, page.getByRole('button', { name: `Delete ${name}` }));
    assert.match(page.url(), new RegExp(`/pipelines\\?deleted=${name}$`));
    assert.match(await page.locator('main').innerText(), new RegExp(`Pipeline ${name} was deleted`));
    assert.equal((await api(`/api/v1/pipelines/${name}`)).status, 404);

    const audit = (await api(`/api/v1/audit?target=pipeline:${name}`)).json.items.map((e) => e.action);
    assert.deepEqual(audit, ['pipeline.deleted', 'pipeline.updated', 'pipeline.verify', 'pipeline.created']);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test(`with JavaScript ${how}, an environment is imported from a live service`, async () => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    await page.goto(`${server.base}/pipelines/new`);
    if (javaScriptEnabled) await hydrated(page);
    await field(page, 'import_region').fill('us-east-1');
    if (javaScriptEnabled) {
      await hydrated(page);
      await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), field(page, 'import_region').press('Tab')]);
    } else {
      await step(page, page.locator('section.import-service').getByRole('button', { name: 'Show services' }));
    }
    await field(page, 'import_service').selectOption('prod/hello');
    await step(page, page.getByRole('button', { name: 'Import' }));
    assert.doesNotMatch(page.url(), /op=/, 'a reload does not import again');
    assert.equal(await field(page, 'environments[0].name').inputValue(), 'prod');
    assert.equal(await field(page, 'environments[0].cluster').inputValue(), 'prod');
    assert.equal(await field(page, 'environments[0].service').inputValue(), 'hello');
    assert.equal(await field(page, 'environments[0].container').inputValue(), 'app');
    await context.close();
  });
}
