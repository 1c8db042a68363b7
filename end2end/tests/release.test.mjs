// A release, end to end, against moto (AWS), the local OpenID provider and a fake of GitHub's
// REST API (end2end/peers/github.mjs, reached through Shipgate's real octocrab client):
// a first commit goes to staging by itself and to production once approved; the next
// commit's production gate shows the commits GitHub lists since the live version, the task
// definition's image change and the scan findings; a release manager signs in and approves
// it (JavaScript off), and production gets exactly the image staging got. Two more commits
// reach the gate: the older is superseded and links the newer; the pusher may not approve
// their own change (JavaScript on and off); a release manager approves the newer one
// (JavaScript on). Then production is rolled back from the services page to the first
// commit's task-definition revision, and GitHub heard each deployment's statuses. Last, the
// runs list and a run page follow the server's changes without a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { startShipgate, startMoto, startOidc, freePort, OIDC_CLIENT, deliver, branchPush, examples, launchBrowser, until } from './harness.mjs';
import { startGitHub } from '../peers/github.mjs';

const shots = new URL('../test-results/', import.meta.url).pathname;
const REPO = 'Codertocat/Hello-World';
const ADMIN_TOKEN = 'end2end-admin-token-0123456789';
const GITHUB_TOKEN = 'ghp_end2endReleaseToken000000000000000';
// The pusher and author of GitHub's example push, as the push carries them.
const PUSHER_EMAIL = '21031067+Codertocat@users.noreply.github.com';

// The branch's commits, oldest first, as GitHub holds them: each `pushed` one is pushed
// (and built and deployed); the others only come along in a later push.
const FIRST = '3f1e2d4c5b6a79880716253443526170f8e9dac1';
const HEALTH = '5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b';
const SECOND = '7c2f6b4e1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c';
const THIRD = '9d8c7b6a5f4e3d2c1b0a99887766554433221100';
const FOURTH = 'b4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5';
const HISTORY = [
  { sha: FIRST, message: 'Serve the greeting from the config', login: 'Codertocat', pushed: true },
  { sha: HEALTH, message: 'Add the health check\n\nECS asks /healthz every 30 seconds.', login: 'octocat' },
  { sha: SECOND, message: 'Fix the login redirect', login: 'Codertocat', pushed: true },
  { sha: THIRD, message: 'Cache the greeting for a minute', login: 'Codertocat', pushed: true },
  { sha: FOURTH, message: 'Log the request id with each greeting', login: 'Codertocat', pushed: true },
];
const title = (sha) => HISTORY.find((c) => c.sha === sha).message.split('\n')[0];

// Release managers by group, as an organisation's provider would send them.
const USERS = [
  { sub: 'alice', email: 'alice@example.com', name: 'Alice Example', groups: ['release-managers'], password: 'password' },
  { sub: 'codertocat', email: PUSHER_EMAIL, name: 'Codertocat', groups: ['release-managers'], password: 'password' },
];

let moto;
let github;
let provider;
let server;
let browser;
const runs = {}; // sha -> run id
const digests = {}; // sha -> image digest pushed to ECR
let rollbackRun;

// ECR and ECS as an operator's tools see them (boto3 against moto).
const AWS_PY = `
import hashlib, json, sys, urllib.request
import boto3
url, op, *args = sys.argv[1:]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
if op == "push":
    tag, counts = args[0], json.loads(args[1])
    ecr = boto3.client("ecr", **kw)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811478, "digest": "sha256:" + hashlib.sha256(("layer" + tag).encode()).hexdigest()}]})
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    ecr.put_image(repositoryName="hello-world", imageManifest=manifest, imageTag=tag, imageDigest=digest)
    if counts:
        findings = {"imageScanFindings": {"findings": [], "findingSeverityCounts": counts}, "registryId": "123456789012",
            "repositoryName": "hello-world", "imageId": {"imageTag": tag},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."}}
        body = json.dumps({"results": [findings], "region": "us-east-1"}).encode()
        urllib.request.urlopen(urllib.request.Request(url + "/moto-api/static/ecr/scan-finding-results", data=body, method="POST", headers={"content-type": "application/json"})).read()
        ecr.start_image_scan(repositoryName="hello-world", imageId={"imageTag": tag})
    print(json.dumps({"digest": digest}))
elif op == "service":
    ecs = boto3.client("ecs", **kw)
    service = ecs.describe_services(cluster=args[0], services=["hello"])["services"][0]
    print(json.dumps({"taskDefinition": service["taskDefinition"], "deployments": [[d["status"], d["taskDefinition"]] for d in service["deployments"]]}))
`;

