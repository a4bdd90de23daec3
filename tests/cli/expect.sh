#!/usr/bin/env bash
# expect.sh CODE REGEX COMMAND...: runs COMMAND, passes when it exits with CODE and its output
# (stdout+stderr) matches the extended regex REGEX on some line.
set -u
want_code=$1 regex=$2
shift 2
out=$("$@" 2>&1)
code=$?
printf '%s\n' "$out"
if [ "$code" -ne "$want_code" ]; then
  echo "expect.sh: exit code $code, wanted $want_code" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
  echo "expect.sh: no line matches /$regex/" >&2
  exit 1
fi
