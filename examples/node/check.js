#!/usr/bin/env node
// Checks one photo with a facelive server. Node.js 18+ (built-in fetch), no npm packages.
//
// Configuration comes from the environment (see examples/README.md):
// FACELIVE_URL, FACELIVE_APPCODE or FACELIVE_APP_KEY + FACELIVE_APP_SECRET,
// FACELIVE_IMAGE or FACELIVE_IMAGE_URL, and optionally FACELIVE_THRESH.
//
// Prints the response envelope. Exit status: 0 when the photo was scored (read is_live),
// 1 on any error, 2 when the configuration is incomplete.
'use strict';

const fs = require('fs');
const crypto = require('crypto');

const ENDPOINT = '/api/face_liveness/v1';
const SCORED = [200, 4004, 4005]; // live, not live, face too poor to judge

function fail(message, status) {
  console.error('check.js: ' + message);
  process.exit(status);
}

function authHeaders(env) {
  if (env.FACELIVE_APPCODE) {
    return { Authorization: 'APPCODE ' + env.FACELIVE_APPCODE };
  }
  const key = env.FACELIVE_APP_KEY;
  const secret = env.FACELIVE_APP_SECRET;
  if (!key || !secret) {
    fail('set FACELIVE_APPCODE, or FACELIVE_APP_KEY and FACELIVE_APP_SECRET', 2);
  }
  // Milliseconds since 1970 in UTC; the server accepts each signature only once.
  const timestamp = Date.now().toString();
  const sign = crypto.createHash('md5').update(key + '&' + timestamp + '&' + secret, 'utf8').digest('hex');
  return { 'x-ca-key': key, 'x-ca-timestamp': timestamp, 'x-ca-signature': sign };
}

function requestBody(env) {
  const body = {};
  if (env.FACELIVE_IMAGE) {
    try {
      body.image_base64 = fs.readFileSync(env.FACELIVE_IMAGE).toString('base64');
    } catch (error) {
      fail('cannot read FACELIVE_IMAGE: ' + error.message, 2);
    }
  } else if (env.FACELIVE_IMAGE_URL) {
    body.image_url = env.FACELIVE_IMAGE_URL;
  } else {
    fail('set FACELIVE_IMAGE (a file) or FACELIVE_IMAGE_URL', 2);
  }
  if (env.FACELIVE_THRESH) {
    const thresh = Number(env.FACELIVE_THRESH);
    if (!Number.isFinite(thresh)) fail('FACELIVE_THRESH must be a number', 2);
    body.thresh = thresh;
  }
  return JSON.stringify(body);
}

async function main() {
  const env = process.env;
  const base = (env.FACELIVE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const headers = { 'Content-Type': 'application/json', ...authHeaders(env) };
  const body = requestBody(env);
  let text;
  try {
    const res = await fetch(base + ENDPOINT, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(30000),
    });
    text = await res.text(); // 4xx/5xx still carry the envelope
  } catch (error) {
    fail('request to ' + base + ' failed: ' + (error.cause || error).message, 1);
  }
  console.log(text);
  let code;
  try {
    code = JSON.parse(text).code;
  } catch (error) {
    fail('the response is not a facelive envelope', 1);
  }
  process.exitCode = SCORED.includes(code) ? 0 : 1;
}

main().catch((error) => fail(String(error), 1));
