#!/usr/bin/env bash
# Checks one photo with a facelive server using curl, base64 and md5sum (coreutils).
#
# Configuration comes from the environment (see examples/README.md):
# FACELIVE_URL, FACELIVE_APPCODE or FACELIVE_APP_KEY + FACELIVE_APP_SECRET,
# FACELIVE_IMAGE or FACELIVE_IMAGE_URL, and optionally FACELIVE_THRESH.
#
# Prints the response envelope. Exit status: 0 when the photo was scored (read is_live),
# 1 on any error, 2 when the configuration is incomplete.
set -euo pipefail

fail() {
  echo "check.sh: $1" >&2
  exit "$2"
}

base="${FACELIVE_URL:-http://127.0.0.1:8080}"
base="${base%/}"
endpoint="$base/api/face_liveness/v1"

headers=(-H "Content-Type: application/json")
if [ -n "${FACELIVE_APPCODE:-}" ]; then
  headers+=(-H "Authorization: APPCODE $FACELIVE_APPCODE")
elif [ -n "${FACELIVE_APP_KEY:-}" ] && [ -n "${FACELIVE_APP_SECRET:-}" ]; then
  # Milliseconds since 1970 in UTC (GNU date); the server accepts each signature only once.
  timestamp="$(date -u +%s%3N)"
  sign="$(printf '%s&%s&%s' "$FACELIVE_APP_KEY" "$timestamp" "$FACELIVE_APP_SECRET" | md5sum | cut -d' ' -f1)"
  headers+=(-H "x-ca-key: $FACELIVE_APP_KEY" -H "x-ca-timestamp: $timestamp" -H "x-ca-signature: $sign")
else
  fail "set FACELIVE_APPCODE, or FACELIVE_APP_KEY and FACELIVE_APP_SECRET" 2
fi

thresh=""
if [ -n "${FACELIVE_THRESH:-}" ]; then
  [[ "$FACELIVE_THRESH" =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] ||
    fail "FACELIVE_THRESH must be a number, not '$FACELIVE_THRESH'" 2
  thresh=",\"thresh\":$FACELIVE_THRESH"
fi

# The body is built as a stream: a base64 image can be too long for a command line.
if [ -n "${FACELIVE_IMAGE:-}" ]; then
  [ -r "$FACELIVE_IMAGE" ] || fail "cannot read FACELIVE_IMAGE: $FACELIVE_IMAGE" 2
  body() {
    printf '{"image_base64":"'
    base64 -w0 "$FACELIVE_IMAGE"
    printf '"%s}' "$thresh"
  }
elif [ -n "${FACELIVE_IMAGE_URL:-}" ]; then
  # JSON-escape the two characters a URL may hold that JSON cares about.
  url="${FACELIVE_IMAGE_URL//\\/\\\\}"
  url="${url//\"/\\\"}"
  body() { printf '{"image_url":"%s"%s}' "$url" "$thresh"; }
else
  fail "set FACELIVE_IMAGE (a file) or FACELIVE_IMAGE_URL" 2
fi

# No --fail: 4xx/5xx responses still carry the envelope, which is what is printed.
text="$(body | curl -sS --max-time 30 "${headers[@]}" --data-binary @- "$endpoint")" ||
  fail "request to $base failed" 1
printf '%s\n' "$text"
code="$(printf '%s' "$text" | grep -oE '"code"[[:space:]]*:[[:space:]]*[0-9]+' | head -n 1 | grep -oE '[0-9]+$')" ||
  fail "the response is not a facelive envelope" 1
case "$code" in
200 | 4004 | 4005) exit 0 ;; # live, not live, face too poor to judge
*) exit 1 ;;
esac
