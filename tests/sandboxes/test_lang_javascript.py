"""JavaScript through LocalSandbox for real: MultiPL-E's verdicts on honest programs, the honest
rule (tests ran to their end + exit 0) against exit-early cheats, limits, cleanup."""

from __future__ import annotations

import pytest
import lang_helpers
from lang_helpers import TOKEN_RE, assert_cheat_fails, make_sandbox, run_clean, toolchain_mark

from aibench.types import Program, Status

lsb = lang_helpers.lsb  # the module's sandbox fixture
pytestmark = toolchain_mark("javascript")

PROMPT = "//Return the sum of a and b\nfunction add(a, b){\n"
GOOD = PROMPT + "  return a + b;\n}\n"
WRONG = PROMPT + "  return a - b;\n}\n"
TESTS = (
    "\nconst assert = require('node:assert');\n\n\nfunction test() {\n  let candidate = add;\n"
    "  assert.deepEqual(candidate(1, 2),3);\n  assert.deepEqual(candidate(-1, 1),0);\n}\n\ntest();\n"
)


def js(code: str, tests: str = TESTS, timeout: float = 3.0) -> Program:
    return Program("javascript", code, tests, timeout, entry_point="add")


def test_canonical_passes(lsb):
    v = run_clean(lsb, js(GOOD))
    assert v.status is Status.PASSED, (v.error, v.stderr_tail)
    assert v.detail["exit0_rule_passed"] is True and v.detail["tests_completed"] is True


def test_wrong_answer_fails_with_assertion_error(lsb):
    v = run_clean(lsb, js(WRONG))
    assert v.status is Status.FAILED and v.error.startswith("AssertionError [ERR_ASSERTION]")
    assert v.detail["exit0_rule_passed"] is False and v.exit_code == 0  # the sample process itself exited 0


@pytest.mark.parametrize(
    "code,error",
    [
        (PROMPT + "  return undefinedName + 1;\n}\n", "ReferenceError: undefinedName is not defined"),
        (PROMPT + "  return (a + ;\n}\n", "SyntaxError: Unexpected token ';'"),
        (PROMPT + "  throw new TypeError('boom');\n}\n", "TypeError: boom"),
    ],
)
def test_runtime_and_syntax_errors_fail(lsb, code, error):
    v = run_clean(lsb, js(code))
    assert v.status is Status.FAILED and v.error == error, v.error


def test_infinite_loop_times_out(lsb):
    v = run_clean(lsb, js(PROMPT + "  while (true) {}\n}\n", timeout=1.0))
    assert v.status is Status.TIMEOUT


def test_memory_exhaustion_is_memory(lsb):
    v = run_clean(
        lsb,
        js(PROMPT + "  const buf = new ArrayBuffer(8 * 1024 * 1024 * 1024);\n  return a + b + buf.byteLength;\n}\n"),
    )
    assert v.status is Status.MEMORY, (v.status, v.error)


HOG = PROMPT + "  const keep = [];\n  while (true) keep.push(new Array(100000).fill(a));\n}\n"


@pytest.mark.parametrize("mib", [640, 768, 1024])
def test_heap_exhaustion_under_a_tight_limit_is_memory(mib):
    """Below ~1 GiB, V8 meets the address-space limit before any heap limit and dies in whichever
    way the refused reservation takes it (a CI machine saw a bare SIGSEGV at 768 MiB): always memory."""
    sb = make_sandbox(limits={"memory_bytes": mib << 20})
    try:
        v = run_clean(sb, js(HOG, timeout=20.0))
    finally:
        sb.close()
    assert v.status is Status.MEMORY, (v.status, v.error, v.stderr_tail[-500:])


def test_heap_exhaustion_meets_v8s_own_limit_under_the_default_limit(lsb):
    v = run_clean(lsb, js(HOG, timeout=20.0))
    assert v.status is Status.MEMORY, (v.status, v.error)
    assert "JavaScript heap out of memory" in v.error, v.error


