"""A job's side of a heartbeat: ``POST`` a ping URL (``/heartbeat/NAME``, ``.../start``,
``.../EXIT_CODE``) with ``Authorization: Bearer TOKEN``, as docs/heartbeats.md tells a cron job
to. The backup jobs (deploy/compose/backup_job.py, exporter/demo/backup_job.py) ping through
:func:`ping`, each with its own patience (how many tries, each try's timeout, the wait between
tries).

A refusal (401 wrong token, 404 unknown name, 413, 503 token unreadable on the exporter) is not
retried: the same request gets the same answer. An exporter that cannot be reached (down,
restarting) is tried again. The token is in no line this module writes: each goes through a
:class:`~exporter.secrets.Redactor` holding it (a URL's userinfo password is removed too).

Synchronous (``urllib``): the jobs are plain scripts, and a ping is a few requests a run.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from exporter.secrets import REDACTED, Redactor


def _print(line: str) -> None:
    print(line, flush=True)


def ping(
    url: str,
    token: str,
    *,
    tries: int,
    timeout: float,
    backoff: Callable[[int], float],
    log: Callable[[str], None] = _print,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST ``url`` with ``token`` as a bearer token; True once the exporter answered 2xx.

    ``tries`` attempts at most, each given ``timeout`` seconds; after failed attempt ``i``
    (0-based) it waits ``backoff(i)`` seconds, never after the last. What went wrong is one
    ``log`` line, with the token redacted."""
    redactor = Redactor()
    redactor.add(token)

    def say(line: str) -> None:
        # Redactor skips values shorter than Redactor.MIN_LEN: a short token is removed here
        log(redactor.redact(line.replace(token, REDACTED) if token else line))

    try:
        request = urllib.request.Request(
            url, method="POST", data=b"", headers={"Authorization": f"Bearer {token}"}
        )
    except ValueError as e:  # no scheme, an unknown one
        say(f"heartbeat {url}: not sent, the URL is not valid ({e})")
        return False
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                return True
        except urllib.error.HTTPError as e:
            e.close()
            say(f"heartbeat {url}: refused, HTTP {e.code}")
            return False
        except OSError as e:  # URLError, RemoteDisconnected, TimeoutError
            reason = e.reason if isinstance(e, urllib.error.URLError) else e
            if not isinstance(reason, OSError):
                # no socket error behind it ("unknown url type: exporter", http:// left out)
                say(f"heartbeat {url}: not sent, the URL is not valid ({reason})")
                return False
            if attempt == tries - 1:  # refused, unresolved, timed out, reset: tried again
                say(f"heartbeat {url}: not delivered after {tries} tries ({e})")
                return False
            sleep(backoff(attempt))
        except (ValueError, http.client.InvalidURL):
            # a token with a line break, a URL with a space: http.client's message quotes the
            # header or URL, so the token itself; not repeated
            say(f"heartbeat {url}: not sent, the token or the URL cannot go in an HTTP request")
            return False
        except http.client.HTTPException as e:  # something answered, not in HTTP
            say(f"heartbeat {url}: not delivered, the answer is not HTTP ({e!r})")
            return False
    return False
