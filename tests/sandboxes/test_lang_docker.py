"""The JavaScript, Java and C++ runners inside the sandbox image (sandbox=docker): canonical programs
pass and the exit-before-the-tests cheats fail there too."""

from __future__ import annotations

import dataclasses

import pytest
import test_lang_cpp as cpp_t
import test_lang_java as java_t
import test_lang_javascript as js_t
from support import requires
from test_docker import HOW, docker_ready

from aibench.types import Status

pytestmark = requires("docker", docker_ready(), HOW)

CASES = [
    ("js-canonical", js_t.js(js_t.GOOD), Status.PASSED),
    ("js-process.exit", js_t.js("process.exit(0);\n" + js_t.GOOD), Status.FAILED),
    ("java-canonical", java_t.java(java_t.GOOD), Status.PASSED),
    (
        "java-static-init-exit",
        java_t.java(
            java_t.PROMPT.replace("class Problem {", "class Problem {\n    static { System.exit(0); }")
            + "        return null;\n    }\n"
        ),
        Status.FAILED,
    ),
    ("cpp-canonical", cpp_t.cpp(cpp_t.GOOD), Status.PASSED),
    ("cpp-global-ctor-exit", cpp_t.cpp(cpp_t.GLOBAL_CTOR + cpp_t.WRONG), Status.FAILED),
    ("cpp-compile-error", cpp_t.cpp(cpp_t.PROMPT + "    return undeclared_name;\n}\n"), Status.COMPILE_ERROR),
]


@pytest.fixture(scope="module")
def dsb():
    from aibench.sandboxes.docker import DockerSandbox

    sb = DockerSandbox()
    yield sb
    sb.close()


@pytest.mark.parametrize("name,program,status", CASES, ids=[c[0] for c in CASES])
def test_in_the_image(dsb, name, program, status):
    v = dsb.execute(dataclasses.replace(program, timeout=10.0))  # a fresh container's first node/JVM start is slow
    assert v.status is status, (v.status, v.error, v.stderr_tail[-400:])
    assert "exit0_rule_passed" in v.detail
    if "exit" in name:
        assert v.detail["exit0_rule_passed"] is True and v.error == "exited with code 0 before the tests completed"
