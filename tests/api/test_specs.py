"""Where the official TMF specifications come from: PORTAL_TMF_SPEC_DIR beside the project,
never a copy inside it; missing, they skip the tests, except under CI, where they fail."""

from __future__ import annotations

import os

import pytest

from .conftest import PROJECT_ROOT, load_spec, spec_dir


def test_without_the_folder_the_tests_skip_with_a_message(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_TMF_SPEC_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PORTAL_TMF_SPEC_DIR"):
        load_spec("TMF666")


def test_under_ci_a_missing_folder_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_TMF_SPEC_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI requires it"):
        load_spec("TMF637")


def test_a_relative_folder_is_taken_from_the_project_root(monkeypatch):
    monkeypatch.setenv("PORTAL_TMF_SPEC_DIR", "../shared/tmf")
    assert spec_dir() == (PROJECT_ROOT.parent / "shared" / "tmf").resolve()
    monkeypatch.delenv("PORTAL_TMF_SPEC_DIR")
    assert spec_dir() == (PROJECT_ROOT.parent / "shared" / "tmf").resolve()


def test_the_specs_are_read_not_copied_into_the_project(tmf_spec):
    assert tmf_spec("TMF666")["definitions"]["BillingAccount"]
    copies = []
    for folder, dirs, files in os.walk(PROJECT_ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules"]
        copies += [os.path.join(folder, f) for f in files if f.endswith(".swagger.json")]
    assert copies == []
