#!/usr/bin/env python3
"""Checks one photo with a facelive server; standard library only (Python 3.8+).

Configuration comes from the environment (see examples/README.md):
FACELIVE_URL, FACELIVE_APPCODE or FACELIVE_APP_KEY + FACELIVE_APP_SECRET,
FACELIVE_IMAGE or FACELIVE_IMAGE_URL, and optionally FACELIVE_THRESH.

Prints the response envelope. Exit status: 0 when the photo was scored (read is_live),
1 on any error, 2 when the configuration is incomplete.
"""

import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

ENDPOINT = "/api/face_liveness/v1"
SCORED = (200, 4004, 4005)  # live, not live, face too poor to judge


def fail(message, status):
    print("check.py: " + message, file=sys.stderr)
    sys.exit(status)


def auth_headers():
    appcode = os.environ.get("FACELIVE_APPCODE")
    if appcode:
        return {"Authorization": "APPCODE " + appcode}
    key = os.environ.get("FACELIVE_APP_KEY")
    secret = os.environ.get("FACELIVE_APP_SECRET")
    if not (key and secret):
        fail("set FACELIVE_APPCODE, or FACELIVE_APP_KEY and FACELIVE_APP_SECRET", 2)
    # Milliseconds since 1970 in UTC; the server accepts each signature only once.
    timestamp = str(int(time.time() * 1000))
    sign = hashlib.md5((key + "&" + timestamp + "&" + secret).encode("utf-8")).hexdigest()
    return {"x-ca-key": key, "x-ca-timestamp": timestamp, "x-ca-signature": sign}


def request_body():
    body = {}
    image, image_url = os.environ.get("FACELIVE_IMAGE"), os.environ.get("FACELIVE_IMAGE_URL")
    if image:
        try:
            with open(image, "rb") as f:
                body["image_base64"] = base64.b64encode(f.read()).decode("ascii")
        except OSError as error:
            fail("cannot read FACELIVE_IMAGE: %s" % error, 2)
    elif image_url:
        body["image_url"] = image_url
    else:
        fail("set FACELIVE_IMAGE (a file) or FACELIVE_IMAGE_URL", 2)
    thresh = os.environ.get("FACELIVE_THRESH")
    if thresh:
        try:
            body["thresh"] = float(thresh)
        except ValueError:
            fail("FACELIVE_THRESH must be a number, not %r" % thresh, 2)
    return json.dumps(body).encode("utf-8")


def main():
    base = os.environ.get("FACELIVE_URL", "http://127.0.0.1:8080").rstrip("/")
    headers = {"Content-Type": "application/json"}
    headers.update(auth_headers())
    request = urllib.request.Request(base + ENDPOINT, request_body(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode("utf-8")
    except urllib.error.HTTPError as error:  # 4xx/5xx still carry the envelope
        text = error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as error:
        fail("request to %s failed: %s" % (base, error), 1)
    print(text)
    try:
        code = json.loads(text)["code"]
    except (ValueError, KeyError, TypeError):
        fail("the response is not a facelive envelope", 1)
    sys.exit(0 if code in SCORED else 1)


if __name__ == "__main__":
    main()
