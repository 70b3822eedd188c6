"""Secrets the portal must read back are encrypted at rest."""

import pytest

from portal.crypto import seal, unseal


def test_a_sealed_secret_reads_back_and_hides_the_text(make_app):
    with make_app().app_context():
        stored = seal("client-secret-123")
        assert "client-secret-123" not in stored and stored != seal("client-secret-123")
        assert unseal(stored) == "client-secret-123"
        assert unseal("written-before-encryption") == "written-before-encryption"


def test_another_data_key_cannot_read_it_and_says_why(make_app):
    with make_app(DATA_KEY="first-data-key").app_context():
        stored = seal("client-secret-123")
    with make_app(DATA_KEY="second-data-key").app_context(), pytest.raises(
        RuntimeError, match="PORTAL_DATA_KEY"
    ):
        unseal(stored)
