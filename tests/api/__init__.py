"""API tests (a package, so that its conftest does not replace `conftest`, which test
modules import from tests/conftest.py)."""
