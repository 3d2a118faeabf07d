"""The function app's own package: settings, tokens, validation, the service client and errors.

Imported as ``from shared import ...``: the Azure Python worker appends the app root to
``sys.path``, so this absolute form works on Azure, under Core Tools, under the dev host and
in tests alike.
"""

from shared.errors import (
    AppError,
    BadRequest,
    ConfigurationError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamRejected,
    UpstreamUnavailable,
)

__all__ = [
    "AppError",
    "BadRequest",
    "ConfigurationError",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamRejected",
    "UpstreamUnavailable",
]
