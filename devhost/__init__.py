"""A local host for ``function.json`` Python apps (dev only; never deployed)."""

from devhost.functions import FunctionLoadError, HttpFunction, load_functions
from devhost.local_settings import LocalSettings, read_local_settings
from devhost.server import DevHost

__all__ = ["DevHost", "FunctionLoadError", "HttpFunction", "LocalSettings", "load_functions", "read_local_settings"]