function aws(...args) {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', AWS_PY, moto.url, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`aws helper ${args[0]} exited ${code}`))));
  });
}

async function api(method, path, body) {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

async function getRun(id) {
  const reply = await api('GET', `/api/v1/runs/${id}`);
  assert.equal(reply.status, 200, reply.text);
  return reply.json;
}

async function untilStatus(id, status, timeoutMs = 60_000) {
  let last;
  try {
    return await until(`run #${id} to be ${status}`, async () => {
      last = await getRun(id);
      return last.status === status && last;
    }, timeoutMs);
  } catch (e) {
    throw new Error(`${e.message}; it is ${last?.status}: ${JSON.stringify(last?.stages?.map((s) => [s.environment ?? s.kind, s.status, s.detail]))}`);
  }
}

const stageOf = (run, env) => run.stages.find((s) => s.environment === env);
const deployOf = (run, env) => run.deploys.find((d) => d.environment === env);

// What GitHub sends and CI does for one commit: the push, the image CI pushes to ECR (and
// its scan), and CI's successful workflow run.
async function ship(sha, { scan = null } = {}) {
  const at = HISTORY.findIndex((c) => c.sha === sha);
  const before = [...HISTORY.slice(0, at)].reverse().find((c) => c.pushed)?.sha ?? '0'.repeat(40);
  const push = branchPush(sha);
  push.before = before;
  push.head_commit.message = HISTORY[at].message;
  push.commits = [push.head_commit];
  push.compare = `https://github.com/${REPO}/compare/${before.slice(0, 12)}...${sha.slice(0, 12)}`;
  const reply = await deliver(server.base, 'push', `e2e-release-push-${sha.slice(0, 7)}`, push);
  assert.equal(reply.outcome, 'run_created', JSON.stringify(reply));
  runs[sha] = reply.run_ids[0];
  ({ digest: digests[sha] } = await aws('push', sha, JSON.stringify(scan)));
  const ci = structuredClone(examples('workflow_run').find((e) => e.workflow_run.status === 'completed'));
  ci.repository = push.repository;
  Object.assign(ci.workflow_run, { head_sha: sha, head_branch: 'master', status: 'completed', conclusion: 'success' });
  ci.action = 'completed';
  assert.equal((await deliver(server.base, 'workflow_run', `e2e-release-ci-${sha.slice(0, 7)}`, ci)).outcome, 'ci_recorded');
  return runs[sha];
}

// Signs in at the provider from `path` and comes back to it.
async function signedIn(javaScriptEnabled, login, path) {
  const context = await browser.newContext({ javaScriptEnabled });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.base}${path}`);
  assert.ok(page.url().startsWith(`${provider.issuer}/interaction/`), `signed out, the provider's form: ${page.url()}`);
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'password');
  await Promise.all([page.waitForURL(`${server.base}${path}`), page.click('button[type="submit"]')]);
  if (javaScriptEnabled) await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
  else assert.equal(await page.locator('html').getAttribute('data-hydrated'), null, 'nothing hydrated');
  return { context, page, errors };
}

const productionCard = (page) => page.locator('li.stage[data-stage="deploy"]').nth(1);

before(async () => {
  mkdirSync(shots, { recursive: true });
  moto = await startMoto();
  github = await startGitHub({ repositories: [REPO], token: GITHUB_TOKEN });
  for (const c of HISTORY) github.commit(REPO, c);
  // The clusters, services (running `hello-world:previous`) and repository the pipeline names.
  await moto.seed();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  provider = await startOidc(`${base}/auth/callback`, USERS);
  const toml = `public_url = "${base}"

[auth]
issuer = "${provider.issuer}"
client_id = "${OIDC_CLIENT.id}"
scopes = ["openid", "email", "profile", "groups"]

[[auth.grant]]
group = "release-managers"
role = "release-manager"
`;
  server = await startShipgate({
    ...moto.env,
    SHIPGATE_POLL_INTERVAL: '200ms',
    SHIPGATE_INVENTORY_INTERVAL: '1s',
    SHIPGATE_OIDC_CLIENT_SECRET: OIDC_CLIENT.secret,
    SHIPGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    SHIPGATE_GITHUB_TOKEN: GITHUB_TOKEN,
    SHIPGATE_GITHUB_API_URL: github.url,
  }, { port, toml });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await provider?.stop();
  await github?.stop();
  await moto?.stop();
});

