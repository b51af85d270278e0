"""Writes the evaluation fixtures under Tests/MugsEvalTests/Fixtures/ (≈0.6 MB):

    ~/mugs-ref/bin/python tools/make_eval_fixtures.py      # from the repository root

* knn.safetensors — random clustered features and labels with the accuracies of the DINO/Mugs reference
  `knn_classifier` (facebookresearch/dino and sail-sg/mugs `eval_knn.py`, re-implemented below line by line: the
  train features transposed, `similarity.topk(k, sorted=True)`, one-hot votes weighted `exp(sim / T)`, classes
  ranked by `probs.sort(1, True)`, top-5 over the first min(5, k)). Keys: train [300, 16], train_labels [300],
  test [120, 16], test_labels [120] (labels as float32); metadata `results`: JSON list of {k, T, top1, top5,
  correct1, correct5} for k ∈ {1, 3, 5, 10, 20, 50, 300}, T ∈ {0.07, 0.5}, with num_classes = 7 (the classes
  present). Features are not normalised here: the reference normalises them before `knn_classifier`, and so does
  this script (so do mugs' tests). `tie_free`: no test row has equal k-th and (k+1)-th similarities, so `topk`'s
  unspecified tie order cannot matter; zero-vote classes that enter a top-5 are ranked by `torch.sort` as it does
  — mugs ranks equal votes by class index, and the script checks that torch agrees on this data (`sort_agrees`).
* export.safetensors — a custom ViT (embed 48, depth 3, heads 3, patch 4, img 32) under timm names
  (`param.<name>`), its relation block (`relation.<name>`, as a Mugs teacher has), images [4, 3, 32, 32] and the
  [CLS] features timm computes (`timm_cls` [4, 48]) after `timm.create_model('vit_small_patch16_224',
  num_classes=0, embed_dim=48, depth=3, num_heads=3, patch_size=4, img_size=32)` loaded the backbone with
  strict=True. Metadata `timm_keys`: JSON {timm call: [[name, shape], …]} of the state dicts timm builds for
  vit_tiny/small/base (patch 16, 224), vit_small patch 8 at 96 px, vit_tiny patch 4 at 32 px and the custom
  model — what `mugs export` must write, name for name.
* import_mugs.safetensors — the same backbone converted by tools/convert_pth.py from a .pth fabricated in the
  official Mugs layout ({"teacher": {"backbone.…", "backbone.relation_blocks.0.…", "instance_head.…"},
  "student": {"module.backbone.…"}, "epoch", "args"}); mugs must read it and give `timm_cls`.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import timm
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_pth  # noqa: E402

OUT = "Tests/MugsEvalTests/Fixtures"
CMD = "~/mugs-ref/bin/python tools/make_eval_fixtures.py"


@torch.no_grad()
def knn_classifier(train_features, train_labels, test_features, test_labels, k, T, num_classes):
    """The reference's knn_classifier, with a chunk size that works for any test count."""
    top1, top5, total = 0.0, 0.0, 0
    train_features = train_features.t()
    num_test_images, imgs_per_chunk = test_labels.shape[0], 17
    retrieval_one_hot = torch.zeros(k, num_classes)
    agrees = True
    for idx in range(0, num_test_images, imgs_per_chunk):
        features = test_features[idx: min(idx + imgs_per_chunk, num_test_images), :]
        targets = test_labels[idx: min(idx + imgs_per_chunk, num_test_images)]
        batch_size = targets.shape[0]
        similarity = torch.mm(features, train_features)
        distances, indices = similarity.topk(k, largest=True, sorted=True)
        candidates = train_labels.view(1, -1).expand(batch_size, -1)
        retrieved_neighbors = torch.gather(candidates, 1, indices)
        retrieval_one_hot.resize_(batch_size * k, num_classes).zero_()
        retrieval_one_hot.scatter_(1, retrieved_neighbors.view(-1, 1), 1)
        distances_transform = distances.clone().div_(T).exp_()
        probs = torch.sum(torch.mul(retrieval_one_hot.view(batch_size, -1, num_classes),
                                    distances_transform.view(batch_size, -1, 1)), 1)
        _, predictions = probs.sort(1, True)
        # mugs' rule: equal votes rank the lower class index first (a stable descending sort)
        _, stable = probs.sort(dim=1, descending=True, stable=True)
        m = min(5, k)
        for r in range(batch_size):
            t = int(targets[r])
            agrees &= (int((predictions[r, :m] == t).sum()) == int((stable[r, :m] == t).sum()))
        correct = predictions.eq(targets.data.view(-1, 1))
        top1 = top1 + correct.narrow(1, 0, 1).sum().item()
        top5 = top5 + correct.narrow(1, 0, min(5, k)).sum().item()
        total += targets.size(0)
    return top1 * 100.0 / total, top5 * 100.0 / total, int(top1), int(top5), agrees


