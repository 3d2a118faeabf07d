"""The identity provider's signing keys: fetched with PyJWT's ``PyJWKClient``, cached across invocations.

Keys come from OIDC discovery (``<issuer>/.well-known/openid-configuration`` → ``jwks_uri``; the
document's ``issuer`` must be the configured issuer exactly, as OIDC Discovery 1.0 §4.3 requires,
and ``jwks_uri`` must be https, or http to ``localhost``/``127.0.0.1`` for development, as
:func:`shared.validation.is_secure_url` rules for every URL of sign-in; redirects too) or from
``NegotiateJwksUrl``. PyJWT fetches with blocking
``urllib``, so every fetch runs on a small thread pool of its own and the invocation waits at
most :data:`FETCH_TIMEOUT_SECONDS` for it: a slow or dead issuer never holds the event loop, and
concurrent invocations share one fetch.

The cache rules:

* a key set is used for :data:`KEY_SET_MAX_AGE_SECONDS`, then fetched again on next use; if that
  fetch fails, the old keys still verify tokens (a brief issuer outage locks no one out);
* an unknown ``kid`` (key rotation) fetches the set again, at most once per
  :data:`KID_REFETCH_INTERVAL_SECONDS`, so that tokens with made-up ``kid`` values cannot turn
  negotiate into a load generator against the issuer;
* after a failed fetch the next waits :data:`PAUSE_AFTER_FAILURE_SECONDS` (the 503's
  ``Retry-After``): an issuer in trouble is not asked again for every sign-in;
* when the keys cannot be fetched and no cached key fits, :class:`IdentityProviderUnavailable`
  (503 with ``Retry-After``) is raised, never a 500 or a hang.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import IdentityProviderUnavailable
from shared.validation import is_secure_url

if TYPE_CHECKING:
    import urllib.request

    from jwt import PyJWK, PyJWKSet

logger = logging.getLogger("shared.jwks")

FETCH_TIMEOUT_SECONDS = 2.0
KEY_SET_MAX_AGE_SECONDS = 600.0
KID_REFETCH_INTERVAL_SECONDS = 30.0
PAUSE_AFTER_FAILURE_SECONDS = float(IdentityProviderUnavailable.retry_after_seconds)
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_CACHED_ISSUERS = 16

_fetchers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="jwks-fetch")


class KeySetUnavailable(Exception):
    """Discovery or the JWKS could not be fetched or read (the reason is in the log, by type)."""


@dataclass(frozen=True)
class KeySource:
    """Where the keys of one issuer live."""

    issuer: str
    jwks_url: str | None = None

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def fetch_key_set(source: KeySource) -> PyJWKSet:
    """Blocking: discover the JWKS URL unless configured, then fetch and parse the key set."""
    from jwt import PyJWKClient
    from jwt.exceptions import PyJWKClientError, PyJWKSetError

    jwks_url = source.jwks_url or _discover_jwks_url(source)
    try:
        return PyJWKClient(jwks_url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_SECONDS).get_jwk_set()
    except (PyJWKClientError, PyJWKSetError, OSError, ValueError, RecursionError) as error:
        raise KeySetUnavailable(f"JWKS: {type(error).__name__}") from None


def _discover_jwks_url(source: KeySource) -> str:
    import urllib.request  # here, not at the top: it would add to every cold start

    request = urllib.request.Request(source.discovery_url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with _discovery_opener().open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # settings checked the URL
            document = json.loads(response.read(MAX_DOCUMENT_BYTES))
    except (OSError, ValueError, RecursionError) as error:  # URLError, timeouts and HTTP errors are OSErrors
        raise KeySetUnavailable(f"discovery: {type(error).__name__}") from None
    if not isinstance(document, dict) or document.get("issuer") != source.issuer:
        raise KeySetUnavailable("discovery: the document is for another issuer")
    jwks_url = document.get("jwks_uri")
    if not isinstance(jwks_url, str) or not is_secure_url(jwks_url):
        raise KeySetUnavailable("discovery: no https (or local http) jwks_uri")
    return jwks_url


@functools.cache
def _discovery_opener() -> urllib.request.OpenerDirector:
    """urllib's opener (shared, as ``urlopen``'s is), following redirects only to URLs the issuer
    itself could be set to: urllib alone would follow one from https to plain http on any host,
    and so hand the keys to whoever sits on that path. (PyJWT's JWKS fetch follows none.)"""
    import urllib.error
    import urllib.request

    class SecureRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> urllib.request.Request | None:
            if not is_secure_url(newurl):
                raise urllib.error.HTTPError(newurl, code, "redirect to an insecure URL", headers, fp)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return urllib.request.build_opener(SecureRedirects())


class IssuerKeys:
    """The cached key set of one issuer; safe to share between threads and event loops."""

    def __init__(self, source: KeySource) -> None:
        self.source = source
        # Re-entrant: a fetch that is over before ``add_done_callback`` runs calls ``_store`` at
        # once, in the thread that still holds the lock (a plain Lock would hang it for good).
        self._lock = threading.RLock()
        self._keys: PyJWKSet | None = None
        self._fetched_at = 0.0
        self._last_kid_refetch = float("-inf")
        self._failed_at = float("-inf")
        self._inflight: Future[PyJWKSet] | None = None

    async def signing_key(self, kid: str | None) -> PyJWK | None:
        """The key for ``kid`` (or the only key when the token names none); None if there is none."""
        keys = self._keys
        fresh = keys is not None and time.monotonic() - self._fetched_at < KEY_SET_MAX_AGE_SECONDS
        if keys is not None and fresh:
            key = _find(keys, kid)
            if key is not None or not self._may_refetch_for_kid():
                return key
        try:
            keys = await self._refresh()
        except KeySetUnavailable as error:
            cached = _find(self._keys, kid) if self._keys is not None else None
            if cached is not None:
                logger.warning(
                    "Signing keys of %s not refreshed (%s); using cached keys", self.source.issuer, str(error)
                )
                return cached
            logger.warning("Signing keys of %s unavailable: %s", self.source.issuer, str(error))
            raise IdentityProviderUnavailable(
                "The identity provider's signing keys could not be fetched; try again shortly."
            ) from None
        return _find(keys, kid)

    def _may_refetch_for_kid(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last_kid_refetch < KID_REFETCH_INTERVAL_SECONDS:
                return False
            self._last_kid_refetch = now
            return True

    async def _refresh(self) -> PyJWKSet:
        """One fetch at a time per issuer; every waiter gives up after the timeout."""
        with self._lock:
            inflight = self._inflight
            if inflight is None:
                if time.monotonic() - self._failed_at < PAUSE_AFTER_FAILURE_SECONDS:
                    raise KeySetUnavailable("the last fetch failed moments ago")
                inflight = self._inflight = _fetchers.submit(fetch_key_set, self.source)
                inflight.add_done_callback(self._store)
        waiter = asyncio.wrap_future(inflight)
        done, _ = await asyncio.wait({waiter}, timeout=FETCH_TIMEOUT_SECONDS)
        if not done:
            waiter.add_done_callback(_abandoned)
            raise KeySetUnavailable(f"no answer within {FETCH_TIMEOUT_SECONDS:g} s")
        return waiter.result()

    def _store(self, fetched: Future[PyJWKSet]) -> None:
        with self._lock:
            self._inflight = None
            if fetched.exception() is None:
                self._keys = fetched.result()
                self._fetched_at = time.monotonic()
            else:
                self._failed_at = time.monotonic()


def _abandoned(waiter: asyncio.Future[PyJWKSet]) -> None:
    """A fetch given up on ends later: its outcome is :meth:`IssuerKeys._store`'s alone, and an
    unread failure would be logged by asyncio as an error with a stack trace."""
    if not waiter.cancelled():
        waiter.exception()


def _find(keys: PyJWKSet, kid: str | None) -> PyJWK | None:
    signing = [key for key in keys.keys if key.public_key_use in ("sig", None)]
    if kid is None:
        return signing[0] if len(signing) == 1 else None
    return next((key for key in signing if key.key_id == kid), None)


_issuers: dict[KeySource, IssuerKeys] = {}
_issuers_lock = threading.Lock()


def issuer_keys(source: KeySource) -> IssuerKeys:
    """The process-wide cache for ``source`` (a few issuers at most; the oldest is dropped)."""
    with _issuers_lock:
        keys = _issuers.get(source)
        if keys is None:
            if len(_issuers) >= MAX_CACHED_ISSUERS:
                _issuers.pop(next(iter(_issuers)))
            keys = _issuers[source] = IssuerKeys(source)
        return keys
