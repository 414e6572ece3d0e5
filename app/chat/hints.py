"""What a person can do about a failed reply: where the model server is and what to check, by error code."""

from __future__ import annotations

from ..errors import ChatError

_HINTS = {
    'upstream_unreachable': 'Nothing answered at {where}: check that the model server is running there and that '
                            'OPENAI_BASE_URL points to it.',
    'upstream_timeout': 'The model server at {where} is slow or stuck: try again, or raise UPSTREAM_TIMEOUT if it '
                        'is loading a model.',
    'upstream_auth': 'Check the key (OPENAI_API_KEY) the server uses for {where}.',
    'rate_limited': 'Wait a moment and press Retry.',
    'upstream_unavailable': 'The model server at {where} had an internal error: press Retry, or check its logs.',
    'upstream_rejected': 'Check the model name and settings of this chat (Settings) against what {where} offers.',
    'upstream_disconnected': 'The connection to {where} broke: press Retry.',
    'upstream_error': 'The model server at {where} reported a problem: press Retry, or check its logs.',
    'bad_upstream_response': 'Something at {where} is not an OpenAI-compatible model server (a proxy page?): check '
                             'OPENAI_BASE_URL.',
}


def explain(error: ChatError, where: str) -> str:
    """The error's message, followed by where the model server is and what to check (never a key or a query)."""
    hint = _HINTS.get(error.code)
    return f'{error.message} {hint.format(where=where)}' if hint else error.message
