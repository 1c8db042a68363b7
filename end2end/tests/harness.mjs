// Starts a real `shipgate` process on a fresh SQLite file and signs deliveries as GitHub does.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const SECRET = 'end2end-webhook-secret';
const require = createRequire(import.meta.url);

export function examples(event) {
  const all = JSON.parse(readFileSync(require.resolve('@octokit/webhooks-examples/api.github.com/index.json'), 'utf8'));
  return all.find((e) => e.name === event).examples;
}

export function branchPush(sha) {
  const push = structuredClone(examples('push').find((p) => p.ref === 'refs/heads/master' && !p.deleted));
  if (sha) {
    push.after = sha;
    push.head_commit.id = sha;
    push.head_commit.message = `Change ${sha.slice(0, 7)}\n\nPushed by the end2end test.`;
    push.head_commit.url = `https://github.com/Codertocat/Hello-World/commit/${sha}`;
  }
  return push;
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// The same pipeline the Rust tests use: GitHub's example pushes go to Codertocat/Hello-World@master.
const CONFIG = new URL('../../server/tests/fixtures/hello.toml', import.meta.url).pathname;

const PEERS = new URL('../../server/tests/peers/', import.meta.url).pathname;

// moto with simulated ECS rollouts (server/tests/peers/moto_ecs.py), on a free port.
export async function startMoto() {
  const child = spawn('python3', [join(PEERS, 'moto_ecs.py'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const m = seen.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`moto exited (${code}) before listening: ${seen}`)));
  });
  return {
    url,
    // What a Shipgate process needs to reach this moto through the AWS SDK's standard chain.
    env: { AWS_ENDPOINT_URL: url, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' },
    // Creates what the `hello` pipeline points at and pushes `tags`; returns their digests.
    async seed(...tags) {
      const out = await new Promise((resolve, reject) => {
        const seeder = spawn('python3', [join(PEERS, 'seed_hello.py'), url, ...tags], { stdio: ['ignore', 'pipe', 'inherit'] });
        let text = '';
        seeder.stdout.on('data', (c) => { text += c; });
        seeder.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`seed_hello.py exited ${code}`))));
      });
      return JSON.parse(out).digests;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

