"""C++ through LocalSandbox for real: g++ -std=c++17 and the binary as separate steps with their own
budgets, MultiPL-E's verdicts on honest programs, compile errors (and compile-time infinite loops)
as their own status, and the honest rule against every way of exiting 0 before the tests."""

from __future__ import annotations

import pytest
import lang_helpers
from lang_helpers import TOKEN_RE, assert_cheat_fails, make_sandbox, run_clean, toolchain_mark

from aibench.types import Program, Status

lsb = lang_helpers.lsb  # the module's sandbox fixture
pytestmark = toolchain_mark("cpp")

PROMPT = (
    "#include<assert.h>\n#include<bits/stdc++.h>\n// Return the sum of the vector's elements\n"
    "long sum_all(std::vector<long> xs) {\n"
)
GOOD = PROMPT + "    return std::accumulate(xs.begin(), xs.end(), 0L);\n}\n"
WRONG = PROMPT + "    return xs.size();\n}\n"
TESTS = (
    "int main() {\n    auto candidate = sum_all;\n"
    "    assert(candidate((std::vector<long>({(long)1, (long)2, (long)3}))) == (6));\n"
    "    assert(candidate((std::vector<long>())) == (0));\n}\n"
)


def cpp(code: str, tests: str = TESTS, timeout: float = 3.0) -> Program:
    return Program("cpp", code, tests, timeout, entry_point="sum_all")


def test_canonical_passes(lsb):
    v = run_clean(lsb, cpp(GOOD))
    assert v.status is Status.PASSED, (v.error, v.detail)
    assert v.detail["exit0_rule_passed"] is True and v.detail["compile_s"] > 0


def test_identical_program_is_compiled_once(lsb):
    first = run_clean(lsb, cpp(GOOD + "// cache probe\n"))
    again = run_clean(lsb, cpp(GOOD + "// cache probe\n"))
    assert first.passed and again.passed
    assert not first.detail.get("compile_cached") and again.detail["compile_cached"] is True


def test_wrong_answer_fails_with_the_assertion(lsb):
    v = run_clean(lsb, cpp(WRONG))
    assert v.status is Status.FAILED, (v.status, v.error)
    assert "Assertion `candidate((std::vector<long>({(long)1, (long)2, (long)3}))) == (6)' failed" in v.error
    assert v.detail["exit0_rule_passed"] is False


def test_uncaught_exception_fails(lsb):
    v = run_clean(lsb, cpp(PROMPT + "    return xs.at(99);\n}\n"))
    assert v.status is Status.FAILED and v.error.startswith(
        "terminate called after throwing an instance of 'std::out_of_range'"
    ), v.error


def test_segfault_is_a_crash(lsb):
    v = run_clean(lsb, cpp(PROMPT + "    volatile long* p = nullptr;\n    return *p;\n}\n"))
    assert v.status is Status.CRASHED and "SIGSEGV" in v.error


def test_compile_error_is_its_own_status(lsb):
    v = run_clean(lsb, cpp(PROMPT + "    return undeclared_name;\n}\n"))
    assert v.status is Status.COMPILE_ERROR, (v.status, v.error)
    assert v.detail["reason"] == "compile_error" and "undeclared_name" in v.detail["compiler_tail"]
    assert "was not declared in this scope" in v.detail["compiler_tail"]
    assert v.error.startswith("compile error (exit 1): program.cpp:") and v.detail["exit0_rule_passed"] is False


def test_compile_time_infinite_loop_hits_the_compile_budget():
    sb = make_sandbox(limits={"compile_timeout_s": 3.0})
    # nested loops stay under g++'s per-loop limit (262144) and take minutes to reach its ops limit (2^33)
    heavy = (
        "constexpr long spin() { long x = 0; for (long i = 0; i < 200000; i++)\n"
        "    for (long j = 0; j < 200000; j++) x += (i ^ j) % 7; return x; }\n"
        "constexpr long never = spin();\n"
    )
    try:
        v = run_clean(sb, cpp(heavy + GOOD, timeout=20.0))
    finally:
        sb.close()
    assert v.status is Status.COMPILE_ERROR and v.detail["reason"] == "compile_timeout", (v.status, v.error)
    assert v.error == "compilation did not finish within 3s" and 3.0 <= v.detail["compile_s"] < 5.0


