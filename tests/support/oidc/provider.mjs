// OpenID Connect provider for Tenantry integration tests, built on the
// certified `oidc-provider` package. Loopback only, plain HTTP, in-memory state.
//
//   node provider.mjs --port P --client-id ID --client-secret SECRET \
//                     --redirect-uri URI [--redirect-uri URI2 ...]
//
// The issuer is http://127.0.0.1:P. Discovery is at
// /.well-known/openid-configuration. The process prints one line `ready` once
// it listens, and exits non-zero if the port cannot be bound.
//
// How a client drives a login (no browser, no forms): use one cookie jar and
// follow redirects.
//   1. GET /auth?client_id=ID&response_type=code&scope=openid%20email%20profile
//        &redirect_uri=URI&state=S&nonce=N&code_challenge=C
//        &code_challenge_method=S256&login_hint=EMAIL
//      -> 303 to /interaction/<uid> (a relative Location); sets `_interaction`
//         (path /interaction/<uid>) and `_interaction_resume` (path /auth/<uid>),
//         each with a `.sig` twin.
//   2. GET /interaction/<uid> (sends `_interaction`): this file logs in the
//      account named by login_hint and grants the requested scopes and claims
//      -> 303 to http://127.0.0.1:P/auth/<uid>.
//   3. GET /auth/<uid> (sends `_interaction_resume`)
//      -> 303 to URI?code=...&state=S&iss=http%3A%2F%2F127.0.0.1%3AP;
//         sets `_session` (path /), which keeps the login for later requests.
//   4. POST /token with HTTP Basic auth (ID:SECRET) and grant_type=
//      authorization_code, code, redirect_uri, code_verifier.
// A jar whose `_session` is already logged in as the hinted account (and has
// consented) goes from step 1 straight to URI?code=...; a jar logged in as
// another account is switched to the hinted one without a page. A request
// without login_hint ends at URI?error=login_required&state=S.
//
// Every e-mail exists. sub = first 32 hex chars of SHA-256(lowercased e-mail).
// The local part of the e-mail switches the ID token's behaviour:
//   unverified*  email_verified is false
//   wrongaud*    aud is "someone-else"
//   expired*     iat is two hours ago and exp one hour ago
//   badnonce*    nonce is not the one sent in the authorization request
// All tokens are issued and signed (RS256) by the provider with its own key.

import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
  },
});
for (const name of ['port', 'client-id', 'client-secret', 'redirect-uri']) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}

const port = Number(args.port);
const issuer = `http://127.0.0.1:${port}`;

const accountIdFor = (email) => createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 32);
const localPart = (email) => String(email).split('@')[0].toLowerCase();

// Accounts are kept in memory, keyed by sub, as login_hint names them.
const accounts = new Map();

function accountFor(email) {
  const accountId = accountIdFor(email);
  accounts.set(accountId, email);
  return accountId;
}

async function findAccount(ctx, sub) {
  const email = accounts.get(sub);
  if (!email) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email,
        email_verified: !localPart(email).startsWith('unverified'),
        name: `Test ${email.split('@')[0]}`,
      };
    },
  };
}

// The login prompt must also run when the session belongs to another account
// than the one named by login_hint.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check(
  'login_hint_mismatch',
  'login_hint names another account than the session',
  (ctx) => {
    const { login_hint: hint } = ctx.oidc.params;
    const current = ctx.oidc.session.accountId;
    return Boolean(hint && current && current !== accountIdFor(hint));
  },
));

// A fresh signing key per process, stable for its lifetime.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: args['client-id'],
    client_secret: args['client-secret'],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: args['redirect-uri'],
    id_token_signed_response_alg: 'RS256',
  }],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  jwks: { keys: [signingKey] },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Put the scope's claims in the ID token too, not only behind /me.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  responseTypes: ['code'],
  features: { devInteractions: { enabled: false } },
  interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['tenantry-test-oidc-cookie-key'] },
  findAccount,
});

// The switches that need the finished ID token: aud, exp and nonce.
const { IdToken } = provider;
const issue = IdToken.prototype.issue;
IdToken.prototype.issue = async function issueWithSwitches(options = {}) {
  const email = this.available.email;
  if (options.use !== 'idtoken' || !email) return issue.call(this, options);

  const local = localPart(email);
  if (local.startsWith('wrongaud')) {
    // aud is taken from client.clientId when the token is signed.
    const client = this.client;
    this.client = new Proxy(client, {
      get: (target, prop) => (prop === 'clientId' ? 'someone-else' : Reflect.get(target, prop)),
    });
  }
  if (local.startsWith('badnonce')) {
    this.set('nonce', `not-${this.extra.nonce ?? 'sent'}`);
  }
  if (local.startsWith('expired')) {
    const now = Math.floor(Date.now() / 1000);
    this.set('iat', now - 7200);
    return issue.call(this, { ...options, expiresAt: now - 3600 });
  }
  return issue.call(this, options);
};

// Auto-login: complete every interaction without a page.
async function interaction(req, res) {
  try {
    const details = await provider.interactionDetails(req, res);
    const { prompt, params } = details;
    const hint = params.login_hint;
    if (!hint) {
      await provider.interactionFinished(req, res, {
        error: 'login_required',
        error_description: 'this test provider needs login_hint=<email>',
      }, { mergeWithLastSubmission: false });
      return;
    }
    const accountId = accountFor(hint);

    // Logging in as another account: drop the old session first, otherwise
    // the provider would ask the user to confirm a logout on an HTML form.
    if (details.session?.accountId && details.session.accountId !== accountId) {
      const old = await provider.Session.findByUid(details.session.uid);
      if (old) await old.destroy();
      delete details.session;
      await details.save(details.exp - Math.floor(Date.now() / 1000));
    }

    const sameAccount = details.session?.accountId === accountId;
    const grant = (sameAccount && details.grantId && await provider.Grant.find(details.grantId))
      || new provider.Grant({ accountId, clientId: params.client_id });
    grant.addOIDCScope(params.scope);
    const requested = params.claims ? JSON.parse(params.claims) : {};
    grant.addOIDCClaims([
      ...Object.keys(requested.id_token ?? {}),
      ...Object.keys(requested.userinfo ?? {}),
      ...(prompt.details.missingOIDCClaims ?? []),
    ]);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();

    const result = { consent: { grantId } };
    if (prompt.name === 'login') result.login = { accountId };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (err) {
    res.statusCode = err.statusCode || 500;
    res.setHeader('Content-Type', 'text/plain');
    res.end(`${err.name}: ${err.error_description || err.message}\n`);
  }
}

const handler = provider.callback();
const server = createServer((req, res) => {
  if (req.method === 'GET' && /^\/interaction\/[^/?]+(\?|$)/.test(req.url)) {
    interaction(req, res);
  } else {
    handler(req, res);
  }
});

server.on('error', (err) => {
  console.error(`cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log('ready');
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
