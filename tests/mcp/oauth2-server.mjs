// The OAuth2 tests' servers on 127.0.0.1: oauth2-mock-server as the token endpoint (TOKEN_PORT,
// path /token) and a small API that accepts only the access tokens it issued, until they
// expire (API_PORT). EXPIRES_IN sets the tokens' lifetime in seconds; ROTATE=1 makes every
// refresh_token grant answer with a new refresh token. The test drives and inspects it:
//   GET  /api/whoami       200 with a valid bearer token, 401 otherwise
//   POST /admin/revoke     every token issued so far is refused from now on
//   POST /admin/fail       the next token request gets this answer: {"status", "body"}
//   GET  /admin/stats      {"grants": [...each token request...], "unauthorized": n}
// It exits when its stdin closes, so it dies with the test.
import http from 'node:http';
import { OAuth2Server, Events } from 'oauth2-mock-server';

const expiresIn = Number(process.env.EXPIRES_IN || 3600);
const rotate = process.env.ROTATE === '1';
const grants = [];
const valid = new Map();
const failures = [];
let unauthorized = 0;
let rotations = 0;

const oauth = new OAuth2Server();
await oauth.issuer.keys.generate('RS256');
oauth.service.on(Events.BeforeResponse, (response, req) => {
  const body = req.body || {};
  const auth = req.headers.authorization || '';
  grants.push({
    grant_type: body.grant_type ?? null,
    scope: body.scope ?? null,
    audience: body.audience ?? null,
    refresh_token: body.refresh_token ?? null,
    client_id: body.client_id ?? null,
    client_secret: body.client_secret ?? null,
    basic: auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : null,
  });
  const failure = failures.shift();
  if (failure) {
    response.statusCode = failure.status;
    response.body = failure.body;
    return;
  }
  if (response.statusCode !== 200) return;
  response.body.expires_in = expiresIn;
  if (body.grant_type === 'refresh_token') {
    response.body.refresh_token = rotate ? `rotated-${++rotations}` : body.refresh_token;
  } else {
    delete response.body.refresh_token;
  }
  valid.set(response.body.access_token, Date.now() + expiresIn * 1000);
});
await oauth.start(Number(process.env.TOKEN_PORT), '127.0.0.1');

const json = (res, status, value) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};
const api = http.createServer((req, res) => {
  let text = '';
  req.on('data', (chunk) => { text += chunk; });
  req.on('end', () => {
    if (req.url === '/api/whoami') {
      const token = (req.headers.authorization || '').replace(/^Bearer /, '');
      const until = valid.get(token);
      if (until !== undefined && Date.now() < until) return json(res, 200, { ok: true });
      unauthorized += 1;
      res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
      return json(res, 401, { error: 'invalid_token' });
    }
    if (req.url === '/admin/revoke') {
      valid.clear();
      return json(res, 200, {});
    }
    if (req.url === '/admin/fail') {
      failures.push(JSON.parse(text));
      return json(res, 200, {});
    }
    if (req.url === '/admin/stats') return json(res, 200, { grants, unauthorized });
    json(res, 404, {});
  });
});
api.listen(Number(process.env.API_PORT), '127.0.0.1');

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
