#!/usr/bin/env bash
# Smoke test of the device-enrollment flow against a running server:
#   scripts/smoke.sh http://127.0.0.1:8787
# Needs curl, jq and node (for the Ed25519 login signature). The connect-token provision step
# needs the server's GATEWAY_* vars pointing at a gateway (scripts/gateway-stub.mjs locally).
# Prints PASS/FAIL per step; exits non-zero on the first failure.
set -uo pipefail

BASE="${1:-}"
if [[ -z "$BASE" ]]; then
  echo "usage: $0 <base-url>" >&2
  exit 2
fi
BASE="${BASE%/}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; exit 1; }

# call METHOD PATH [BODY] [TOKEN] → sets STATUS and BODY
call() {
  local method="$1" path="$2" body="${3:-}" token="${4:-}"
  local args=(-sS -o "$TMP/body" -w '%{http_code}' -X "$method" "$BASE$path")
  [[ -n "$token" ]] && args+=(-H "Authorization: Bearer $token")
  [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data "$body")
  STATUS="$(curl "${args[@]}" 2>"$TMP/err")" || STATUS="000"
  BODY="$(cat "$TMP/body" 2>/dev/null)"
  [[ "$STATUS" == "000" ]] && BODY="$(cat "$TMP/err")"
  return 0
}

# expect STEP STATUS JQ-CONDITION: the step passes when the status matches and the condition holds.
expect() {
  local step="$1" want="$2" cond="$3"
  [[ "$STATUS" == "$want" ]] || fail "$step" "HTTP $STATUS (want $want): $BODY"
  jq -e "$cond" >/dev/null 2>&1 <<<"$BODY" || fail "$step" "unexpected body: $BODY"
  pass "$step"
}
field() { jq -r "$1" <<<"$BODY"; }

call GET /health
[[ "$STATUS" == 200 ]] && pass health || fail health "HTTP $STATUS: $BODY"

call GET /v1/plans
expect plans 200 '[.plans[].id] | index("basic") != null and index("pro") != null'

LOGIN="$(node -e '
const c = require("crypto");
const { publicKey, privateKey } = c.generateKeyPairSync("ed25519");
const pk = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url");
const challenge = c.randomBytes(32);
const signature = c.sign(null, challenge, privateKey);
console.log(JSON.stringify({ publicKey: pk.toString("base64"), challenge: challenge.toString("base64"), signature: signature.toString("base64") }));
')" || fail auth "node could not sign"
call POST /v1/auth "$LOGIN"
expect auth 200 '.success == true and (.token | length > 0)'
TOKEN="$(field .token)"

call POST /v1/provisioning/token '{"name":"smoke-node","room":"lab"}' "$TOKEN"
expect provisioning-token 200 '(.token | startswith("prov_")) and (.nodeId | length == 36) and .expiresIn == 600'
PROV="$(field .token)"
NODE="$(field .nodeId)"

call POST /v1/provisioning/token "{\"nodeId\":\"$NODE\"}" "$TOKEN"
expect provisioning-token-refresh 200 ".nodeId == \"$NODE\" and .token != \"$PROV\""
OLD_PROV="$PROV"
PROV="$(field .token)"

call POST /v1/devices/register "{\"nodeId\":\"$NODE\",\"provisioningToken\":\"$OLD_PROV\"}"
expect register-with-old-token-refused 401 '.error | length > 0'

call POST /v1/devices/register "{\"nodeId\":\"$NODE\",\"provisioningToken\":\"$PROV\",\"deviceType\":\"smoke\"}"
expect register 200 ".device.uuid == \"$NODE\" and .device.provisioned == true and (.apiKey | startswith(\"dk_\"))"
DEVICE_ID="$(field .device.deviceId)"
API_KEY="$(field .apiKey)"

call POST /v1/devices/register "{\"nodeId\":\"$NODE\",\"provisioningToken\":\"$PROV\"}"
expect register-token-single-use 401 '.error | length > 0'

call GET "/v1/devices/$DEVICE_ID" "" "$TOKEN"
expect fetch-by-device-id 200 ".uuid == \"$NODE\" and .deviceId == \"$DEVICE_ID\""

call POST /v1/device/heartbeat "" "$API_KEY"
expect device-heartbeat 200 '.success == true and .lastSeenAt > 0'

call POST /v1/connect-tokens '{"deviceName":"smoke-phone"}' "$TOKEN"
expect connect-token 200 '(.token | startswith("ct_")) and (.expiresAt | length > 0)'
CT="$(field .token)"

call GET "/v1/connect/$CT/status"
expect connect-status-pending 200 '.status == "pending"'

WG_KEY="$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64"))')"
call POST "/v1/connect/$CT/provision" "{\"publicKey\":\"$WG_KEY\"}"
expect connect-provision 200 '(.peer.allowedIp | endswith("/32")) and (.peer.gatewayPublicKey | length > 0) and .device.peerActive == true'

call GET "/v1/connect/$CT/status"
expect connect-status-provisioned 200 '.status == "provisioned"'

call POST /v1/connect-tokens '{}' "$TOKEN"
expect connect-token-2 200 '.token | startswith("ct_")'
CT2="$(field .token)"
call POST "/v1/connect/$CT2/revoke" '{}' "$TOKEN"
expect connect-revoke 200 '.status == "revoked"'
call GET "/v1/connect/$CT2/status"
expect connect-status-revoked 200 '.status == "revoked"'

echo "ALL PASS"
