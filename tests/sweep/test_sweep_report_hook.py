"""The end of a sweep calls ``aibench.report.build_report(sweep_dir, out_dir)`` where that package
exists; its files go to the parent run, and a failure is one warning line, never a failed sweep."""

from __future__ import annotations

import logging
import sys
import types

from aibench.sweep.callback import comparison_report


def fake_report(monkeypatch, build):
    module = types.ModuleType("aibench.report")
    module.build_report = build
    monkeypatch.setitem(sys.modules, "aibench.report", module)


def test_the_report_files_are_returned(tmp_path, monkeypatch):
    calls = []

    def build(sweep_dir, out_dir):
        calls.append((sweep_dir, out_dir))
        out_dir.mkdir()
        (out_dir / "report.html").write_text("<html></html>")
        return [out_dir / "report.html"]

    fake_report(monkeypatch, build)
    assert comparison_report(tmp_path) == [tmp_path / "report" / "report.html"]
    assert calls == [(tmp_path, tmp_path / "report")]


def test_a_failing_report_is_one_warning(tmp_path, monkeypatch, caplog):
    def build(sweep_dir, out_dir):
        raise ValueError("no cells to compare\nsecond line")

    fake_report(monkeypatch, build)
    with caplog.at_level(logging.WARNING, logger="aibench"):
        assert comparison_report(tmp_path) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].endswith("failed: no cells to compare"), warnings


def test_without_the_report_package_nothing_happens(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "aibench.report", None)  # import fails with ImportError
    with caplog.at_level(logging.WARNING, logger="aibench"):
        assert comparison_report(tmp_path) == []
    assert not caplog.records
