// Test-only OpenID Connect provider for the portal's end-to-end sign-in tests.
//
// Usage: node server.mjs CONFIG_JSON_PATH [--exit-with-stdin]
//
// The config file looks like:
//   {
//     "port": 12345,
//     "issuer": "http://127.0.0.1:12345",
//     "clients": [{"client_id": "...", "client_secret": "...",
//                  "redirect_uris": ["http://127.0.0.1:5000/sso/acme/callback"],
//                  "post_logout_redirect_uris": ["http://127.0.0.1:5000/"]}],
//     "accounts": {"alice": {"password": "pw",
//                            "claims": {"sub": "alice-sub", "email": "alice@acme.test",
//                                       "email_verified": true, "name": "Alice",
//                                       "groups": ["portal-admins"]}}},
//     "check_passwords": false
//   }
//
// Extra test-only endpoints on the same port:
//   GET  /__test/health    -> 200 {"ok": true}
//   GET  /__test/accounts  -> 200 current accounts
//   POST /__test/accounts  JSON {"alice": {...}, "bob": null} merges accounts by
//                          login name (null removes a login); add
//                          ?replace=1 to replace the whole set instead.
//
// Prints "READY <issuer>" on stdout once listening (127.0.0.1 only).
// NEVER use this outside tests: it signs in anyone who knows a login name.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const configPath = args.find((arg) => !arg.startsWith('--'));
if (!configPath) {
  process.stderr.write('usage: node server.mjs CONFIG_JSON_PATH [--exit-with-stdin]\n');
  process.exit(2);
}

const config = JSON.parse(readFileSync(configPath, 'utf8'));
const port = Number(config.port);
const issuer = config.issuer || `http://127.0.0.1:${port}`;
const checkPasswords = Boolean(config.check_passwords);

/** login name -> {password, claims}; mutable at runtime via POST /__test/accounts. */
let accounts = normalizeAccounts(config.accounts || {});

function normalizeAccounts(raw) {
  const out = {};
  for (const [login, entry] of Object.entries(raw)) {
    if (entry === null) continue;
    const claims = { ...(entry.claims || {}) };
    if (!claims.sub) claims.sub = login;
    out[login] = { password: entry.password, claims };
  }
  return out;
}

function accountBySub(sub) {
  return Object.values(accounts).find((account) => account.claims.sub === sub);
}

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: crypto.randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

const clients = (config.clients || []).map((client) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
  ...client,
}));

const page = (title, body) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
    // The portal shares the cookie jar (cookies ignore ports): avoid clashes.
    names: { session: 'idp_session', interaction: 'idp_interaction', resume: 'idp_resume' },
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  pkce: { required: () => true },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // Auto-"yes" form: signs the whole OP session out when submitted.
      async logoutSource(ctx, form) {
        const withYes = form.replace(
          '</form>',
          '<button type="submit" name="logout" value="yes">Yes, sign me out</button></form>',
        );
        ctx.body = page('Sign out', withYes);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>Your sign-out was successful.</p>');
      },
    },
  },
  async findAccount(ctx, sub) {
    const account = accountBySub(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      // Read the live entry on every call, so POST /__test/accounts takes
      // effect for the next token/userinfo response.
      async claims() {
        const current = accountBySub(sub);
        return { ...(current ? current.claims : account.claims), sub };
      },
    };
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<pre id="error">${escapeHtml(JSON.stringify(out, null, 2))}</pre>`);
  },
});

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// Test-only admin endpoints (mounted before the provider's own routes).
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/__test/')) {
    await next();
    return;
  }
  if (ctx.path === '/__test/health' && ctx.method === 'GET') {
    ctx.body = { ok: true, issuer };
    return;
  }
  if (ctx.path === '/__test/accounts' && ctx.method === 'GET') {
    ctx.body = accounts;
    return;
  }
  if (ctx.path === '/__test/accounts' && ctx.method === 'POST') {
    let update;
    try {
      update = JSON.parse(await readBody(ctx.req));
    } catch {
      ctx.throw(400, 'body must be JSON');
    }
    if (update === null || typeof update !== 'object' || Array.isArray(update)) {
      ctx.throw(400, 'body must be a JSON object of login -> account');
    }
    if (ctx.query.replace) {
      accounts = normalizeAccounts(update);
    } else {
      const merged = { ...accounts };
      for (const [login, entry] of Object.entries(update)) {
        if (entry === null) delete merged[login];
        else merged[login] = entry;
      }
      accounts = normalizeAccounts(merged);
    }
    ctx.body = accounts;
    return;
  }
  ctx.throw(404, 'unknown test endpoint');
});

// Replace the devInteractions login submission: only known logins (and, with
// check_passwords, the right password) are accepted; the session's accountId
// is the account's `sub` claim.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match || ctx.method !== 'POST') {
    await next();
    return;
  }
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch {
    await next(); // let the provider render its own error
    return;
  }
  if (details.prompt.name !== 'login' || details.uid !== match[1]) {
    await next();
    return;
  }
  const form = new URLSearchParams(await readBody(ctx.req));
  const login = form.get('login') || '';
  const account = accounts[login];
  const passwordOk = account
    && (!checkPasswords || account.password === undefined || account.password === form.get('password'));
  if (!passwordOk) {
    ctx.status = 401;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = page('Sign-in', `<p id="login-error">Invalid login or password.</p>
<form autocomplete="off" action="${escapeHtml(ctx.path)}" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" value="${escapeHtml(login)}">
  <input required type="password" name="password">
  <button type="submit">Sign-in</button>
</form>`);
    return;
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId: account.claims.sub },
  }, { mergeWithLastSubmission: false });
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 303;
  ctx.redirect(returnTo);
});

const server = http.createServer(provider.callback());

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (args.includes('--exit-with-stdin')) {
  // The parent (pytest) holds our stdin open; exit when it goes away.
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
}

// Static clients are validated lazily by oidc-provider; fail fast instead.
for (const { client_id: clientId } of clients) {
  // eslint-disable-next-line no-await-in-loop
  await provider.Client.find(clientId);
}

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
