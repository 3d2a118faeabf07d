"""Dev-only code that more than one dev tool uses: never deployed (``.funcignore``), never
imported by product code (``shared/`` and the function folders).

* :mod:`devtools.http_guard` -- what both dev servers (the emulator and the dev host) do against
  hostile HTTP clients.
* :mod:`devtools.azurite` -- Azurite's table service on a free loopback port, for the tests and
  the benchmarks.

Importing the package imports nothing else.
"""
