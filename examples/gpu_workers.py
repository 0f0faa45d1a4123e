"""``gt.gpu_workers(n)`` end to end: n workers (one per GPU, or CPU workers), n client processes
spread over them, and the same losses as the embedded worker gives.

    python examples/gpu_workers.py [n]

Prints each worker's device and pid, which worker each client got, and whether every
client's losses equal the embedded run's (on a 2-GPU H100 host: one worker per GPU,
the two clients on different workers, losses equal).
"""
import json
import os
import shutil
import subprocess
import sys

CLIENT = r"""
import json, sys, numpy as np, gt
gt.manual_seed(0)
rng = np.random.default_rng(0)
x = gt.from_numpy(rng.standard_normal((64, 8)).astype(np.float32))
y = gt.from_numpy(rng.standard_normal((64, 1)).astype(np.float32))
model = gt.nn.Sequential(gt.nn.Linear(8, 32), gt.nn.ReLU(), gt.nn.Linear(32, 1))
opt = gt.optim.SGD(model.parameters(), lr=0.05)
losses = []
for _ in range(30):
    opt.zero_grad(); loss = gt.nn.MSELoss()(model(x), y); loss.backward(); opt.step(); losses.append(loss.item())
w = gt.client.runtime.get_worker()
print(json.dumps({"worker": getattr(w, "worker_id", "embedded"), "device": str(w.device), "losses": losses}))
"""

if __name__ == "__main__":
    import gt
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    addr = gt.gpu_workers(n)
    stats = gt.debug.get_worker_stats()
    print("workers:", json.dumps({k: [v["device"], v["process"]["pid"]] for k, v in stats.items()}))
    env = {k: v for k, v in os.environ.items() if k != "GT_SERVER"}
    procs = [subprocess.Popen([sys.executable, "-c", CLIENT], env=dict(env, GT_SERVER=addr), stdout=subprocess.PIPE,
                              text=True) for _ in range(n)]
    outs = [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]
    if shutil.which("nvidia-smi"):
        print(subprocess.run(["nvidia-smi", "--query-compute-apps=pid,gpu_uuid,used_memory", "--format=csv"],
                             capture_output=True, text=True).stdout)
    emb = json.loads(subprocess.run([sys.executable, "-c", CLIENT], env=env, capture_output=True, text=True,
                                    timeout=300).stdout.strip().splitlines()[-1])
    print("clients on:", [o["worker"] for o in outs], "embedded device:", emb["device"])
    print("distinct workers:", len({o["worker"] for o in outs}) == n)
    print("losses equal embedded:", all(o["losses"] == emb["losses"] for o in outs), outs[0]["losses"][-1],
          emb["losses"][-1])