// The local OpenID provider (end2end/peers/oidc.mjs) with one client whose redirect URI is
// `redirectUri`; `users` replaces the default test users.
export const OIDC_CLIENT = { id: 'shipgate', secret: 'end2end-oidc-client-secret' };
export async function startOidc(redirectUri, users) {
  const args = [new URL('../peers/oidc.mjs', import.meta.url).pathname, '--port', '0', '--client-id', OIDC_CLIENT.id,
    '--client-secret', OIDC_CLIENT.secret, '--redirect-uri', redirectUri];
  if (users) {
    const file = join(mkdtempSync(join(tmpdir(), 'shipgate-oidc-')), 'users.json');
    writeFileSync(file, JSON.stringify(users));
    args.push('--users', file);
  }
  const child = spawn('node', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const issuer = await new Promise((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const m = seen.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`oidc peer exited (${code}) before listening: ${seen}`)));
  });
  return {
    issuer,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

// `env` adds to the process environment, e.g. AWS_ENDPOINT_URL for moto. `options.port` picks
// the port (to register a redirect URI first); `options.toml` is appended to the config file.
export async function startShipgate(env = {}, options = {}) {
  const bin = process.env.SHIPGATE_BIN;
  if (!bin) throw new Error('SHIPGATE_BIN must point at the built shipgate binary (scripts/test.sh sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'shipgate-e2e-'));
  const port = options.port ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  let config = CONFIG;
  if (options.toml) {
    config = join(dir, 'shipgate.toml');
    writeFileSync(config, `${options.toml}\n${readFileSync(CONFIG, 'utf8')}`);
  }
  const child = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--database-url', `sqlite:${join(dir, 'e2e.db')}`, '--config', config], {
    env: { ...process.env, GITHUB_WEBHOOK_SECRET: SECRET, SHIPGATE_LOG: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`shipgate did not become ready on ${base}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export async function deliver(base, event, id, payload) {
  const body = JSON.stringify(payload);
  const signature = 'sha256=' + createHmac('sha256', SECRET).update(body).digest('hex');
  const res = await fetch(`${base}/webhooks/github`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': id, 'x-hub-signature-256': signature },
    body,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`delivery ${id}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// Chromium's words when a page breaks its content security policy (a blocked script, style,
// frame or connection).
const CSP_VIOLATION = /Content Security Policy/i;

// Debian's Chromium, headless, as every browser test drives it. Every page of every context
// is watched for content security policy violations: a context's close, and the browser's,
// fail the test that caused one. `browser.cspViolations` lists them.
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const violations = [];
  browser.cspViolations = violations;
  const assertNone = () => assert.deepEqual(violations.splice(0), [], 'a page broke the content security policy');
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => {
    const context = await newContext(...args);
    context.on('page', (page) => page.on('console', (msg) => {
      if (CSP_VIOLATION.test(msg.text())) violations.push(`${page.url()}: ${msg.text()}`);
    }));
    const closeContext = context.close.bind(context);
    context.close = async (...closeArgs) => {
      await closeContext(...closeArgs);
      assertNone();
    };
    return context;
  };
  const close = browser.close.bind(browser);
  browser.close = async () => {
    await close();
    assertNone();
  };
  return browser;
}

// A run's status, through the REST API (local mode needs no token).
export async function runStatus(base, id) {
  const res = await fetch(`${base}/api/v1/runs/${id}`);
  assert.equal(res.status, 200);
  return (await res.json()).status;
}

// Polls `check` every 200 ms until it returns something truthy, which it returns.
export async function until(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const SCRIPTS = new URL('../../scripts/', import.meta.url).pathname;

// The demo as `scripts/run.sh` starts it after its build: scripts/demo-serve.sh (the AWS
// stand-in, seeded, and Shipgate pointed at it), with SHIPGATE_BIN's binary, on a free port
// and its own state directory. `output()` is what the script has printed so far;
// `push(env)` runs scripts/demo-push.sh against it and resolves to its output.
export async function startDemo(env = {}) {
  if (!process.env.SHIPGATE_BIN) throw new Error('SHIPGATE_BIN must point at the built shipgate binary (scripts/test.sh sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'shipgate-demo-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const demoEnv = { ...process.env, SHIPGATE_LISTEN: `127.0.0.1:${port}`, SHIPGATE_DEMO_DIR: dir, ...env };
  // Its own process group, so that nothing it started can outlive the test.
  const child = spawn(join(SCRIPTS, 'demo-serve.sh'), [], { env: demoEnv, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  let printed = '';
  child.stdout.on('data', (chunk) => { printed += chunk; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = null;
  exited.then((how) => { gone = how; });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gone) throw new Error(`demo-serve.sh exited (${JSON.stringify(gone)}) before Shipgate was ready:\n${printed}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`the demo did not become ready on ${base}:\n${printed}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const awsUrl = readFileSync(join(dir, 'aws-url'), 'utf8').trim();
  return {
    base,
    dir,
    awsUrl,
    output: () => printed,
    push(pushEnv = {}) {
      return new Promise((resolve, reject) => {
        const pusher = spawn(join(SCRIPTS, 'demo-push.sh'), [], { env: { ...demoEnv, ...pushEnv }, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        pusher.stdout.on('data', (c) => { out += c; });
        pusher.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`demo-push.sh exited ${code}:\n${out}`))));
      });
    },
    // SIGTERM to the script, as Ctrl-C or a service manager would stop it; resolves to how
    // it exited. Whatever is left of its group after 15 s is killed, and that is reported.
    async stop() {
      if (gone) return { ...gone, leftovers: false };
      child.kill('SIGTERM');
      const timer = new Promise((r) => setTimeout(() => r(null), 15_000));
      const how = await Promise.race([exited, timer]);
      let leftovers = false;
      try {
        process.kill(-child.pid, 0);
        leftovers = true;
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
      return { ...(how ?? { code: null, signal: 'timeout' }), leftovers };
    },
  };
}
