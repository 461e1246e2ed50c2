#!/usr/bin/env bash
# Smoke test for provider.mjs: drives the whole code flow with curl and a
# cookie jar, for a normal account and for each behaviour switch.
set -euo pipefail

cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund

CLIENT_ID=tenantry
CLIENT_SECRET=s3cret
REDIRECT_URI=http://127.0.0.1:9/cb
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
ISSUER="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
FAILURES=0

node provider.mjs --port "$PORT" --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" \
  --redirect-uri "$REDIRECT_URI" >"$WORK/provider.out" 2>"$WORK/provider.err" &
PROVIDER_PID=$!
cleanup() { kill "$PROVIDER_PID" 2>/dev/null || true; wait "$PROVIDER_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

for _ in $(seq 100); do
  grep -qx ready "$WORK/provider.out" && break
  kill -0 "$PROVIDER_PID" 2>/dev/null || { cat "$WORK/provider.err"; exit 1; }
  sleep 0.1
done
grep -qx ready "$WORK/provider.out" || { echo "provider did not get ready"; exit 1; }
echo "provider ready on $ISSUER (pid $PROVIDER_PID)"

# Second instance on the same port must fail.
if node provider.mjs --port "$PORT" --client-id x --client-secret y --redirect-uri "$REDIRECT_URI" 2>"$WORK/dup.err"; then
  echo "FAIL: second provider on the same port did not exit non-zero"; FAILURES=$((FAILURES + 1))
else
  echo "second provider on the same port exits $? : $(cat "$WORK/dup.err")"
fi

check() { # description, node expression over `p` (payload) and `now`
  if node -e "const p=JSON.parse(process.argv[1]); const now=Math.floor(Date.now()/1000); process.exit(($2) ? 0 : 1)" "$PAYLOAD"; then
    echo "  ok: $1"
  else
    echo "  FAIL: $1"; FAILURES=$((FAILURES + 1))
  fi
}

echo "== discovery"
DISCOVERY=$(curl -fsS "$ISSUER/.well-known/openid-configuration")
echo "$DISCOVERY" | node -e '
  const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const k of ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
    "code_challenge_methods_supported", "id_token_signing_alg_values_supported", "scopes_supported",
    "claims_supported", "token_endpoint_auth_methods_supported", "authorization_response_iss_parameter_supported"])
    console.log(`  ${k}: ${JSON.stringify(d[k])}`);'
json_get() { node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]])' "$1" "$2"; }
AUTH_EP=$(json_get "$DISCOVERY" authorization_endpoint)
TOKEN_EP=$(json_get "$DISCOVERY" token_endpoint)
JWKS_URI=$(json_get "$DISCOVERY" jwks_uri)
JWKS=$(curl -fsS "$JWKS_URI")
echo "  jwks: $(echo "$JWKS" | node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(j.keys.map(k=>`${k.kty} ${k.alg} use=${k.use} kid=${k.kid}`).join(", "))')"

VERIFIER=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')
NONCE=N

urlencode() { node -e 'console.log(encodeURIComponent(process.argv[1]))' "$1"; }

# login EMAIL [JAR]: runs the authorization request and follows redirects by hand
# until the redirect URI is reached; sets CODE and LOCATION.
login() {
  local email=$1 jar=${2:-$WORK/jar-$1} url location steps=0
  url="$AUTH_EP?client_id=$CLIENT_ID&response_type=code&scope=openid%20email%20profile&redirect_uri=$(urlencode "$REDIRECT_URI")&state=S&nonce=$NONCE&code_challenge=$CHALLENGE&code_challenge_method=S256&login_hint=$(urlencode "$email")"
  while :; do
    location=$(curl -sS -o /dev/null -b "$jar" -c "$jar" -w '%{redirect_url}' "$url")
    steps=$((steps + 1))
    echo "  step $steps: GET ${url%%\?*} -> ${location}"
    [ -n "$location" ] || { echo "  FAIL: no redirect"; return 1; }
    case "$location" in "$REDIRECT_URI"*) break ;; esac
    [ $steps -lt 10 ] || { echo "  FAIL: too many redirects"; return 1; }
    url=$location
  done
  LOCATION=$location
  CODE=$(node -e 'console.log(new URL(process.argv[1]).searchParams.get("code") ?? "")' "$location")
}

