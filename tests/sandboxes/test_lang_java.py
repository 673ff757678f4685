"""Java through LocalSandbox for real: javac + java under the sample's limits (RLIMIT_AS, pids),
MultiPL-E's verdicts on honest programs, compile errors as their own status, and the honest rule
against System.exit(0) in main, in static initialisers and forged output."""

from __future__ import annotations

import pytest
import lang_helpers
from lang_helpers import TOKEN_RE, assert_cheat_fails, make_sandbox, run_clean, toolchain_mark

from aibench.types import Program, Status

lsb = lang_helpers.lsb  # the module's sandbox fixture
pytestmark = toolchain_mark("java")

IMPORTS = (
    "import java.util.*;\nimport java.lang.reflect.*;\nimport org.javatuples.*;\nimport java.security.*;\n"
    "import java.math.*;\nimport java.io.*;\nimport java.util.stream.*;\n"
)
PROMPT = IMPORTS + (
    "class Problem {\n    // Return the pair (a + b, a * b)\n"
    "    public static Pair<Long, Long> sumProduct(long a, long b) {\n"
)
GOOD = PROMPT + "        return Pair.with(a + b, a * b);\n    }\n"
WRONG = PROMPT + "        return Pair.with(a + b, a + b);\n    }\n"
TESTS = (
    "    public static void main(String[] args) {\n"
    "    assert(sumProduct((2l), (3l)).equals((Pair.with(5l, 6l))));\n"
    "    assert(sumProduct((0l), (7l)).equals((Pair.with(7l, 0l))));\n    }\n\n}\n"
)


def java(code: str, tests: str = TESTS, timeout: float = 5.0) -> Program:
    return Program("java", code, tests, timeout, entry_point="sumProduct")


def test_canonical_passes_with_javatuples(lsb):
    v = run_clean(lsb, java(GOOD))
    assert v.status is Status.PASSED, (v.error, v.stderr_tail, v.detail)
    assert v.detail["exit0_rule_passed"] is True and v.detail["compile_s"] > 0


def test_identical_program_is_compiled_once(lsb):
    first = run_clean(lsb, java(GOOD + "    // cache probe\n"))
    again = run_clean(lsb, java(GOOD + "    // cache probe\n"))
    assert first.passed and again.passed
    assert not first.detail.get("compile_cached") and again.detail["compile_cached"] is True


def test_wrong_answer_fails(lsb):
    v = run_clean(lsb, java(WRONG))
    assert v.status is Status.FAILED and v.error == "java.lang.AssertionError", v.error
    assert v.detail["exit0_rule_passed"] is False


def test_runtime_exception_fails(lsb):
    v = run_clean(lsb, java(PROMPT + "        return Pair.with(a / (a - a), b);\n    }\n"))
    assert v.status is Status.FAILED and v.error == "java.lang.ArithmeticException: / by zero", v.error


def test_compile_error_is_its_own_status(lsb):
    v = run_clean(lsb, java(PROMPT + "        return Pair.with(a + b, a * b)\n    }\n"))
    assert v.status is Status.COMPILE_ERROR, (v.status, v.error)
    assert v.detail["reason"] == "compile_error" and "';' expected" in v.detail["compiler_tail"]
    assert v.error.startswith("compile error (exit 1): Problem.java:") and v.detail["exit0_rule_passed"] is False


def test_public_class_names_the_file(lsb):
    v = run_clean(lsb, java(GOOD.replace("class Problem {", "public class Problem {")))
    assert v.status is Status.PASSED, (v.error, v.detail)


def test_no_main_class_is_a_compile_error(lsb):
    v = run_clean(lsb, java(GOOD + "}\n", tests=""))
    assert v.status is Status.COMPILE_ERROR and "main" in v.error


def test_infinite_loop_times_out(lsb):
    v = run_clean(lsb, java(PROMPT + "        while (true) { }\n    }\n", timeout=2.0))
    assert v.status is Status.TIMEOUT


def test_memory_exhaustion_is_memory(lsb):
    code = PROMPT + (
        "        List<long[]> keep = new ArrayList<>();\n        while (true) keep.add(new long[1 << 20]);\n    }\n"
    )
    v = run_clean(lsb, java(code, timeout=20.0))
    assert v.status is Status.MEMORY, (v.status, v.error, v.stderr_tail[-400:])


