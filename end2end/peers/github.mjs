// A local fake of GitHub's REST API, as far as Shipgate uses it: commit comparisons and
// deployments with their statuses, answering in the shapes GitHub documents
// (docs.github.com/rest/commits/commits#compare-two-commits, docs.github.com/rest/deployments).
// Shipgate reaches it through its real octocrab client when started with
// SHIPGATE_GITHUB_API_URL=<url> and SHIPGATE_GITHUB_TOKEN=<token>.
//
// In-process (a test imports it and reads what it received):
//   const github = await startGitHub({ repositories: ['Codertocat/Hello-World'], token: 't' });
//   github.commit('Codertocat/Hello-World', { sha, message, login });   // the branch grows by one commit
//   github.url          base URL, e.g. http://127.0.0.1:41234 (no trailing slash)
//   github.received     every request: { method, path, query, authorization, body }, oldest first
//   github.deployments  every deployment created, oldest first (as GitHub answered it)
//   github.statuses()   [{ deployment, environment, sha, state, description, log_url }] oldest first
//   await github.stop()
//
// Routes (anything else: 404 {"message": "Not Found"}; a repository not listed: 404):
//   GET  /user/repos[?page=&per_page=]           the repositories given to startGitHub, in order
//   GET  /repos/{o}/{r}/compare/{base}...{head}   the commits after base up to head, oldest
//        first, from the history built with commit(); 404 "No commit found for SHA: x" when
//        either end is unknown (as GitHub does).
//   POST /repos/{o}/{r}/deployments               201 with the deployment; 422 without a `ref`
//   GET  /repos/{o}/{r}/deployments[?sha=&ref=&environment=&task=]   newest first
//   POST /repos/{o}/{r}/deployments/{id}/statuses 201 with the status; 422 for an unknown state
//   GET  /repos/{o}/{r}/deployments/{id}/statuses newest first
// With `token` set, every request must carry `Authorization: Bearer <token>` (or `token <token>`),
// else 401 {"message": "Bad credentials"}.

import { createServer } from 'node:http';

const API = 'https://api.github.com';
const WEB = 'https://github.com';
const STATES = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];

function bot() {
  return {
    login: 'shipgate-bot', id: 1, node_id: 'MDQ6VXNlcjE=', type: 'User', site_admin: false,
    avatar_url: 'https://github.com/images/error/octocat_happy.gif', url: `${API}/users/shipgate-bot`,
    html_url: `${WEB}/shipgate-bot`,
  };
}

