"""The rule for which user id a client token carries, as a pure function of its inputs."""

import pytest

from shared.errors import Forbidden, SignInRequired
from shared.identity.user import SignedInUser, decide_user_id
from shared.settings import BearerSettings, SignInSettings

BEARER = BearerSettings(issuer="https://id.example", audiences=("app",), jwks_url=None, algorithms=("RS256",))
ALICE = SignedInUser("alice")


def test_a_signed_in_user_is_the_token_user_and_may_repeat_their_own_id() -> None:
    assert decide_user_id(None, ALICE, SignInSettings(bearer=BEARER)) == "alice"
    assert decide_user_id("alice", ALICE, SignInSettings(bearer=BEARER)) == "alice"


def test_no_one_poses_as_someone_else_while_signed_in() -> None:
    with pytest.raises(Forbidden, match="must match the signed-in user"):
        decide_user_id("bob", ALICE, SignInSettings(bearer=BEARER, allow_client_user_id=True))


@pytest.mark.parametrize("sign_in", [SignInSettings(bearer=BEARER), SignInSettings(trust_app_service_auth=True)])
def test_with_a_verified_source_a_caller_cannot_choose_a_user_id(sign_in: SignInSettings) -> None:
    allowing = SignInSettings(**{**sign_in.__dict__, "allow_client_user_id": True})
    with pytest.raises(Forbidden, match="only from a signed-in user"):
        decide_user_id("bob", None, allowing)


def test_a_chosen_user_id_needs_the_setting() -> None:
    with pytest.raises(Forbidden, match="NegotiateAllowClientUserId"):
        decide_user_id("bob", None, SignInSettings())
    assert decide_user_id("bob", None, SignInSettings(allow_client_user_id=True)) == "bob"


def test_anonymous_unless_sign_in_is_required() -> None:
    assert decide_user_id(None, None, SignInSettings()) is None
    with pytest.raises(SignInRequired, match="NegotiateRequireUser") as raised:
        decide_user_id(None, None, SignInSettings(require_user=True))
    assert raised.value.headers == {"WWW-Authenticate": "Bearer"}
