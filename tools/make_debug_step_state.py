"""make_debug_step_state.py -- turn the step fixture's initial state into a mugs checkpoint + config file, so that
`mugs debug-step` can run the fixture's step and its output can be compared with the reference's.

Run:  ~/mugs-ref/bin/python tools/make_debug_step_state.py Tests/MugsModelTests/Fixtures/step_reduced.safetensors OUT
then  mugs debug-step --config OUT/config.yaml --state OUT/state \
          --crops Tests/MugsModelTests/Fixtures/step_reduced.safetensors --crops-prefix crops. --out OUT/next
and compare OUT/next/*.safetensors with the fixture's next.* / grad.* tensors and the printed losses with out.loss
(Tests/MugsModelTests/CheckpointDebugStepTests.swift does exactly this in Swift).

Writes the checkpoint format of Sources/MugsModel/Checkpoint/Checkpoint.swift: model.safetensors (student.<name>,
teacher.<name>), optimizer.safetensors (exp_avg.<name>, exp_avg_sq.<name>; metadata adam_steps), memory.safetensors
(queues, memories, center; metadata <name>_ptr) and state.json (schema_version 1, step, epoch, steps_per_epoch, seed,
config as YAML text).
"""
import json
import os
import sys

from safetensors import safe_open
from safetensors.torch import save_file


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(repr(float(x)) for x in v) + "]"
    return str(v)


def main(fixture, out):
    state = os.path.join(out, "state")
    os.makedirs(state, exist_ok=False)
    with safe_open(fixture, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys() if k.startswith("init.")}
    cfg = json.loads(meta["config"])
    config_text = "".join(f"{k}: {yaml_value(v)}\n" for k, v in cfg.items())
    with open(os.path.join(out, "config.yaml"), "w") as fh:
        fh.write("# config of tools/make_step_fixtures.py (reduced Mugs configuration)\n" + config_text)
    before = json.loads(meta["before"])
    model = {k[len("init."):]: v for k, v in tensors.items() if k.startswith(("init.student.", "init.teacher."))}
    optim = {k[len("init."):]: v for k, v in tensors.items() if k.startswith(("init.exp_avg.", "init.exp_avg_sq."))}
    names = ("instance_queue", "local_group_queue", "student_memory", "teacher_memory", "center")
    memory = {n: tensors["init." + n] for n in names}
    save_file(model, os.path.join(state, "model.safetensors"), metadata={"format": "mugs checkpoint model"})
    save_file(optim, os.path.join(state, "optimizer.safetensors"),
              metadata={"format": "mugs checkpoint optimizer", "adam_steps": json.dumps(before["adam_steps"])})
    save_file(memory, os.path.join(state, "memory.safetensors"),
              metadata={"format": "mugs checkpoint memory",
                        **{f"{n}_ptr": str(before[f"{n}_ptr"]) for n in names if n != "center"}})
    step, spe = int(meta["step"]), int(meta["steps_per_epoch"])
    with open(os.path.join(state, "state.json"), "w") as fh:
        json.dump({"schema_version": 1, "step": step, "epoch": step // spe, "steps_per_epoch": spe,
                   "seed": cfg.get("seed", 0), "config": config_text}, fh, indent=1, sort_keys=True)
    print(f"wrote {out}/config.yaml and {state}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