function person(login, id) {
  return {
    login, id, node_id: `MDQ6VXNlcj${id}`, type: 'User', site_admin: false,
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`, url: `${API}/users/${login}`, html_url: `${WEB}/${login}`,
  };
}

export async function startGitHub({ repositories = [], token } = {}) {
  const histories = new Map(repositories.map((r) => [r.toLowerCase(), []]));
  const received = [];
  const deployments = [];
  const statuses = []; // { id, deploymentId, body, created }
  let clock = Date.parse('2026-11-27T10:00:00Z');
  const stamp = () => new Date((clock += 1000)).toISOString().replace(/\.\d+Z$/, 'Z');

  function send(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-media-type': 'github.v3; format=json' });
    res.end(text);
  }
  const notFound = (res, message = 'Not Found') => send(res, 404, { message, documentation_url: 'https://docs.github.com/rest' });
  const invalid = (res, field, code) => send(res, 422, {
    message: 'Validation Failed', errors: [{ resource: 'Deployment', field, code }], documentation_url: 'https://docs.github.com/rest',
  });

  function commitJson(full, c) {
    const login = c.login;
    const author = { name: c.name ?? login, email: c.email ?? `${login}@example.com`, date: c.date };
    return {
      sha: c.sha, node_id: 'C_kwDOA' + c.sha.slice(0, 8),
      url: `${API}/repos/${full}/commits/${c.sha}`, html_url: `${WEB}/${full}/commit/${c.sha}`,
      comments_url: `${API}/repos/${full}/commits/${c.sha}/comments`,
      commit: {
        url: `${API}/repos/${full}/git/commits/${c.sha}`, author, committer: author, message: c.message,
        tree: { sha: c.sha, url: `${API}/repos/${full}/git/trees/${c.sha}` }, comment_count: 0,
        verification: { verified: false, reason: 'unsigned', signature: null, payload: null },
      },
      author: person(login, c.userId), committer: person(login, c.userId),
      parents: c.parent ? [{ sha: c.parent, url: `${API}/repos/${full}/commits/${c.parent}`, html_url: `${WEB}/${full}/commit/${c.parent}` }] : [],
    };
  }

  function compare(res, full, history, basehead) {
    const m = basehead.match(/^([^.]+)\.\.\.([^.]+)$/);
    if (!m) return notFound(res);
    const [, base, head] = m;
    const at = (sha) => history.findIndex((c) => c.sha === sha);
    for (const sha of [base, head]) {
      if (at(sha) < 0) return notFound(res, `No commit found for SHA: ${sha}`);
    }
    const [b, h] = [at(base), at(head)];
    const listed = b < h ? history.slice(b + 1, h + 1) : [];
    const status = b === h ? 'identical' : b < h ? 'ahead' : 'behind';
    const commits = listed.map((c) => commitJson(full, c));
    send(res, 200, {
      url: `${API}/repos/${full}/compare/${basehead}`,
      html_url: `${WEB}/${full}/compare/${basehead}`,
      permalink_url: `${WEB}/${full}/compare/${full.split('/')[0]}:${base.slice(0, 7)}...${full.split('/')[0]}:${head.slice(0, 7)}`,
      diff_url: `${WEB}/${full}/compare/${basehead}.diff`,
      patch_url: `${WEB}/${full}/compare/${basehead}.patch`,
      base_commit: commitJson(full, history[b]),
      merge_base_commit: commitJson(full, history[Math.min(b, h)]),
      status,
      ahead_by: Math.max(h - b, 0),
      behind_by: Math.max(b - h, 0),
      total_commits: commits.length,
      commits,
      files: [],
    });
  }

  function createDeployment(res, full, body) {
    if (typeof body?.ref !== 'string' || body.ref === '') return invalid(res, 'ref', 'missing_field');
    const id = 1000 + deployments.length;
    const environment = body.environment ?? 'production';
    const now = stamp();
    const deployment = {
      url: `${API}/repos/${full}/deployments/${id}`, id, node_id: `DE_kwDO${id}`,
      sha: body.ref, ref: body.ref, task: body.task ?? 'deploy', payload: body.payload ?? {},
      original_environment: environment, environment, description: body.description ?? null,
      creator: bot(), created_at: now, updated_at: now,
      statuses_url: `${API}/repos/${full}/deployments/${id}/statuses`,
      repository_url: `${API}/repos/${full}`,
      transient_environment: body.transient_environment ?? false,
      production_environment: body.production_environment ?? environment === 'production',
    };
    deployments.push(deployment);
    send(res, 201, deployment);
  }

  function createStatus(res, full, id, body) {
    const deployment = deployments.find((d) => d.id === id && d.repository_url.endsWith(`/repos/${full}`));
    if (!deployment) return notFound(res);
    if (!STATES.includes(body?.state)) return invalid(res, 'state', 'invalid');
    const now = stamp();
    const status = {
      url: `${API}/repos/${full}/deployments/${id}/statuses/${statuses.length + 1}`, id: statuses.length + 1,
      node_id: `DES_kwDO${statuses.length + 1}`, state: body.state, creator: bot(), description: body.description ?? '',
      environment: body.environment ?? deployment.environment, target_url: body.log_url ?? body.target_url ?? '',
      log_url: body.log_url ?? body.target_url ?? '', environment_url: body.environment_url ?? '',
      created_at: now, updated_at: now,
      deployment_url: deployment.url, repository_url: deployment.repository_url,
    };
    statuses.push({ deploymentId: id, status, body });
    send(res, 201, status);
  }

  // GET /user/repos: one page (`page` from 1, `per_page` default 30, at most 100) of the
  // repositories given to startGitHub, in that order, as repository objects.
  function listRepositories(res, q) {
    const size = Math.min(Number(q.get('per_page') ?? 30), 100);
    const page = Math.max(Number(q.get('page') ?? 1), 1);
    const listed = repositories.slice((page - 1) * size, page * size).map((full, i) => {
      const [login, name] = full.split('/');
      return {
        id: 5000 + i, node_id: `R_kgDO${i}`, name, full_name: full, private: false,
        owner: { ...person(login, 900 + i), type: 'Organization' },
        html_url: `${WEB}/${full}`, url: `${API}/repos/${full}`, fork: false, visibility: 'public',
        default_branch: 'main', pushed_at: stamp(), permissions: { admin: false, push: true, pull: true },
      };
    });
    send(res, 200, listed);
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    let text = '';
    for await (const chunk of req) text += chunk;
    let body = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return send(res, 400, { message: 'Problems parsing JSON' });
      }
    }
    const authorization = req.headers.authorization ?? null;
    received.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), authorization, body });
    if (token && authorization !== `Bearer ${token}` && authorization !== `token ${token}`) {
      return send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    }
    if (req.method === 'GET' && url.pathname === '/user/repos') return listRepositories(res, url.searchParams);
    const m = url.pathname.match(/^\/repos\/([^/]+)\/([^/]+)(\/.*)$/);
    if (!m) return notFound(res);
    const full = `${m[1]}/${m[2]}`;
    const history = histories.get(full.toLowerCase());
    if (!history) return notFound(res);
    const rest = m[3];
    let r;
    if (req.method === 'GET' && (r = rest.match(/^\/compare\/(.+)$/))) return compare(res, full, history, decodeURIComponent(r[1]));
    if (rest === '/deployments' && req.method === 'POST') return createDeployment(res, full, body);
    if (rest === '/deployments' && req.method === 'GET') {
      const q = url.searchParams;
      const listed = deployments
        .filter((d) => d.repository_url.endsWith(`/repos/${full}`))
        .filter((d) => (!q.get('sha') || d.sha === q.get('sha')) && (!q.get('ref') || d.ref === q.get('ref'))
          && (!q.get('environment') || d.environment === q.get('environment')) && (!q.get('task') || d.task === q.get('task')))
        .reverse();
      return send(res, 200, listed);
    }
    if ((r = rest.match(/^\/deployments\/(\d+)\/statuses$/))) {
      const id = Number(r[1]);
      if (req.method === 'POST') return createStatus(res, full, id, body);
      if (req.method === 'GET') {
        if (!deployments.some((d) => d.id === id)) return notFound(res);
        return send(res, 200, statuses.filter((s) => s.deploymentId === id).map((s) => s.status).reverse());
      }
    }
    return notFound(res);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => send(res, 500, { message: `fake GitHub failed: ${e.message}` }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  let userIds = 100;
  const ids = new Map();

  return {
    url: `http://127.0.0.1:${port}`,
    received,
    deployments,
    // Adds a commit on top of the repository's branch.
    commit(repository, { sha, message, login, name, email }) {
      const history = histories.get(repository.toLowerCase());
      if (!history) throw new Error(`the fake does not hold ${repository}`);
      if (!ids.has(login)) ids.set(login, (userIds += 1));
      history.push({ sha, message, login, name, email, userId: ids.get(login), date: stamp(), parent: history.at(-1)?.sha });
    },
    statuses() {
      return statuses.map(({ deploymentId, status }) => {
        const d = deployments.find((x) => x.id === deploymentId);
        return { deployment: deploymentId, environment: d.environment, sha: d.sha, run: d.payload?.shipgate_run, state: status.state, description: status.description, log_url: status.log_url };
      });
    },
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
