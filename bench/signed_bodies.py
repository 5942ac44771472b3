#!/usr/bin/env python3
"""Distinct signed webhooks for the HTTP benchmark.

Writes COUNT copies of the body in TEMPLATE, one a line: the hex HMAC-SHA256
signature (the secret from env PARADYM_WEBHOOK_SECRET), a tab, the body. Each
copy gets its own webhookId (the last 12 characters replaced by a 12-digit
number, from FIRST on) and webhookPublishedAt = now, both of the same length
as the template's, so every copy has the template's size. Distinct bodies,
because the server answers a body it already stored as a replay without
storing it again; a fresh time, because it refuses old events.

  bench/signed_bodies.py bench/event.json FIRST COUNT > pool
"""

import datetime
import hashlib
import hmac
import os
import re
import sys


def main() -> None:
    template_path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    secret = os.environ["PARADYM_WEBHOOK_SECRET"].encode()
    with open(template_path, "rb") as f:
        template = f.read()
    now = datetime.datetime.now(datetime.timezone.utc)
    published = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    template = re.sub(rb'("webhookPublishedAt":")[^"]*(")',
                      rb"\g<1>" + published.encode() + rb"\g<2>", template, count=1)
    match = re.search(rb'"webhookId":"([^"]{12,})"', template)
    if match is None:
        sys.exit("signed_bodies: the template has no webhookId of 12 characters or more")
    head, tail = template[:match.end(1) - 12], template[match.end(1):]
    out = sys.stdout.buffer
    for n in range(first, first + count):
        body = head + b"%012d" % n + tail
        signature = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        out.write(signature + b"\t" + body + b"\n")


if __name__ == "__main__":
    main()
