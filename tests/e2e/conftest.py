"""End-to-end tests use the session's stack (tests/conftest.py)."""
