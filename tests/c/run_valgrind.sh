#!/usr/bin/env bash
# Rebuild gt.worker._batcher / gt.worker._hotpath with debug info and run their
# tests (tests/test_batcher.py, tests/test_hotpath.py) under valgrind memcheck.
#
# The modules are built into a scratch directory next to an empty `gt` package,
# so the run imports neither torch nor the rest of gt (tests/conftest.py is
# skipped with --noconftest).  GT_VALGRIND=1 shrinks the tests' long loops.
# Python itself produces valgrind noise; valgrind_filter.py keeps only the
# errors and definite leaks with a stack frame in our .so files and exits
# non-zero if there are any.
#
# Usage: tests/c/run_valgrind.sh [extra pytest args]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The real interpreter, not a wrapper script (pyenv shims exec python, and
# valgrind does not follow exec without --trace-children).
PY=$("${PYTHON:-python}" -c "import sys; print(sys.executable)")
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/gt-valgrind.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

cd "$ROOT"
CFLAGS="-g -fno-omit-frame-pointer" "$PY" setup.py -q build_ext --force \
    --build-lib "$STAGE/lib" --build-temp "$STAGE/tmp" >"$STAGE/build.log" 2>&1 \
    || { cat "$STAGE/build.log"; exit 1; }
if grep -q "warning:" "$STAGE/build.log"; then
    grep "warning:" "$STAGE/build.log"
    echo "run_valgrind: compiler warnings (see above)"; exit 1
fi
touch "$STAGE/lib/gt/__init__.py" "$STAGE/lib/gt/worker/__init__.py"

cd "$STAGE/lib"
# Our build must shadow the in-place one (gt may be installed in editable mode);
# the tests check it through GT_EXPECT_EXT_DIR.
export PYTHONPATH="$STAGE/lib" GT_EXPECT_EXT_DIR="$STAGE/lib"
"$PY" -c "import gt.worker._batcher as b, gt.worker._hotpath as h, sys; \
assert b.__file__.startswith('$STAGE') and h.__file__.startswith('$STAGE'), (b.__file__, h.__file__); \
assert 'torch' not in sys.modules; print('run_valgrind: testing', b.__file__, h.__file__)"

LOG="$STAGE/valgrind.log"
set +e
PYTHONMALLOC=malloc GT_VALGRIND=1 valgrind --tool=memcheck --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --track-origins=yes --num-callers=40 --log-file="$LOG" \
    "$PY" -m pytest -q -p no:cacheprovider --noconftest \
    "$ROOT/tests/test_batcher.py" "$ROOT/tests/test_hotpath.py" "$@"
rc=$?
set -e
if [ -n "${VALGRIND_LOG_COPY:-}" ]; then cp "$LOG" "$VALGRIND_LOG_COPY"; fi
"$PY" "$ROOT/tests/c/valgrind_filter.py" "$LOG" || rc=1
exit $rc
