#!/usr/bin/env bash
# Creates the PyTorch/timm/torchvision reference venv used by the fixture generators and the reference
# benchmarks, outside the repository (default ~/mugs-ref). Usage: tools/setup_reference_venv.sh [DIR]
#
# torch: a CPU wheel from /opt/wheels when the machine ships one (PyPI's default torch pulls CUDA
# libraries), else PyPI's. torchvision is installed without dependencies at the version built for that
# torch; if its compiled ops cannot load (a CUDA build beside a CPU torch), a sitecustomize lets the
# pure-Python transforms import anyway — the fixtures use only PIL-based transforms, never those ops.
set -euo pipefail
venv=${1:-$HOME/mugs-ref}
python3 -m venv "$venv"
pip="$venv/bin/pip"
wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -1 || true)
if [ -n "$wheel" ]; then "$pip" install -q "$wheel"; else "$pip" install -q torch; fi
tv=$("$venv/bin/python" - <<'PY'
import torch
major, minor = (int(x) for x in torch.__version__.split(".")[:2])
print(f"0.{minor + 15}.*")   # torchvision 0.(m+15) pairs with torch 2.m
PY
)
"$pip" install -q --no-deps "torchvision==$tv" timm
"$pip" install -q numpy safetensors pillow pyyaml huggingface_hub
site=$("$venv/bin/python" -c "import site; print(site.getsitepackages()[0])")
cat > "$site/sitecustomize.py" <<'PY'
# mugs reference venv: tolerate torchvision's compiled ops being unavailable (CUDA build beside CPU torch).
import importlib.abc, sys
class _TolerantTorchvisionOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch.library" or name == "torch":
            return None
        if name.startswith("torchvision") and "torch.library" in sys.modules and not getattr(self, "_done", False):
            self._done = True
            import torch.library as tl
            for fn in ("register_fake", "register_autograd"):
                orig = getattr(tl, fn)
                def tolerant(op, *a, _orig=orig, **k):
                    quiet = isinstance(op, str) and op.startswith("torchvision::")
                    try:
                        r = _orig(op, *a, **k)
                    except RuntimeError:
                        if quiet: return None if a else (lambda f: f)
                        raise
                    if quiet and callable(r) and not a:
                        def deco(f, _r=r):
                            try: return _r(f)
                            except RuntimeError: return f
                        return deco
                    return r
                setattr(tl, fn, tolerant)
        return None
sys.meta_path.insert(0, _TolerantTorchvisionOps())
PY
"$venv/bin/python" -c "import torch, torchvision, timm; from torchvision import transforms; print('reference venv ok:', torch.__version__, torchvision.__version__, timm.__version__)"
