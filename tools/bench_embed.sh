#!/usr/bin/env bash
# Times `mugs embed` against the PyTorch reference forward (tools/ref_vit.py forward_knn) on the same weights and
# images, in the same run, and prints both rates, their ratio and the largest CLS difference.
# Usage: tools/bench_embed.sh [--mugs PATH] [--arch vit_small] [--images 64] [--size 224] [--batch 16] [--threads 2]
# Env:   PYTHON (default ~/mugs-ref/bin/python). Build first: swift build -c release --product mugs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mugs=$root/.build/release/mugs arch=vit_small images=64 size=224 batch=16 threads=2
while [ $# -gt 0 ]; do
    case $1 in
        --mugs) mugs=$2 ;; --arch) arch=$2 ;; --images) images=$2 ;; --size) size=$2 ;;
        --batch) batch=$2 ;; --threads) threads=$2 ;; *) echo "unknown option $1" >&2; exit 64 ;;
    esac
    shift 2
done
python=${PYTHON:-$HOME/mugs-ref/bin/python}
[ -x "$mugs" ] || { echo "no mugs executable at $mugs (swift build -c release --product mugs)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
torch_rate=$("$python" - "$root/tools" "$work" "$arch" "$images" "$size" "$batch" "$threads" <<'PY'
import sys, time, torch
tools, work, arch, n, size, batch, threads = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
sys.path.insert(0, tools)
import ref_vit
from safetensors.torch import save_file
torch.manual_seed(0)
torch.set_num_threads(threads)
model = getattr(ref_vit, arch)(patch_size=16, img_size=[224, 224]).eval()   # timm-style init, native 224
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{work}/weights.safetensors")
x = torch.randn(n, 3, size, size)
save_file({"images": x}, f"{work}/images.safetensors")
with torch.no_grad():
    model.forward_knn(x[:batch])                                                # warm-up
    start = time.time()
    cls = torch.cat([model.forward_knn(x[i:i + batch]) for i in range(0, n, batch)])
    seconds = time.time() - start
save_file({"cls": cls}, f"{work}/torch_cls.safetensors")
print(f"{n / seconds:.3f}")
PY
)
start=$(date +%s.%N)
"$mugs" embed --weights "$work/weights.safetensors" --arch "$arch" --tensor-input "$work/images.safetensors" \
    --out "$work/cls.safetensors" --batch "$batch" --threads "$threads" --quiet
end=$(date +%s.%N)
"$python" - "$work" "$images" "$start" "$end" "$torch_rate" "$arch" "$size" "$batch" "$threads" <<'PY'
import sys
from safetensors.torch import load_file
work, n, start, end, torch_rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
arch, size, batch, threads = sys.argv[6:]
mugs_rate = n / (end - start)
a, b = load_file(f"{work}/cls.safetensors")["cls"], load_file(f"{work}/torch_cls.safetensors")["cls"]
print(f"embed {arch}/16, {n} images {size}x{size}, batch {batch}, {threads} threads:")
print(f"  torch reference forward_knn: {torch_rate:.2f} img/s (compute only)")
print(f"  mugs embed:                  {mugs_rate:.2f} img/s (whole command: load, read, compute, write)")
print(f"  ratio mugs/torch: {mugs_rate / torch_rate:.2f}x;  max |cls difference| {(a - b).abs().max().item():.2e}")
PY
