"""Inductor's CPU instruction-set probe, remembered in GT_CACHE_DIR (gt.worker.hotpath_cache.remember_vec_isa)."""
from __future__ import annotations

import pytest

from gt.worker import hotpath_cache

cpu_vec_isa = pytest.importorskip("torch._inductor.cpu_vec_isa")


@pytest.fixture
def probe(monkeypatch, tmp_path):
    """Inductor's probe replaced by a counting fake (no compiler runs), then wrapped by GT."""
    if not hotpath_cache._cpu_flags():
        pytest.skip("no /proc/cpuinfo flags: nothing is remembered on this platform")
    calls = []
    answers = {}

    def fake(isa, code):
        calls.append((str(isa), code))
        return answers.get(code, True)
    monkeypatch.setattr(cpu_vec_isa.VecISA, "check_build", fake)

    def install():
        monkeypatch.setattr(cpu_vec_isa.VecISA, "check_build", fake)
        monkeypatch.setattr(hotpath_cache, "_vec_isa_file", str(tmp_path / "vec_isa.json"))
        hotpath_cache.remember_vec_isa()
        return cpu_vec_isa.VecISA.check_build
    return calls, answers, install, tmp_path / "vec_isa.json"


def test_a_success_is_probed_once_across_processes(probe):
    calls, _, install, path = probe
    isa = cpu_vec_isa.VecAVX2()
    assert install()(isa, "code A") is True
    assert len(calls) == 1 and path.exists()
    check = install()   # a later process: the same answer without probing
    assert check(isa, "code A") is True
    assert len(calls) == 1
    assert check(isa, "code B") is True   # other code (an ISA's extra check): probed
    assert check(cpu_vec_isa.VecAVX512(), "code A") is True   # other build flags: probed
    assert len(calls) == 3


@pytest.mark.parametrize("code,corrupt,ok,probes", [
    ("bad", False, False, 2),     # a failure (or a probe that timed out) is asked again
    ("code A", True, True, 1),    # a corrupt file is probed once and rewritten
])
def test_failures_and_corrupt_files(probe, code, corrupt, ok, probes):
    calls, answers, install, path = probe
    answers["bad"] = False
    if corrupt:
        path.write_text("{not json")
    isa = cpu_vec_isa.VecAVX2()
    assert install()(isa, code) is ok
    assert install()(isa, code) is ok
    assert len(calls) == probes


def test_installed_once_per_process(probe):
    calls, _, install, path = probe
    check = install()
    hotpath_cache.remember_vec_isa()   # the next compile: nothing more is wrapped
    assert cpu_vec_isa.VecISA.check_build is check
