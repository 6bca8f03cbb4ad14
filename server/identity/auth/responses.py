"""How a sign-in result is answered: a session (200, or 201 for a new account) or a challenge.

Every route that returns `complete_sign_in`'s result (password, code and OAuth sign-ins) answers
through `signed_in_response`, so the second step of two-factor sign-in looks the same everywhere.
"""

from __future__ import annotations

from aiohttp import web

from server.identity.auth.schemas import SignedIn, TwoFactorChallenge

# What such routes declare as `response=`, for the API document.
SignInResult = SignedIn | TwoFactorChallenge

SIGN_IN_DESCRIPTION = (
    'Answers 200 with the session\'s tokens, or 202 with `{"two_factor_required": true, '
    '"challenge", "methods", "expires_in"}` when the account has two-factor authentication '
    "on: send the challenge and a code to `POST /api/v1/auth/2fa/verify`."
)


def signed_in_response(result: SignedIn | TwoFactorChallenge, *, status: int = 200) -> web.Response:
    """SignedIn with `status` (200 by default), a two-factor challenge with 202."""
    code = 202 if isinstance(result, TwoFactorChallenge) else status
    return web.Response(text=result.model_dump_json(), status=code, content_type="application/json")