def test_infinite_loop_times_out(lsb):
    v = run_clean(lsb, cpp(PROMPT + "    while (true) { }\n}\n", timeout=1.0))
    assert v.status is Status.TIMEOUT


def test_bad_alloc_is_memory(lsb):
    v = run_clean(lsb, cpp(PROMPT + "    std::vector<char> big(1UL << 40);\n    return big.size();\n}\n"))
    assert v.status is Status.MEMORY and "bad_alloc" in v.error, (v.status, v.error)


def test_touching_more_than_the_limit_is_memory():
    sb = make_sandbox(limits={"memory_bytes": 512 << 20})
    code = PROMPT + (
        "    std::vector<std::vector<char>> keep;\n    while (true) keep.emplace_back(64 << 20, 'x');\n}\n"
    )
    try:
        v = run_clean(sb, cpp(code))
    finally:
        sb.close()
    assert v.status is Status.MEMORY, (v.status, v.error)


def test_stray_processes_are_killed(lsb):
    code = (
        "#include <unistd.h>\n"
        + PROMPT
        + (
            '    if (fork() == 0) { setsid(); execl("/bin/sleep", "sleep", "100", '
            "(char*)0); _exit(1); }\n"
            "    return std::accumulate(xs.begin(), xs.end(), 0L);\n}\n"
        )
    )
    v = run_clean(lsb, cpp(code))
    assert v.status is Status.PASSED, v.error
    assert v.detail["strays_killed"] >= 1


GLOBAL_CTOR = "#include <cstdlib>\nstruct Quit { Quit() { exit(0); } };\nstatic Quit quit_now;\n"


@pytest.mark.parametrize(
    "code",
    [
        PROMPT + "    exit(0);\n}\n",
        PROMPT + "    std::exit(0);\n}\n",
        PROMPT + "    std::quick_exit(0);\n}\n",
        "#include <unistd.h>\n" + PROMPT + "    _exit(0);\n}\n",
        PROMPT + "    std::_Exit(0);\n}\n",
        GLOBAL_CTOR + WRONG,  # before main
        "#include <cstdlib>\n__attribute__((constructor)) static void early() { exit(0); }\n" + WRONG,
        "#include <cstdio>\n" + PROMPT + '    printf("All tests passed\\n");\n    exit(0);\n}\n',  # forged text
    ],
)
def test_exit_before_the_tests_completed_fails(lsb, code):
    v = run_clean(lsb, cpp(code))
    assert_cheat_fails(v)
    assert v.error == "exited with code 0 before the tests completed"


def test_token_is_not_in_source_environment_or_fds(lsb):
    code = (
        "#include <fstream>\n#include <regex>\n#include <unistd.h>\nextern char** environ;\n"
        + PROMPT
        + "    std::string all;\n    for (char** e = environ; *e; e++) all += *e;\n"
        '    for (const char* p : {"/tmp/program.cpp", "/tmp/aibench_main.cpp", "/proc/self/environ",\n'
        '                          "/proc/self/cmdline", "/proc/self/fd/4"}) {\n'
        "        std::ifstream f(p);\n        all += std::string(std::istreambuf_iterator<char>(f), {});\n    }\n"
        f'    std::regex re("{TOKEN_RE}");\n'
        "    for (std::sregex_iterator it(all.begin(), all.end(), re), end; it != end; ++it)\n"
        "        write(3, it->str().data(), it->str().size());\n    exit(0);\n}\n"
    )
    v = run_clean(lsb, cpp(code))
    assert_cheat_fails(v)


def test_exit_nonzero_after_the_tests_fails(lsb):
    code = "struct Late { ~Late() { std::_Exit(3); } };\nstatic Late late;\n"
    v = run_clean(
        lsb,
        cpp(
            PROMPT.replace("// Return", code + "// Return") + "    return std::accumulate("
            "xs.begin(), xs.end(), 0L);\n}\n"
        ),
    )
    assert v.status is Status.FAILED and v.detail["tests_completed"] is True
    assert v.detail["reason"] == "nonzero_exit_after_tests" and v.detail["exit0_rule_passed"] is False
