#!/usr/bin/env python3
"""Independent numpy implementation of GPT-2's forward pass, the reference the Swift engine is checked against.

usage: gpt2_reference.py MODEL_DIR < sequences.json  (a JSON list of lists of token ids)
prints JSON: {"logits": [[...V floats per position...] per sequence], "loss": [mean next-token CE per sequence]}
Written from the GPT-2 paper / Hugging Face GPT2Model semantics, float64 throughout.
"""
import json, struct, sys
import numpy as np

def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16}[info["dtype"]]
        out[name.removeprefix("transformer.")] = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"]).astype(np.float64)
    return out

def layernorm(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b

def gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

def forward(p, cfg, ids):
    T, C, H = len(ids), cfg["n_embd"], cfg["n_head"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    x = p["wte.weight"][ids] + p["wpe.weight"][:T]
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    for l in range(cfg["n_layer"]):
        g = lambda k: p[f"h.{l}.{k}"]
        h = layernorm(x, g("ln_1.weight"), g("ln_1.bias"), eps)
        q, k, v = np.split(h @ g("attn.c_attn.weight") + g("attn.c_attn.bias"), 3, axis=-1)
        heads = []
        for i in range(H):
            s = slice(i * C // H, (i + 1) * C // H)
            a = q[:, s] @ k[:, s].T / np.sqrt(C // H)
            a[mask] = -np.inf
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            heads.append(a @ v[:, s])
        x = x + np.concatenate(heads, -1) @ g("attn.c_proj.weight") + g("attn.c_proj.bias")
        h = layernorm(x, g("ln_2.weight"), g("ln_2.bias"), eps)
        x = x + gelu(h @ g("mlp.c_fc.weight") + g("mlp.c_fc.bias")) @ g("mlp.c_proj.weight") + g("mlp.c_proj.bias")
    x = layernorm(x, p["ln_f.weight"], p["ln_f.bias"], eps)
    return x @ p["wte.weight"].T

def main():
    d = sys.argv[1]
    cfg = json.load(open(f"{d}/config.json"))
    p = load_safetensors(f"{d}/model.safetensors")
    logits, losses = [], []
    for ids in json.load(sys.stdin):
        z = forward(p, cfg, np.array(ids))
        logits.append(z.tolist())
        if len(ids) > 1:
            zz = z[:-1]
            m = zz.max(-1, keepdims=True)
            lse = (m + np.log(np.exp(zz - m).sum(-1, keepdims=True)))[:, 0]
            losses.append(float((lse - zz[np.arange(len(ids) - 1), ids[1:]]).mean()))
        else:
            losses.append(0.0)
    json.dump({"logits": logits, "loss": losses}, sys.stdout)

if __name__ == "__main__":
    main()