def test_threads_fit_the_pids_limit(lsb):
    code = PROMPT + (
        "        List<Thread> ts = new ArrayList<>();\n"
        "        for (int i = 0; i < 16; i++) { Thread t = new Thread(() -> {}); t.start(); ts.add(t); }\n"
        "        for (Thread t : ts) { try { t.join(); } catch (InterruptedException e) { } }\n"
        "        return Pair.with(a + b, a * b);\n    }\n"
    )
    v = run_clean(lsb, java(code))
    assert v.status is Status.PASSED, (v.error, v.stderr_tail[-400:])


def test_stray_processes_are_killed(lsb):
    code = PROMPT + (
        '        try { new ProcessBuilder("/bin/sh", "-c", "sleep 100").start(); }\n'
        "        catch (IOException e) { throw new UncheckedIOException(e); }\n"
        "        return Pair.with(a + b, a * b);\n    }\n"
    )
    v = run_clean(lsb, java(code))
    assert v.status is Status.PASSED, (v.error, v.stderr_tail[-400:])
    assert v.detail["strays_killed"] >= 1


@pytest.mark.parametrize(
    "code",
    [
        PROMPT.replace("class Problem {", "class Problem {\n    static { System.exit(0); }")
        + "        return null;\n    }\n",
        PROMPT.replace(
            "class Problem {",
            "class Problem {\n    static int X = quit();\n    static int quit() { System.exit(0); return 0; }",
        )
        + "        return null;\n    }\n",
        PROMPT + "        System.exit(0);\n        return null;\n    }\n",  # in main, before the first assert completes
        PROMPT + "        Runtime.getRuntime().halt(0);\n        return null;\n    }\n",
        PROMPT + "        return Helper.answer(a, b);\n    }\n    static class Helper {\n"
        "        static { System.exit(0); }\n        static Pair<Long, Long> answer(long a, long b) { return null; }\n"
        "    }\n",
        PROMPT
        + '        System.out.println("All tests passed");\n        System.exit(0);\n        return null;\n    }\n',
    ],
)
def test_exit_before_the_tests_completed_fails(lsb, code):
    v = run_clean(lsb, java(code))
    assert_cheat_fails(v)
    assert v.error == "exited with code 0 before the tests completed"


def test_token_is_not_in_source_environment_or_fds(lsb):
    code = PROMPT + (
        "        StringBuilder all = new StringBuilder(System.getenv().toString());\n"
        '        for (String p : new String[]{"/tmp/Problem.java", "/tmp/AibenchLauncher__.java", '
        '"/proc/self/environ", "/proc/self/cmdline", "/proc/self/fd/4"}) {\n'
        "            try { all.append(new String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(p)))); }\n"
        "            catch (Exception e) { }\n        }\n"
        '        try (FileOutputStream out = new FileOutputStream("/proc/self/fd/3")) {\n'
        f'            java.util.regex.Matcher m = java.util.regex.Pattern.compile("{TOKEN_RE}").matcher(all);\n'
        "            while (m.find()) out.write(m.group().getBytes());\n"
        "        } catch (IOException e) { }\n        System.exit(0);\n        return null;\n    }\n"
    )
    v = run_clean(lsb, java(code))
    assert_cheat_fails(v)


def test_thread_exiting_nonzero_after_the_tests_fails(lsb):
    code = PROMPT + (
        "        if (a == 0) new Thread(() -> { try { Thread.sleep(300); } catch (Exception e) { }\n"
        "            System.exit(3); }).start();\n        return Pair.with(a + b, a * b);\n    }\n"
    )
    v = run_clean(lsb, java(code))
    assert v.status is Status.FAILED and v.detail["tests_completed"] is True and v.exit_code == 0
    assert v.detail["reason"] == "nonzero_exit_after_tests" and v.detail["exit0_rule_passed"] is False


def test_jvm_under_a_smaller_memory_limit():
    sb = make_sandbox(limits={"memory_bytes": 1 << 30})
    try:
        v = run_clean(sb, java(GOOD))
    finally:
        sb.close()
    assert v.status is Status.PASSED, (v.error, v.stderr_tail[-400:])
