#!/usr/bin/env bash
# The toolchains of the multi-language runners (aibench/sandboxes/languages/{javascript,java,cpp}.py)
# for `pytest -m extra`: node, a JDK (javac + java), the javatuples jar that MultiPL-E's Java
# prompts import (`import org.javatuples.*;`, Debian: /usr/share/java/javatuples.jar) and g++.
# Only what is missing is installed (Debian/Ubuntu packages); `python -m aibench.sandboxes.languages.toolchains`
# then checks the result the way a run's preflight does.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
{ command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; } || need+=(default-jdk-headless)
[ -f /usr/share/java/javatuples.jar ] || need+=(libjavatuples-java)
command -v g++ >/dev/null 2>&1 || need+=(g++)
if [ "${#need[@]}" -gt 0 ]; then
  echo "-- apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -d .venv ]; then . .venv/bin/activate; fi
python -m aibench.sandboxes.languages.toolchains javascript java cpp
