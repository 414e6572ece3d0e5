"""The fault matrix: every way the model server can fail, and what each surface must make of it (docs/faults.md).

One row per fault. The page's test (tests/components/test_fault_matrix.py) and the API's
(tests/app/test_fault_matrix.py) run every row: the outcome a person or program sees, the text received before the
failure kept (shown, streamed, and saved with its status), no secret anywhere, then a good reply to the next request.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from tests.conftest import API_TOKEN, SECRET_KEY
from tests.fake_upstream import Script

# A reply's first tokens, sent before the failure of a mid-stream row: they must all be kept.
BEFORE = ['Partial', ' answer']
KEPT = ''.join(BEFORE)
# Where a failing upstream's own text could leak a secret: it echoes the key and the client's token.
LEAK = f'key {SECRET_KEY} token {API_TOKEN}'
# An HTML page a proxy in front of the model server answers with (a sign-in page, say), echoing the request's key.
PROXY_PAGE = f'<!DOCTYPE html><html><body><h1>Sign in</h1><p>Authorization: Bearer {SECRET_KEY}</p></body></html>'
# Larger than the biggest event the app accepts (app/upstream/reply.py, MAX_EVENT_BYTES = 4 MiB).
ENDLESS = b'data: {"choices": [{"delta": {"content": "' + b'x' * (5 * 1024 * 1024)


@dataclass(frozen=True)
class Fault:
    """One row: how the model server fails, and what each surface must show."""

    id: str
    script: Script | None = None  # what the fake upstream answers; None for the network rows
    network: str | None = None  # 'refuse', 'hang' (connect timeout) or 'unresolvable'
    code: str | None = None  # the error code on every surface; None: the reply completes
    words: str = ''  # part of the message shown on the page and sent to API clients
    kept: str = ''  # the reply's text that must survive the failure
    api_status: int = 502  # /api/chat's HTTP status (200: the stream started, the error is its last line)
    v1_status: int = 502  # /v1/chat/completions' (streamed): 200 when the error is a mid-stream event
    retry_after: str | None = None  # passed on to API clients
    gated: bool = False  # each token waits until the test has seen the one before (see `fresh`)

    def fresh(self) -> Script | None:
        """A new copy of the script for one request (scripts hold per-request events), gated if the row says so.

        A dropped connection (RST) discards what the app had not read yet: a gated row sends each token, and the drop,
        only once the test saw the token before arrive, so what was sent before the drop is known to be received.
        """
        if self.script is None:
            return None
        return dataclasses.replace(self.script, release=threading.Event(),
                                   gate=threading.Semaphore(0) if self.gated else None)


def _status(status: int, code: str, words: str, *, api: int = 502, v1: int = 502, **script: object) -> Fault:
    return Fault(f'http-{status}' + ('-' + str(script['retry_after']) if script.get('retry_after') else ''),
                 Script(status=status, error_message=f'scripted refusal ({LEAK})', **script),  # type: ignore[arg-type]
                 code=code, words=words, api_status=api, v1_status=v1,
                 retry_after=str(script['retry_after']) if script.get('retry_after') else None)


def _midway(id: str, code: str, words: str, *, gated: bool = False, **script: object) -> Fault:
    return Fault(id, Script(tokens=[*BEFORE, ' never', ' seen'], **script),  # type: ignore[arg-type]
                 code=code, words=words, kept=KEPT, api_status=200, v1_status=200, gated=gated)


FAULTS = [
    _status(400, 'upstream_rejected', 'rejected the request (400): scripted refusal', v1=400),
    _status(401, 'upstream_auth', "refused this server's credentials"),
    _status(403, 'upstream_auth', "refused this server's credentials"),
    Fault('http-404-unknown-model', Script(status=404, error_message='The model `gpt-9` does not exist or you do not '
                                           f'have access to it ({LEAK}).'),
          code='upstream_rejected', words='rejected the request (404): The model `gpt-9` does not exist',
          v1_status=400),
    _status(413, 'upstream_rejected', 'rejected the request (413)', v1=400),
    _status(429, 'rate_limited', 'rate limiting', api=429, v1=429, retry_after='7'),
    _status(429, 'rate_limited', 'rate limiting', api=429, v1=429),
    _status(500, 'upstream_unavailable', 'failed (500)'),
    _status(502, 'upstream_unavailable', 'failed (502)'),
    _status(503, 'upstream_unavailable', 'failed (503)'),
    Fault('connection-refused', network='refuse', code='upstream_unreachable', words='Could not connect'),
    Fault('name-does-not-resolve', network='unresolvable', code='upstream_unreachable', words='does not resolve'),
    Fault('connect-timeout', network='hang', code='upstream_unreachable', words='connection timed out',
          api_status=200, v1_status=504),
    Fault('silent-after-headers', Script(silent_after=0), code='upstream_timeout', words='timed out',
          api_status=200, v1_status=200),
    _midway('silent-mid-stream', 'upstream_timeout', 'timed out', silent_after=len(BEFORE)),
    _midway('error-event-mid-stream', 'upstream_error', 'reported an error mid-reply: scripted failure',
            error_after=len(BEFORE), error_message=f'scripted failure ({LEAK})'),
    _midway('dropped-mid-stream', 'upstream_disconnected', 'connection to the model server broke',
            drop_after=len(BEFORE), gated=True),
    _midway('bad-json-event', 'bad_upstream_response', 'not JSON',
            inject={len(BEFORE): b'data: {"choices": [{"delta": {"content": "x"\n\n'}),
    Fault('not-an-event-stream', Script(raw_body=b'{"id": "x", "object": "chat.completion", "choices": []}',
                                        content_type='application/json'),
          code='bad_upstream_response', words='not an event stream', v1_status=200),
    Fault('html-from-a-proxy', Script(raw_body=PROXY_PAGE.encode(), content_type='text/html'),
          code='bad_upstream_response', words='not an event stream', v1_status=200),
    _midway('endless-line', 'bad_upstream_response', 'event too large', inject={len(BEFORE): ENDLESS}),
    _midway('ends-without-done-or-finish', 'upstream_disconnected', 'ended the reply before finishing it',
            end_after=len(BEFORE)),
    Fault('ends-after-finish-without-done', Script(tokens=BEFORE, send_done=False), kept=KEPT, api_status=200,
          v1_status=200),
]
