"""App Service Authentication ("Easy Auth"): the user it signed in, from the headers it sets.

Believed only with ``NegotiateTrustAppServiceAuth``: without that platform feature in front of
the app, anyone can send these headers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from shared.errors import BadRequest, Forbidden, UnaddressableName
from shared.identity.user import UNREADABLE_JSON, SignedInUser, claimed_groups
from shared.validation import validate_identifier

PRINCIPAL_ID_HEADERS = ("x-ms-client-principal-id", "x-ms-client-principal-name")
PRINCIPAL_CLAIMS_HEADER = "x-ms-client-principal"


def app_service_user(headers: Mapping[str, str], groups_claim: str | None) -> SignedInUser | None:
    """The user App Service Authentication signed in, if any (only when that platform feature is
    trusted: without it anyone can send these headers)."""
    for header in PRINCIPAL_ID_HEADERS:
        value = (headers.get(header) or "").strip()
        if value:
            try:
                user_id = validate_identifier(value, "signed-in user id")
            except UnaddressableName as error:
                raise Forbidden(f"The {header} header: {error.message}") from None
            return SignedInUser(user_id, _principal_groups(headers.get(PRINCIPAL_CLAIMS_HEADER), groups_claim))
    return None


def _principal_groups(encoded: str | None, groups_claim: str | None) -> tuple[str, ...]:
    """``x-ms-client-principal`` is base64 JSON: ``{"claims": [{"typ": ..., "val": ...}, ...]}``."""
    if not encoded or not groups_claim:
        return ()
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except UNREADABLE_JSON:
        raise BadRequest(f"The {PRINCIPAL_CLAIMS_HEADER} header is not base64-encoded JSON.") from None
    claims = document.get("claims") if isinstance(document, dict) else None
    if not isinstance(claims, list):
        raise BadRequest(f"The {PRINCIPAL_CLAIMS_HEADER} header has no claims list.")
    values = [claim.get("val") for claim in claims if isinstance(claim, dict) and claim.get("typ") == groups_claim]
    return claimed_groups(values, BadRequest, groups_claim) if values else ()
