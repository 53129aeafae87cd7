"""``python -m bot.healthcheck``: the container image's HEALTHCHECK command.

Asks the running bot's ``/healthz`` on METRICS_PORT and exits 0 when it
answers 200, 1 otherwise, printing why. Standard library only (the image
has no curl), and nothing of the bot is imported: it runs every 30 s.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

#: METRICS_HOST values that listen on every address; the probe then asks loopback.
ANY_ADDRESS = {"", "0.0.0.0", "::"}
TIMEOUT = 4.0
#: Loopback, never through HTTP_PROXY: a proxy set for the bot's own traffic must not answer for it.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def url(environ: dict[str, str]) -> str | None:
    """Where /healthz is, from METRICS_HOST and METRICS_PORT; None when the port is unset."""
    port = environ.get("METRICS_PORT", "").strip()
    if not port:
        return None
    host = environ.get("METRICS_HOST", "").strip()
    host = "127.0.0.1" if host in ANY_ADDRESS else host
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/healthz"


def main() -> int:
    target = url(dict(os.environ))
    if target is None:
        print("unhealthy: METRICS_PORT is not set, so the bot serves no /healthz", file=sys.stderr)
        return 1
    try:
        with OPENER.open(target, timeout=TIMEOUT) as response:
            print(response.read().decode(errors="replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
    except OSError as exc:  # refused, timed out, unreachable
        print(f"unhealthy: no answer from {target} ({exc})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
