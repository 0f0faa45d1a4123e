#!/usr/bin/env bash
# Build gt.worker._batcher / gt.worker._hotpath with AddressSanitizer and
# UndefinedBehaviorSanitizer and run their tests at full size.
#
# Like run_valgrind.sh, the modules go to a scratch directory beside an empty
# `gt` package (no torch, tests/conftest.py skipped).  The sanitizer runtimes
# are preloaded into the (uninstrumented) interpreter; PYTHONMALLOC=malloc
# lets ASan see every PyMem allocation.  Leak checking is left to
# run_valgrind.sh (LeakSanitizer reports the interpreter's own allocations).
# Any sanitizer report aborts the run with a non-zero status.
#
# Usage: tests/c/run_asan.sh [extra pytest args]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=$("${PYTHON:-python}" -c "import sys; print(sys.executable)")
CC=${CC:-gcc}
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/gt-asan.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cd "$ROOT"
CC="$CC" CFLAGS="-g $SAN" LDFLAGS="$SAN" "$PY" setup.py -q build_ext --force \
    --build-lib "$STAGE/lib" --build-temp "$STAGE/tmp" >"$STAGE/build.log" 2>&1 \
    || { cat "$STAGE/build.log"; exit 1; }
if grep -q "warning:" "$STAGE/build.log"; then
    grep "warning:" "$STAGE/build.log"
    echo "run_asan: compiler warnings (see above)"; exit 1
fi
touch "$STAGE/lib/gt/__init__.py" "$STAGE/lib/gt/worker/__init__.py"

PRELOAD="$($CC -print-file-name=libasan.so) $($CC -print-file-name=libubsan.so)"
cd "$STAGE/lib"
# Our build must shadow the in-place one (gt may be installed in editable mode);
# the tests check it through GT_EXPECT_EXT_DIR.
export PYTHONPATH="$STAGE/lib" GT_EXPECT_EXT_DIR="$STAGE/lib"
export PYTHONMALLOC=malloc
# Reports go to files: pytest captures fd 2, and a report printed there is
# lost when the sanitizer aborts the process.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$STAGE/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$STAGE/ubsan
LD_PRELOAD="$PRELOAD" "$PY" -c "import gt.worker._batcher as b, sys; \
assert b.__file__.startswith('$STAGE'), b.__file__; assert 'torch' not in sys.modules; \
print('run_asan: testing', b.__file__)"
set +e
LD_PRELOAD="$PRELOAD" "$PY" -m pytest -q -p no:cacheprovider --noconftest \
    "$ROOT/tests/test_batcher.py" "$ROOT/tests/test_hotpath.py" "$@"
rc=$?
set -e
if compgen -G "$STAGE/asan*" >/dev/null || compgen -G "$STAGE/ubsan*" >/dev/null; then
    cat "$STAGE"/asan* "$STAGE"/ubsan* 2>/dev/null || true   # one of the two may be missing
    echo "run_asan: sanitizer reports above"
    exit 1
fi
[ $rc -eq 0 ] && echo "run_asan: no AddressSanitizer/UBSan reports"
exit $rc
