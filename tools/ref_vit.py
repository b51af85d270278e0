"""Reference Vision Transformer of Mugs, re-implemented in PyTorch for parity fixtures and reference training steps.

It follows sail-sg/mugs `src/vision_transformer.py` (itself derived from timm): the same module tree and therefore
the same state-dict names (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.{norm1,attn.qkv,attn.proj,norm2,
mlp.fc1,mlp.fc2}.*`, `norm.*`, `relation_blocks.N.*`), the same numerics and the same control flow:

* patch embedding: Conv2d(in_chans, C, kernel=stride=patch), flattened to tokens in row-major grid order;
* [CLS] token prepended, learned position embedding added; for another grid it is resized by
  `interpolate_pos_encoding`: bicubic (align_corners=False) with **scale_factor** ((h0+0.1)/√N, (w0+0.1)/√N) — torch
  maps output to input coordinates with that scale factor, not with the size ratio (DINO issue #8);
* pre-norm blocks `x = x + drop_path(attn(norm1(x))); x = x + drop_path(mlp(norm2(x)))` with qkv bias, softmax
  attention scaled by head_dim^-0.5 after q·kᵀ, exact-erf GELU, LayerNorm eps 1e-6 for the vit_* presets;
* stochastic depth rate linspace(0, drop_path_rate, depth)[i] for block i; the reference builds
  relation block i with the same dpr[i]; the one DropPath module of a block is called twice per forward, so the
  attention and the MLP branch draw **independent** masks;
* final LayerNorm `norm`; `forward` returns (x[:, 0] or all tokens, relation_out) like the reference, where the
  relation path runs the relation blocks over [mean of the pre-norm tokens; its neighbours from the memory] and
  takes token 0 through `norm`.

Additions for parity tests (no effect unless used): `set_drop_path_masks(masks)` fixes the drop-path keep masks
(tensor [depth, 2, B] of 0/1: block, branch 0 = attention / 1 = MLP, sample) instead of drawing them;
`forward_features(x)` returns (normed tokens, pre-norm tokens).

Written for this project from the reference's description; it imports nothing from timm.
"""
import math
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F


class DropPath(nn.Module):
    """Stochastic depth per sample: y / keep_prob · mask_b with mask_b ~ Bernoulli(keep_prob), in training only.

    `keep_masks` may be a list of [B] 0/1 tensors consumed in call order (one per call of the module), which is
    how a block's two branches get the fixture's two masks; otherwise masks are drawn as the reference does.
    """

    def __init__(self, drop_prob):
        super().__init__()
        self.drop_prob = drop_prob
        self.keep_masks = None
        self._calls = 0

    def forward(self, x):
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep_prob = 1.0 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        if self.keep_masks is not None:
            mask = self.keep_masks[self._calls % len(self.keep_masks)].to(x.dtype).reshape(shape)
            self._calls += 1
        else:
            mask = torch.floor(keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device))
        return x.div(keep_prob) * mask


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features, act_layer=nn.GELU, drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias=False, qk_scale=None, attn_drop=0.0, proj_drop=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x):
        B, N, C = x.shape
        # qkv(B, N, 3C) → (3, B, heads, N, head_dim)
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)   # (B, heads, N, N)
        attn = self.attn_drop(attn)
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out)), attn


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=False, qk_scale=None, drop=0.0, attn_drop=0.0,
                 drop_path=0.0, act_layer=nn.GELU, norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer, drop)

    def forward(self, x, return_attention=False):
        y, attn = self.attn(self.norm1(x))
        if return_attention:
            return attn
        x = x + self.drop_path(y)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


class PatchEmbed(nn.Module):
    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768):
        super().__init__()
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)   # (B, C, h, w) → (B, h·w, C)


