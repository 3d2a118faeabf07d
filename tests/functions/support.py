"""What the function tests read from negotiate's answers: the claims of the client access token,
signed with the emulator's access key."""

from __future__ import annotations

import jwt

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"


def claims_of(body: dict) -> dict:
    return jwt.decode(body["token"], KEY, algorithms=["HS256"], options={"verify_aud": False})