# token: exchanges CODE; sets PAYLOAD to the decoded ID token payload.
token() {
  local response
  response=$(curl -sS -u "$CLIENT_ID:$CLIENT_SECRET" "$TOKEN_EP" \
    -d grant_type=authorization_code --data-urlencode "code=$CODE" \
    --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode "code_verifier=$VERIFIER")
  ID_TOKEN=$(json_get "$response" id_token)
  echo "  id_token header: $(echo "$ID_TOKEN" | cut -d. -f1 | node -e 'console.log(Buffer.from(require("fs").readFileSync(0,"utf8").trim(),"base64url").toString())')"
  PAYLOAD=$(echo "$ID_TOKEN" | cut -d. -f2 | node -e 'console.log(Buffer.from(require("fs").readFileSync(0,"utf8").trim(),"base64url").toString())')
  echo "  id_token payload: $PAYLOAD"
  # The signature must verify against the published JWKS.
  if node --input-type=module -e '
      import { createPublicKey, verify } from "node:crypto";
      const [jwt, jwks] = process.argv.slice(1);
      const [h, p, s] = jwt.split(".");
      const { kid } = JSON.parse(Buffer.from(h, "base64url"));
      const jwk = JSON.parse(jwks).keys.find((k) => k.kid === kid);
      const ok = verify("sha256", Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: "jwk" }), Buffer.from(s, "base64url"));
      process.exit(ok ? 0 : 1);' "$ID_TOKEN" "$JWKS"; then
    echo "  ok: RS256 signature verifies with the key at jwks_uri"
  else
    echo "  FAIL: signature does not verify"; FAILURES=$((FAILURES + 1))
  fi
}

run() { # email
  echo "== $1"
  login "$1"
  token
  check "iss is the issuer" "p.iss === '$ISSUER'"
  check "email is $1" "p.email === '$1'"
}

run ann@example.com
check "redirect carries state=S and iss" "new URL('$LOCATION').searchParams.get('state') === 'S' && new URL('$LOCATION').searchParams.get('iss') === '$ISSUER'"
check "aud is $CLIENT_ID" "p.aud === '$CLIENT_ID'"
check "email_verified is true" "p.email_verified === true"
check "nonce is $NONCE" "p.nonce === '$NONCE'"
check "exp is in the future" "p.exp > now"
check "name is 'Test ann'" "p.name === 'Test ann'"
ANN_SUB=$(json_get "$PAYLOAD" sub)

run unverified@example.com
check "email_verified is false" "p.email_verified === false"
check "aud is $CLIENT_ID" "p.aud === '$CLIENT_ID'"

run wrongaud@example.com
check "aud is someone-else" "p.aud === 'someone-else'"

run expired@example.com
check "exp is in the past" "p.exp < now"
check "aud is $CLIENT_ID" "p.aud === '$CLIENT_ID'"

run badnonce@example.com
check "nonce differs from $NONCE" "typeof p.nonce === 'string' && p.nonce !== '$NONCE'"

echo "== ann again with a fresh jar: same sub"
login ann@example.com "$WORK/jar-ann-2"
token
check "sub is stable ($ANN_SUB)" "p.sub === '$ANN_SUB'"

echo "== bob in ann's jar (already logged in as ann): switches account"
login bob@example.com "$WORK/jar-ann@example.com"
token
check "email is bob@example.com" "p.email === 'bob@example.com'"

echo "== ann again in her own jar (session reused, consent remembered)"
login ann@example.com "$WORK/jar-ann-2"
token
check "email is ann@example.com" "p.email === 'ann@example.com'"

echo "== authorization request without PKCE is refused"
NOPKCE=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' \
  "$AUTH_EP?client_id=$CLIENT_ID&response_type=code&scope=openid&redirect_uri=$(urlencode "$REDIRECT_URI")&state=S&nonce=N&login_hint=ann%40example.com")
echo "  -> $NOPKCE"
PAYLOAD="\"$NOPKCE\"" check "redirected back with error=invalid_request" "p.includes('error=invalid_request') && p.includes('PKCE')"

echo "== token request with a wrong code_verifier is refused"
login ann@example.com "$WORK/jar-ann-3"
BAD=$(curl -sS -u "$CLIENT_ID:$CLIENT_SECRET" "$TOKEN_EP" -d grant_type=authorization_code \
  --data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$REDIRECT_URI" \
  --data-urlencode "code_verifier=${VERIFIER}x")
echo "  -> $BAD"
PAYLOAD=$BAD check "error is invalid_grant" "p.error === 'invalid_grant'"

echo "== authorization request without login_hint"
login "" "$WORK/jar-nohint" || true
echo "  -> $LOCATION"
PAYLOAD="\"$LOCATION\"" check "redirected back with error=login_required" "p.includes('error=login_required')"

echo
if [ "$FAILURES" -eq 0 ]; then echo "smoke: all checks passed"; else echo "smoke: $FAILURES check(s) failed"; exit 1; fi