test('a first commit ships to staging by itself, waits at production, and ships there once approved', async () => {
  const id = await ship(FIRST);
  const waiting = await untilStatus(id, 'awaiting_approval');
  assert.equal(deployOf(waiting, 'staging').outcome, 'succeeded');
  assert.equal(stageOf(waiting, 'production').status, 'awaiting_approval');
  assert.equal(deployOf(waiting, 'production'), undefined, 'nothing deployed to production before the approval');
  // Production runs nothing Shipgate deployed: no commits to compare with.
  const brief = await until('the first gate brief', async () => (await getRun(id)).briefs?.[0]);
  assert.equal(brief.commits.state, 'not_applicable', JSON.stringify(brief.commits));
  assert.equal(github.received.filter((r) => r.path.includes('/compare/')).length, 0, 'nothing to compare yet');

  const approved = await api('POST', `/api/v1/runs/${id}/environments/production/approve`, { comment: 'first release' });
  assert.equal(approved.status, 200, approved.text);
  const done = await untilStatus(id, 'succeeded');
  assert.equal(deployOf(done, 'production').outcome, 'succeeded');
  assert.equal(deployOf(done, 'production').image, `${done.build.image_uri}@${digests[FIRST]}`);
  const live = await aws('service', 'prod');
  assert.equal(live.taskDefinition, deployOf(done, 'production').task_definition, 'ECS runs the first deploy');
});

test('the next commit\'s gate lists GitHub\'s commits, the image change and the scan; a release manager approves it without JavaScript', async () => {
  const id = await ship(SECOND, { scan: { HIGH: 2, MEDIUM: 5 } });
  const first = await getRun(runs[FIRST]);
  const waiting = await until('the second run at the gate with its brief', async () => {
    const run = await getRun(id);
    return run.status === 'awaiting_approval' && run.briefs?.[0]?.commits.state === 'found' && run;
  }, 60_000);
  const compared = github.received.filter((r) => r.path.includes('/compare/'));
  // (Asked again only if a part of the brief failed; always the same question.)
  assert.ok(compared.length >= 1);
  assert.deepEqual([...new Set(compared.map((r) => r.path))], [`/repos/${REPO}/compare/${FIRST}...${SECOND}`], 'compared with the version live in production');
  assert.ok(compared.every((r) => r.authorization === `Bearer ${GITHUB_TOKEN}`), 'with the configured token');
  const candidate = `${waiting.build.image_uri}@${digests[SECOND]}`;
  const liveImage = deployOf(first, 'production').image;
  assert.notEqual(liveImage, candidate);

  const { context, page, errors } = await signedIn(false, 'alice@example.com', `/runs/${id}`);
  try {
    assert.equal(await page.textContent('.account-name'), 'Alice Example');
    assert.equal(await page.locator('h1 .badge').textContent(), 'awaiting approval');
    const production = productionCard(page);
    const brief = production.locator('section.brief');
    // The commits GitHub lists since run #1 (the first commit), with their authors and links.
    const commits = brief.locator('li.brief-commit');
    assert.equal(await commits.count(), 2);
    assert.deepEqual(await commits.locator('span:not(.muted)').allTextContents(), [title(HEALTH), title(SECOND)]);
    assert.deepEqual(await commits.locator('span.muted').allTextContents(), ['octocat', 'Codertocat']);
    assert.equal(await commits.first().locator('a.sha').getAttribute('href'), `https://github.com/${REPO}/commit/${HEALTH}`);
    assert.match(await brief.innerText(), new RegExp(`2 commits since run #${runs[FIRST]} \\(${FIRST.slice(0, 7)}\\), which runs in production now`));
    assert.equal(await brief.locator('a', { hasText: 'compare on GitHub' }).getAttribute('href'), `https://github.com/${REPO}/compare/${FIRST}...${SECOND}`);
    // The task definition: only the app image changes, from what production runs to the candidate.
    const change = brief.locator('tr.brief-change');
    assert.equal(await change.count(), 1);
    assert.deepEqual(await change.locator('td').allTextContents(), ['app image', liveImage, candidate]);
    assert.equal((await brief.locator('.gate-scan').innerText()).replace(/\s+/g, ' ').trim(), 'Scan findings: 0 critical 2 high 5 medium 0 low');
    await page.screenshot({ path: `${shots}/release-brief-nojs.png`, fullPage: true });

    // Approve with a comment: a plain form post that comes back to the run.
    await production.locator('textarea[name="comment"]').first().fill('health check and login fix, scan reviewed');
    await Promise.all([page.waitForNavigation(), production.getByRole('button', { name: 'Approve production' }).click()]);
    await page.waitForLoadState();
    assert.equal(new URL(page.url()).pathname, `/runs/${id}`);
    assert.equal(await page.locator('.action-error').count(), 0, await page.locator('main').innerText());
    assert.equal(await productionCard(page).locator('li.decision-approved').count(), 1);
    assert.match(await productionCard(page).locator('.decision-comment').innerText(), /health check and login fix, scan reviewed/);
    assert.equal(await page.locator('.gate-form').count(), 0, 'the gate is decided');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }

  const done = await untilStatus(id, 'succeeded');
  const [decision] = done.decisions;
  assert.deepEqual([decision.environment, decision.decision, decision.comment, decision.image_digest],
    ['production', 'approved', 'health check and login fix, scan reviewed', digests[SECOND]]);
  assert.match(decision.actor, /alice/i);
  // Production got exactly the image staging got, the one CI pushed for this commit.
  assert.equal(done.build.image_digest, digests[SECOND]);
  assert.equal(deployOf(done, 'production').image, deployOf(done, 'staging').image);
  assert.equal(deployOf(done, 'production').image, candidate);
  assert.equal((await aws('service', 'prod')).taskDefinition, deployOf(done, 'production').task_definition);
  assert.notEqual(deployOf(done, 'production').task_definition, deployOf(first, 'production').task_definition);
});