def test_a_runtime_fault_without_a_javascript_error_is_memory(lsb):
    """The form V8's death on a refused reservation took on the CI machine, made deterministic."""
    v = run_clean(lsb, js("process.kill(process.pid, 'SIGSEGV');\n" + GOOD))
    assert v.status is Status.MEMORY, (v.status, v.error)
    assert v.detail["reason"] == "runtime_killed_by_signal" and v.detail["signal"] == "SIGSEGV"


def test_stray_processes_are_killed(lsb):
    code = (
        "const { spawn } = require('child_process');\n"
        "spawn('/bin/sh', ['-c', 'sleep 100'], { detached: true, stdio: 'ignore' }).unref();\n" + GOOD
    )
    v = run_clean(lsb, js(code))
    assert v.status is Status.PASSED, v.error
    assert v.detail["strays_killed"] >= 1


@pytest.mark.parametrize(
    "code",
    [
        "process.exit(0);\n" + GOOD,  # before the tests
        PROMPT + "  process.exit(0);\n}\n",  # from the first call
        PROMPT + "  process.reallyExit(0);\n}\n",
        "process.on('uncaughtException', () => process.exit(0));\n" + WRONG,  # swallow the failed assert
        "process.on('uncaughtException', () => {});\n" + WRONG,
        "console.log('All tests passed');\nconsole.log('OK');\nprocess.exit(0);\n" + GOOD,  # forged success text
    ],
)
def test_exit_before_the_tests_completed_fails(lsb, code):
    v = run_clean(lsb, js(code))
    assert_cheat_fails(v)
    assert v.error == "exited with code 0 before the tests completed"


def test_token_is_not_in_source_environment_or_fds(lsb):
    code = (
        "const fs = require('fs');\nlet found = [];\n"
        "for (const p of ['/tmp/program.js', '/proc/self/environ', '/proc/self/cmdline', '/proc/self/fd/4']) {\n"
        f"  try {{ found.push(...(fs.readFileSync(p, 'latin1').match(/{TOKEN_RE}/g) || [])); }} catch (e) {{}}\n}}\n"
        f"found.push(...(JSON.stringify(process.env).match(/{TOKEN_RE}/g) || []));\n"
        "for (const t of found) { try { fs.writeSync(3, t); } catch (e) {} }\n"
        "try { fs.writeSync(3, 'x'.repeat(32)); } catch (e) {}\nprocess.exit(0);\n" + GOOD
    )
    v = run_clean(lsb, js(code))
    assert_cheat_fails(v)


def test_report_without_exit_zero_fails(lsb):
    v = run_clean(lsb, js("process.exitCode = 1;\n" + GOOD))
    assert v.status is Status.FAILED and v.detail["tests_completed"] is True
    assert v.detail["exit0_rule_passed"] is False and v.detail["reason"] == "nonzero_exit_after_tests"


def test_patching_the_assert_module_does_not_help(lsb):
    code = "require('assert').deepEqual = () => {};\nrequire('node:assert').deepEqual = () => {};\n" + WRONG
    v = run_clean(lsb, js(code))
    assert v.status is Status.FAILED and v.error.startswith("AssertionError")


def test_use_strict_and_line_numbers_kept(lsb):
    v = run_clean(lsb, js('"use strict";\n' + PROMPT + "  undeclared = 1;\n  return a + b;\n}\n"))
    assert v.status is Status.FAILED and v.error.startswith("ReferenceError: undeclared"), v.error
    assert "program.js:4" in v.stderr_tail  # the program's own line 4


def test_documented_limit_runner_aware_code_can_forge(lsb):
    """Documented in _native.py/describe(): the glue lives in the program's process."""
    v = run_clean(lsb, js("__aibench_report__();\nprocess.exit(0);\n" + WRONG))
    assert v.status is Status.PASSED