class VisionTransformer(nn.Module):
    def __init__(self, img_size=(224, 224), patch_size=16, in_chans=3, num_classes=0, embed_dim=768, depth=12,
                 num_heads=12, mlp_ratio=4.0, qkv_bias=False, qk_scale=None, drop_rate=0.0, attn_drop_rate=0.0,
                 drop_path_rate=0.0, norm_layer=nn.LayerNorm, num_relation_blocks=0, **kwargs):
        super().__init__()
        self.num_features = self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.num_classes = num_classes
        self.depth = depth
        self.patch_embed = PatchEmbed(img_size[0], patch_size, in_chans, embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(p=drop_rate)
        dpr = [v.item() for v in torch.linspace(0, drop_path_rate, depth)]
        self.drop_path_rates = dpr

        def block(rate):
            return Block(embed_dim, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate, rate,
                         norm_layer=norm_layer)

        self.blocks = nn.ModuleList([block(dpr[i]) for i in range(depth)])
        self.norm = norm_layer(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.num_relation_blocks = num_relation_blocks
        if num_relation_blocks > 0:
            self.relation_blocks = nn.ModuleList([block(dpr[i]) for i in range(int(num_relation_blocks))])
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def set_drop_path_masks(self, masks):
        """masks: [depth, 2, B] 0/1 (block, branch 0 attention / 1 MLP, sample), or None to draw them."""
        for i, blk in enumerate(self.blocks):
            if isinstance(blk.drop_path, DropPath):
                blk.drop_path.keep_masks = None if masks is None else [masks[i, 0], masks[i, 1]]
                blk.drop_path._calls = 0

    def interpolate_pos_encoding(self, x, w, h):
        """Position embedding for the token count of x; w, h are the image's dims 2 and 3 (the reference's names)."""
        npatch = x.shape[1] - 1
        N = self.pos_embed.shape[1] - 1
        if npatch == N and w == h:
            return self.pos_embed
        class_pos_embed = self.pos_embed[:, 0]
        patch_pos_embed = self.pos_embed[:, 1:]
        dim = x.shape[-1]
        side = int(math.sqrt(N))
        w0 = w // self.patch_embed.patch_size + 0.1
        h0 = h // self.patch_embed.patch_size + 0.1
        grid = patch_pos_embed.reshape(1, side, side, dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)), mode="bicubic")
        assert int(w0) == grid.shape[-2] and int(h0) == grid.shape[-1]
        patch_pos_embed = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)

    def prepare_tokens(self, x):
        B, nc, w, h = x.shape
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        x = x + self.interpolate_pos_encoding(x, w, h)
        return self.pos_drop(x)

    def forward_features(self, x):
        """(normed tokens, pre-norm tokens), both (B, T, C)."""
        x = self.prepare_tokens(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), x

    def forward(self, x, return_all=False, local_group_memory_inputs=None, **kwargs):
        x = self.prepare_tokens(x)
        for blk in self.blocks:
            x = blk(x)
        relation_out = None
        if self.num_relation_blocks > 0:
            mem = (local_group_memory_inputs or {}).get("mem")
            if mem is not None:
                query = x.mean(1)                       # mean of all pre-norm tokens (B, C)
                neighbours, _ = mem(query)              # (B, k, C)
                rx = torch.cat((query.unsqueeze(1), neighbours), dim=1)
            else:
                rx = x
            for blk in self.relation_blocks:
                rx = blk(rx)
            relation_out = self.norm(rx[:, 0])
        x = self.norm(x)
        if self.num_classes > 0:
            return self.head(x[:, 0])
        return (x, relation_out) if return_all else (x[:, 0], relation_out)

    def forward_knn(self, x):
        """The [CLS] token after the final norm: the kNN / `mugs embed` feature."""
        return self.forward_features(x)[0][:, 0]


def _vit(embed_dim, depth, num_heads, patch_size=16, **kwargs):
    return VisionTransformer(patch_size=patch_size, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                             mlp_ratio=4, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), **kwargs)


def vit_tiny(patch_size=16, **kwargs):
    return _vit(192, 12, 3, patch_size, **kwargs)


def vit_small(patch_size=16, **kwargs):
    return _vit(384, 12, 6, patch_size, **kwargs)


def vit_base(patch_size=16, **kwargs):
    return _vit(768, 12, 12, patch_size, **kwargs)


def vit_large(patch_size=16, **kwargs):
    return _vit(1024, 24, 16, patch_size, **kwargs)