test('of two runs at the gate the older is superseded and links the newer', async () => {
  const third = await ship(THIRD);
  await untilStatus(third, 'awaiting_approval');
  const fourth = await ship(FOURTH);
  const superseded = await untilStatus(third, 'superseded');
  await untilStatus(fourth, 'awaiting_approval');
  assert.equal(stageOf(superseded, 'production').status, 'superseded');
  assert.match(stageOf(superseded, 'production').detail, new RegExp(`superseded by run #${fourth}`));
  const refused = await api('POST', `/api/v1/runs/${third}/environments/production/approve`, {});
  assert.equal(refused.status, 409, refused.text);

  // Without JavaScript the link is plain HTML; with it, it navigates in place.
  {
    const { context, page } = await signedIn(false, 'alice@example.com', `/runs/${third}`);
    assert.equal(await page.locator('h1 .badge').textContent(), 'superseded');
    assert.equal(await page.locator('a.superseded-by').getAttribute('href'), `/runs/${fourth}`);
    assert.equal(await page.locator('.gate-form').count(), 0, 'nothing to decide on a superseded run');
    await context.close();
  }
  const { context, page, errors } = await signedIn(true, 'alice@example.com', `/runs/${third}`);
  try {
    const link = page.locator('a.superseded-by');
    assert.equal(await link.innerText(), `Go to run #${fourth} →`);
    await page.screenshot({ path: `${shots}/release-superseded-js.png`, fullPage: true });
    await link.click();
    await page.waitForURL(`**/runs/${fourth}`);
    await page.locator('h1', { hasText: `Run #${fourth}` }).waitFor();
    assert.equal(await page.locator('h1 .badge').textContent(), 'awaiting approval');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

for (const javaScriptEnabled of [true, false]) {
  test(`the pusher may not approve their own change (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
    const id = runs[FOURTH];
    const { context, page, errors } = await signedIn(javaScriptEnabled, PUSHER_EMAIL, `/runs/${id}`);
    try {
      assert.equal(await page.textContent('.account-name'), 'Codertocat');
      const production = productionCard(page);
      // A release manager: the form is there, and the policy says who may not use it.
      assert.match(await production.locator('.gate-policy').innerText(), /cannot approve their own change/);
      await production.locator('textarea[name="comment"]').first().fill('my own change, looks fine to me');
      await production.getByRole('button', { name: 'Approve production' }).click();
      if (!javaScriptEnabled) await page.waitForURL(`**/runs/${id}?*`);
      const error = page.locator('.action-error');
      await error.waitFor({ timeout: 15_000 });
      assert.match(await error.innerText(), /you pushed or wrote this change, so someone else must approve it/);
      assert.equal(new URL(page.url()).pathname, `/runs/${id}`);
      await page.screenshot({ path: `${shots}/release-self-approval-${javaScriptEnabled ? 'js' : 'nojs'}.png`, fullPage: true });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
    const run = await getRun(id);
    assert.equal(run.status, 'awaiting_approval', 'the run still waits');
    assert.deepEqual(run.decisions, [], 'the refusal is no decision');
  });
}

test('a release manager approves the newer run in place (JavaScript on); production gets its image', async () => {
  const id = runs[FOURTH];
  const { context, page, errors } = await signedIn(true, 'alice@example.com', `/runs/${id}`);
  try {
    const production = productionCard(page);
    // Since the second commit: the third and fourth.
    const commits = production.locator('li.brief-commit');
    assert.deepEqual(await commits.locator('span:not(.muted)').allTextContents(), [title(THIRD), title(FOURTH)]);
    assert.match(await production.locator('section.brief').innerText(), new RegExp(`2 commits since run #${runs[SECOND]}`));
    const second = await getRun(runs[SECOND]);
    assert.deepEqual(await production.locator('tr.brief-change td').allTextContents(),
      ['app image', deployOf(second, 'production').image, `${second.build.image_uri}@${digests[FOURTH]}`]);
    await production.locator('textarea[name="comment"]').first().fill('caching and request ids');
    await production.getByRole('button', { name: 'Approve production' }).click();
    await production.locator('li.decision-approved').waitFor({ timeout: 15_000 });
    assert.equal(page.url(), `${server.base}/runs/${id}`, 'the page stayed');
    assert.match(await production.locator('.decision-comment').innerText(), /caching and request ids/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
  const done = await untilStatus(id, 'succeeded');
  assert.equal(deployOf(done, 'production').image, deployOf(done, 'staging').image);
  assert.equal(done.build.image_digest, digests[FOURTH]);
});

test('production is rolled back from the services page to the first commit\'s revision', async () => {
  const first = await getRun(runs[FIRST]);
  const fourth = await getRun(runs[FOURTH]);
  const firstRevision = deployOf(first, 'production').task_definition;
  assert.notEqual((await aws('service', 'prod')).taskDefinition, firstRevision, 'production runs something else before');

  const { context, page, errors } = await signedIn(true, 'alice@example.com', '/services');
  try {
    const card = page.locator('article.service[data-environment="production"]');
    // The inventory shows what ECS runs once it looked after the last deploy.
    await until('the services page to show the fourth deploy live', async () => {
      await page.reload();
      await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
      return (await card.locator('.live-image').innerText()).includes(`run #${runs[FOURTH]}`);
    });
    const row = (sha) => card.locator(`tr.service-deploy[data-run-id="${runs[sha]}"]`);
    for (const sha of [FIRST, SECOND, FOURTH]) assert.equal(await row(sha).getAttribute('data-outcome'), 'succeeded');
    assert.equal(await row(FOURTH).locator('form.rollback-form').count(), 0, 'what runs now cannot be rolled back to');
    assert.equal(await row(SECOND).locator('form.rollback-form').count(), 1);
    const form = row(FIRST).locator('form.rollback-form');
    assert.equal(await form.count(), 1);
    const reason = form.locator('input[name="reason"]');
    assert.equal(await reason.getAttribute('required'), '', 'a reason is required');
    // The browser refuses the form without a reason: nothing is sent.
    await form.getByRole('button', { name: 'Roll back' }).click();
    await page.waitForTimeout(500);
    assert.equal(new URL(page.url()).pathname, '/services');
    assert.equal(await reason.evaluate((input) => input.validity.valueMissing), true);
    await reason.fill('the request id logging doubles the log bill');
    await page.screenshot({ path: `${shots}/release-rollback-js.png`, fullPage: true });
    await form.getByRole('button', { name: 'Roll back' }).click();
    await page.waitForURL((url) => /^\/runs\/\d+$/.test(url.pathname), { timeout: 15_000 });
    rollbackRun = Number(new URL(page.url()).pathname.split('/').pop());
    assert.ok(rollbackRun > runs[FOURTH], `a new run: ${page.url()}`);
    await page.locator('h1', { hasText: `Run #${rollbackRun}` }).waitFor();
    assert.equal(await page.locator('.run-kind-rollback').innerText(), 'rollback');
    await untilStatus(rollbackRun, 'succeeded');
    await page.reload();
    await page.waitForSelector('html[data-hydrated="true"]', { state: 'attached', timeout: 20_000 });
    assert.equal(await page.locator('h1 .badge').textContent(), 'succeeded');
    await page.screenshot({ path: `${shots}/release-rolled-back-js.png`, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }

  const rollback = await getRun(rollbackRun);
  assert.equal(rollback.kind, 'rollback');
  assert.equal(rollback.commit.sha, FIRST);
  assert.match(rollback.stages[0].detail, /the request id logging doubles the log bill/);
  assert.equal(rollback.deploys.length, 1);
  assert.equal(rollback.deploys[0].environment, 'production');
  assert.equal(rollback.deploys[0].task_definition, firstRevision, 'the first deploy\'s revision, not a new one');
  assert.equal(rollback.deploys[0].image, deployOf(first, 'production').image);
  assert.notEqual(firstRevision, deployOf(fourth, 'production').task_definition);
  const live = await aws('service', 'prod');
  assert.equal(live.taskDefinition, firstRevision, 'ECS runs the first revision again');
  const audit = await api('GET', '/api/v1/audit?action=run.rollback');
  assert.match(JSON.stringify(audit.json.items[0]), /the request id logging doubles the log bill/);
});

test('GitHub heard each production deployment\'s statuses', async () => {
  const states = (sha, env, run = runs[sha]) => github.statuses().filter((s) => s.run === run && s.environment === env).map((s) => s.state);
  await until('GitHub to hear the rollback succeed', async () => states(FIRST, 'production', rollbackRun).at(-1) === 'success');
  const created = github.received.filter((r) => r.method === 'POST' && r.path === `/repos/${REPO}/deployments`);
  assert.equal(created.length, github.deployments.length);
  assert.equal(created.length, 9, 'staging and production for four commits, and production for the rollback');
  assert.ok(created.every((r) => r.authorization === `Bearer ${GITHUB_TOKEN}`));
  // The newer run's gate compared with what production ran then (the second commit).
  assert.ok(github.received.some((r) => r.path === `/repos/${REPO}/compare/${SECOND}...${FOURTH}`));
  const production = github.deployments.filter((d) => d.environment === 'production');
  const second = production.find((d) => d.payload.shipgate_run === runs[SECOND]);
  assert.equal(second.sha, SECOND);
  assert.equal(second.production_environment, true);
  assert.deepEqual(states(SECOND, 'production'), ['pending', 'queued', 'in_progress', 'success']);
  assert.deepEqual(states(SECOND, 'staging'), ['queued', 'in_progress', 'success']);
  // The superseded run's production deployment went inactive.
  assert.equal(states(THIRD, 'production').at(-1), 'inactive', JSON.stringify(states(THIRD, 'production')));
  const rolled = states(FIRST, 'production', rollbackRun);
  assert.ok(rolled.indexOf('in_progress') >= 0 && rolled.indexOf('in_progress') < rolled.indexOf('success'), JSON.stringify(rolled));
  assert.equal(production.find((d) => d.payload.shipgate_run === rollbackRun).sha, FIRST, 'the rollback deploys the first commit');
  // One deployment per run and environment, never two.
  const keys = github.deployments.map((d) => `${d.payload.shipgate_run}/${d.environment}`);
  assert.equal(new Set(keys).size, keys.length, JSON.stringify(keys));
});

test('the runs list and a run page follow the server without a reload (JavaScript on)', async () => {
  const { context, page, errors } = await signedIn(true, 'alice@example.com', '/');
  try {
    // A push arrives while the list is open: its run appears.
    const sha = 'c0ffee1234567890c0ffee1234567890c0ffee12';
    const pushed = await deliver(server.base, 'push', 'e2e-release-live-push', branchPush(sha));
    const id = pushed.run_ids[0];
    const link = page.locator(`a[href="/runs/${id}"]`).first();
    await link.waitFor({ timeout: 15_000 });
    await link.click();
    await page.waitForURL(`${server.base}/runs/${id}`);
    await page.locator('h1 .badge-running').waitFor({ timeout: 15_000 });
    // CI fails while the run page is open: the page says so by itself.
    const ci = structuredClone(examples('workflow_run').find((e) => e.workflow_run.status === 'completed'));
    ci.repository = branchPush(sha).repository;
    Object.assign(ci.workflow_run, { head_sha: sha, head_branch: 'master', status: 'completed', conclusion: 'failure' });
    ci.action = 'completed';
    assert.equal((await deliver(server.base, 'workflow_run', 'e2e-release-live-ci', ci)).outcome, 'ci_recorded');
    await page.locator('h1 .badge-failed').waitFor({ timeout: 20_000 });
    assert.equal(page.url(), `${server.base}/runs/${id}`, 'no navigation happened');
    assert.match(await page.locator('li.stage[data-stage="build"]').innerText(), /concluded failure/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
