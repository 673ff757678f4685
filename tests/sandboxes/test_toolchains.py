"""Toolchain preflight: one line per missing item, naming the fix."""

from __future__ import annotations

import os
import stat

from aibench.sandboxes.languages import toolchains


def test_nothing_found_names_every_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(toolchains, "JAVATUPLES", str(tmp_path / "missing.jar"))
    missing = toolchains.check(["javascript", "java", "cpp", "python"], path=str(tmp_path))
    assert missing == [
        "node not found (needed for javascript): apt-get install nodejs",
        "javac not found (needed for java): apt-get install default-jdk-headless",
        "java not found (needed for java): apt-get install default-jdk-headless",
        f"javatuples jar not found at {tmp_path / 'missing.jar'} (MultiPL-E's Java programs import org.javatuples): "
        "apt-get install libjavatuples-java",
        "g++ not found (needed for cpp): apt-get install g++",
    ]


def test_broken_tool_and_unknown_language(tmp_path):
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\necho 'node: cannot start' >&2\nexit 3\n")
    node.chmod(node.stat().st_mode | stat.S_IXUSR)
    missing = toolchains.check(["js", "rust"], path=str(tmp_path))
    assert missing == [
        f"node at {node} does not run (exit 3: node: cannot start): apt-get install nodejs",
        "no runner for language 'rust' (have: cpp, java, javascript, python)",
    ]


def test_tool_outside_the_sandbox_tree(tmp_path):
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\nexit 0\n")
    node.chmod(0o755)
    missing = toolchains.check(["javascript"], path=str(tmp_path), visible=[])
    assert missing == [
        f"node at {os.path.realpath(node)} is outside the sandbox's tree: add its directory to sandbox.extra_paths"
    ]
    assert toolchains.check(["javascript"], path=str(tmp_path), visible=[str(tmp_path)]) == []


def test_python_needs_nothing():
    assert toolchains.check(["python"]) == []
