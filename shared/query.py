"""Query-string access that keeps repeated parameters apart.

``func.HttpRequest.params`` joins repeated keys with ``,`` (and group names may contain
commas), so the raw query of ``req.url`` is parsed instead. Names match case-insensitively,
as ASP.NET matches them on Azure.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from shared.errors import BadRequest

MAX_QUERY_LENGTH = 4096


class Query:
    """A request's query parameters, parsed once: names lower-cased, repeats kept in order.

    Read with :meth:`single` (at most once, else 400) or :meth:`many` (a repeatable parameter);
    a blank value is a 400 either way, so ``?group=`` never means "the group named ''".
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = [(name.lower(), value) for name, value in pairs]

    @classmethod
    def from_url(cls, url: str) -> Query:
        query = urlsplit(url).query
        if len(query) > MAX_QUERY_LENGTH:
            raise BadRequest(f"The query string is longer than {MAX_QUERY_LENGTH} characters.")
        try:
            pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise BadRequest("The query string is not valid UTF-8.") from None
        return cls(pairs)

    def many(self, name: str) -> list[str]:
        """Every value of a repeatable parameter, in order; blank values are refused."""
        values = [value for key, value in self._pairs if key == name.lower()]
        if any(value == "" for value in values):
            raise BadRequest(f"The query parameter '{name}' is empty.")
        return values

    def single(self, name: str) -> str | None:
        """The value of a parameter that may appear at most once."""
        values = self.many(name)
        if len(values) > 1:
            raise BadRequest(f"The query parameter '{name}' is given more than once.")
        return values[0] if values else None
