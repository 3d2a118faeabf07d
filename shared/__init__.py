"""The function app's one package, filed by concept; ``docs/architecture.md`` draws the whole map.

Imported as ``from shared.<module> import ...``: the Azure Python worker appends the app root to
``sys.path``, so this absolute form works on Azure, under Core Tools, under the dev host and in
tests alike. This file, like every ``__init__.py`` here, imports nothing, so that a cold start
loads only what a function uses.

Where each rule lives:

=============================================  ============================================================
rule                                           module
=============================================  ============================================================
client access token claims                     ``shared.tokens``
group and role policy ({userId}, wildcards)    ``shared.grants``
who the user is (bearer token, issuer keys)    ``shared.identity.bearer``, ``.jwks``
App Service Authentication headers             ``shared.identity.app_service``
which user id a token may carry                ``shared.identity.user``
names, sizes, ttl, content types               ``shared.validation``
strict JSON                                    ``shared.strict_json``
the action vocabulary                          ``shared.actions.vocabulary``
an action as a REST call                       ``shared.actions.call``
running a batch                                ``shared.actions.batch``
Idempotency-Key                                ``shared.idempotency.keys`` (stores beside it)
error → status, code, headers                  ``shared.errors``
the error body                                 ``shared.responses``
settings (hub resolution included)             ``shared.settings``
service calls                                  ``shared.service``
one invocation: hub once, errors, log line     ``shared.invocation``
client events: caller, CloudEvents, state      ``shared.events.caller``, ``.cloudevents``, ``.state``
presence messages, the events queue            ``shared.events.presence``, ``.queue``
each function's flow                           ``shared.endpoints.negotiate``, ``.publish``, ``.actions``, ``.events``
=============================================  ============================================================
"""
