"""Tutorial-style PyTorch scripts (examples/*.py, written with ``import torch``) print
PyTorch's numbers when ``import torch`` becomes ``import gt as torch``.

Each script runs twice in subprocesses, as written and with its torch imports rewritten to
gt's; every number the two print must be equal: exactly in GT's default (eager) mode, to
float32 tolerance when the worker compiles.
"""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devices import ON_GPU

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ["polynomial_fit.py", "two_layer_net.py", "classifier.py", "attention.py", "minibatch.py", "reinforce.py",
             "dcgan.py", "word_language_model.py", "mnist_cnn.py", "vae.py", "regression.py"]
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
_IMPORT = re.compile(r"^(\s*)(import|from) torch\b(\S*)(.*)$", re.MULTILINE)


def as_gt(source: str) -> str:
    """The script with its torch imports turned into gt's (``import torch`` -> ``import gt as torch``)."""
    def rewrite(m: re.Match) -> str:
        indent, keyword, submodule, rest = m.groups()
        if keyword == "import" and not submodule and not rest.strip().startswith("as"):
            return f"{indent}import gt as torch{rest}"
        return f"{indent}{keyword} gt{submodule}{rest}"
    return _IMPORT.sub(rewrite, source)


def _start(script: Path, hide_gpus: bool = False, **env_vars) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    if hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    # One intra-op thread: both runs reduce in the same order, and stay quick on a busy machine.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(env_vars, OMP_NUM_THREADS="1", PYTHONPATH=path, GT_CACHE_DIR="")   # never the user's cache
    return subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# Appended to the gt run: the worker's operation and compilation counts, on stderr (stdout holds the numbers).
_REPORT_STATS = ("\nimport sys\n_stats = torch.debug.get_worker().get_stats()\n"
                 "_stats['operations']['compile_failures'] = _stats['compilation']['compile_failures']\n"
                 "print('GT_OPS', _stats['operations'], file=sys.stderr)\n")
# Put before the gt run where counts must not depend on the machine's timings: a compiled pattern is
# never judged against eager runs (nor reverted to eager, as one slower than eager would be).
_NEVER_REVERT = "import gt.worker.policy\ngt.worker.policy.REVERT_SAMPLES = 0\n"


def _output(proc: subprocess.Popen, name: str) -> tuple[list[float], str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{err[-3000:]}"
    numbers = [float(x) for x in _NUMBER.findall(out)]
    assert numbers, f"{name} printed no numbers"
    return numbers, err


def _run_both(name: str, tmp_path: Path, prelude: str = "", **gt_env) -> tuple[list[float], list[float], dict]:
    """Both runs' printed numbers, and the gt run's operation counts (and compile failures); ``prelude``
    goes before the gt run's script.  torch's run is on the CPU, the GPUs hidden from it: scripts that
    pick "cuda" where it is available would draw dropout masks and randn_like with CUDA's generator,
    while GT draws with torch's CPU generator whatever its worker's device (as gt.cuda says)."""
    script = ROOT / "examples" / name
    gt_script = tmp_path / name
    gt_script.write_text(prelude + as_gt(script.read_text()) + _REPORT_STATS)
    torch_proc, gt_proc = _start(script, hide_gpus=True), _start(gt_script, **gt_env)   # side by side
    torch_numbers, _ = _output(torch_proc, name)
    gt_numbers, err = _output(gt_proc, f"{name} under gt")
    ops = ast.literal_eval(re.search(r"^GT_OPS (.*)$", err, re.MULTILINE).group(1))
    return torch_numbers, gt_numbers, ops


def test_import_rewriting():
    src = "import math\nimport torch\nimport torch.nn as nn\nfrom torch import optim\nimport torch.nn.functional as F\n"
    assert as_gt(src) == ("import math\nimport gt as torch\nimport gt.nn as nn\nfrom gt import optim\n"
                          "import gt.nn.functional as F\n")


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_prints_pytorchs_numbers(name, tmp_path):
    """Exactly torch's numbers where GT's worker runs on the CPU, as the scripts' torch does; on a GPU
    (cuBLAS and CPU BLAS round differently, and training steps carry the difference on) to 1e-3."""
    torch_numbers, gt_numbers, ops = _run_both(name, tmp_path)
    if ON_GPU:
        assert gt_numbers == pytest.approx(torch_numbers, rel=1e-3, abs=1e-4)
    else:
        assert gt_numbers == torch_numbers
    assert ops["total"] > 0 and ops["compiled"] == 0


def test_tutorial_compiled_prints_pytorchs_numbers_to_float32_tolerance(tmp_path):
    torch_numbers, gt_numbers, ops = _run_both("minibatch.py", tmp_path, _NEVER_REVERT, GT_AUTO_COMPILE="1",
                                               GT_HOTPATH_THRESHOLD="2")
    assert gt_numbers == pytest.approx(torch_numbers, rel=1e-4, abs=1e-6)
    assert ops["compile_failures"] == 0
    assert ops["compiled"] > ops["eager"]          # the steady loop ran compiled
