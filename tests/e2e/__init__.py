"""Browser tests (a package, so that its conftest does not replace `conftest`, which other
test modules import from tests/conftest.py)."""