def make_knn():
    g = torch.Generator().manual_seed(7)
    classes, C = 7, 16
    centres = torch.randn(classes, C, generator=g)
    def draw(n):
        labels = torch.randint(0, classes, (n,), generator=g)
        return centres[labels] + 1.3 * torch.randn(n, C, generator=g), labels
    train, train_labels = draw(300)
    test, test_labels = draw(120)
    a = torch.nn.functional.normalize(train, dim=1, p=2)
    b = torch.nn.functional.normalize(test, dim=1, p=2)
    sims = b @ a.t()
    # A tie matters only where it straddles a cut-off: the k-th and (k+1)-th similarities of a row.
    ordered = sims.sort(dim=1, descending=True).values
    tie_free = all(bool((ordered[:, k - 1] != ordered[:, k]).all()) for k in (1, 3, 5, 10, 20, 50))
    results, agrees_all = [], True
    for T in (0.07, 0.5):
        for k in (1, 3, 5, 10, 20, 50, 300):
            top1, top5, c1, c5, agrees = knn_classifier(a, train_labels, b, test_labels, k, T, classes)
            agrees_all &= agrees
            results.append({"k": k, "T": T, "top1": top1, "top5": top5, "correct1": c1, "correct5": c5})
    tensors = {"train": train.float(), "train_labels": train_labels.float(), "test": test.float(),
               "test_labels": test_labels.float()}
    meta = {"command": CMD, "torch": torch.__version__, "results": json.dumps(results), "num_classes": str(classes),
            "tie_free": str(tie_free).lower(), "sort_agrees": str(agrees_all).lower()}
    save_file(tensors, f"{OUT}/knn.safetensors", metadata=meta)
    print(f"knn: tie_free={tie_free} sort_agrees={agrees_all}; "
          + ", ".join(f"k={r['k']} T={r['T']}: {r['top1']:.2f}/{r['top5']:.2f}" for r in results[:7]))
    if not (tie_free and agrees_all):
        raise SystemExit("the kNN fixture has ties that make the reference's order matter; change the seed")


CUSTOM = "timm.create_model('vit_small_patch16_224', num_classes=0, embed_dim=48, depth=3, num_heads=3, " \
         "patch_size=4, img_size=32)"
KEY_CALLS = [
    "timm.create_model('vit_tiny_patch16_224', num_classes=0)",
    "timm.create_model('vit_small_patch16_224', num_classes=0)",
    "timm.create_model('vit_base_patch16_224', num_classes=0)",
    "timm.create_model('vit_small_patch16_224', num_classes=0, patch_size=8, img_size=96)",
    "timm.create_model('vit_tiny_patch16_224', num_classes=0, patch_size=4, img_size=32)",
    CUSTOM,
]


@torch.no_grad()
def make_export():
    torch.manual_seed(0)
    model = eval(CUSTOM, {"timm": timm}).eval()
    g = torch.Generator().manual_seed(1)
    state = {}
    for name, p in model.state_dict().items():
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
            v = 1 + 0.2 * torch.randn(p.shape, generator=g)
        elif p.dim() >= 2 and name not in ("cls_token", "pos_embed"):
            fan_in = int(np.prod(p.shape[1:]))
            v = torch.randn(p.shape, generator=g) / fan_in ** 0.5
        else:
            v = 0.3 * torch.randn(p.shape, generator=g)
        state[name] = v.float().contiguous()
    model.load_state_dict(state, strict=True)
    images = torch.randn(4, 3, 32, 32, generator=g)
    cls = model(images)
    tokens = model.forward_features(images)
    assert torch.allclose(cls, tokens[:, 0]), "timm's pooled output is not the normed [CLS] token"
    _, relation = convert_pth.fabricate(depth=0, C=48, heads=3, P=4, img=32, seed=3)
    keys = {}
    for call in KEY_CALLS:
        m = eval(call, {"timm": timm})
        keys[call] = [[n, list(t.shape)] for n, t in m.state_dict().items()]
    tensors = {**{"param." + k: v for k, v in state.items()},
               **{"relation." + k[len("relation_blocks.0."):]: v.float() for k, v in relation.items()},
               "images": images, "timm_cls": cls.contiguous()}
    meta = {"command": CMD, "torch": torch.__version__, "timm": timm.__version__, "timm_call": CUSTOM,
            "timm_keys": json.dumps(keys)}
    save_file(tensors, f"{OUT}/export.safetensors", metadata=meta)
    print(f"export: {len(state)} backbone tensors, timm cls {tuple(cls.shape)}, key lists for {len(keys)} calls")

    # Import: the same backbone in the official Mugs checkpoint layout → tools/convert_pth.py.
    with tempfile.TemporaryDirectory() as d:
        pth = os.path.join(d, "checkpoint.pth")
        teacher = {"backbone." + k: v for k, v in state.items()}
        teacher.update({"backbone." + k: v for k, v in relation.items()})
        teacher["instance_head.projector.0.weight"] = torch.randn(16, 48, generator=g)
        teacher["group_head.last_layer.weight_g"] = torch.ones(32, 1)
        student = {"module." + k: v + 0.5 for k, v in teacher.items()}
        torch.save({"student": student, "teacher": teacher, "epoch": 1, "args": argparse.Namespace(arch="custom")},
                   pth)
        out = f"{OUT}/import_mugs.safetensors"
        convert_pth.run(pth, out, heads=3, check=True, quiet=True)
    converted = load_file(out)
    for k, v in state.items():
        assert torch.equal(converted[k], v), k
    m2 = convert_pth.verify(out).eval()
    assert torch.equal(m2(images), cls)
    print(f"import: {out} converted from a fabricated Mugs checkpoint; timm strict load gives the same features")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    make_knn()
    make_export()


if __name__ == "__main__":
    main()
