#!/usr/bin/env python3
"""Tiny random DeepSeek-V3 checkpoints built by transformers, with reference logits.

Run on the GPU machine (it has torch and transformers), from the repository root:

    python3 scripts/reference/hf_deepseek_v3_fixtures.py [OUT_DIR]

OUT_DIR defaults to core/model/testdata/hf. For each variant it writes

    OUT_DIR/tiny_deepseek_v3[_fp8]/{config.json, model.safetensors, tokenizer.json}
    OUT_DIR/hf_deepseek_v3[_fp8].json   {"transformers", "architecture", "prompt", "logits", "greedy"}

Unlike hf_logits.py (which reads models written by `switchyard make-model`), the model here is
built by transformers itself, so the fixture also checks that Switchyard reads checkpoints laid
out as the published ones are:
  * tiny_deepseek_v3: q LoRA, YaRN rope with mscale, interleaved rope, grouped routing with a
    random e_score_correction_bias, a shared expert, one dense layer; bf16 weights (the
    correction bias in f32, as published).
  * tiny_deepseek_v3_fp8: q_lora_rank null (plain q_proj), and every layer projection stored as
    fp8 e4m3 with an f32 weight_scale_inv per 128x128 block plus quantization_config, as
    DeepSeek-V3's own checkpoint.
Experts are written one tensor per expert (mlp.experts.N.{gate,up,down}_proj.weight), the hub
format. The logits come from reloading the written files with from_pretrained (float32, eager,
CPU) and the load must report no missing or unexpected key, so the files and the logits cannot
disagree; for fp8 the reload reads the dequantized weights (transformers' fp8 path needs a GPU).
The tokenizer is core/model/testdata/hf/tokenizer_vocab512.json (vocab 512).
"""
import os
import shutil
import sys
import tempfile

import torch
import transformers

from hf_fixture_common import EOS, TOKENIZER, VOCAB, reference, write_checkpoint, write_fixture

FP8_BLOCK = 128


def make_config(q_lora_rank):
    config = transformers.DeepseekV3Config(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
        n_shared_experts=1, n_routed_experts=8, routed_scaling_factor=2.5,
        kv_lora_rank=16, q_lora_rank=q_lora_rank, qk_rope_head_dim=8, v_head_dim=16,
        qk_nope_head_dim=16, n_group=4, topk_group=2, num_experts_per_tok=2,
        first_k_dense_replace=1, norm_topk_prob=True, max_position_embeddings=4096,
        rms_norm_eps=1e-6, initializer_range=0.1, rope_interleave=True,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                         "original_max_position_embeddings": 1024, "beta_fast": 32.0,
                         "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
        bos_token_id=None, eos_token_id=EOS, tie_word_embeddings=False,
        attention_bias=False)
    config.architectures = ["DeepseekV3ForCausalLM"]
    return config


def random_model(config, seed):
    torch.manual_seed(seed)
    model = transformers.DeepseekV3ForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))  # so a norm that is not loaded shows
        for layer in model.model.layers:
            gate = getattr(layer.mlp, "gate", None)
            if gate is not None:
                gate.e_score_correction_bias.copy_(0.05 * torch.randn_like(gate.e_score_correction_bias))
    return model


def hub_state_dict(model):
    """The model's weights in f32 under the hub's names: one tensor per expert."""
    out = {}
    for name, t in model.state_dict().items():
        t = t.detach().float().contiguous()
        if name.endswith("mlp.experts.gate_up_proj"):  # [E, 2I, H]: gate rows, then up rows
            prefix = name[: -len("gate_up_proj")]
            inter = t.shape[1] // 2
            for e in range(t.shape[0]):
                out[f"{prefix}{e}.gate_proj.weight"] = t[e, :inter].contiguous()
                out[f"{prefix}{e}.up_proj.weight"] = t[e, inter:].contiguous()
        elif name.endswith("mlp.experts.down_proj"):  # [E, H, I]
            prefix = name[: -len("down_proj")]
            for e in range(t.shape[0]):
                out[f"{prefix}{e}.down_proj.weight"] = t[e].contiguous()
        else:
            out[name] = t
    return out


def is_fp8_weight(name):
    return name.startswith("model.layers.") and name.endswith("_proj.weight")


def quantize_fp8(w):
    """f32 [r, c] -> (e4m3 [r, c], f32 scale_inv [ceil(r/128), ceil(c/128)], dequantized f32)."""
    rows, cols = w.shape
    br, bc = -(-rows // FP8_BLOCK), -(-cols // FP8_BLOCK)
    scale = torch.ones(br, bc)
    q = torch.empty(rows, cols, dtype=torch.float8_e4m3fn)
    deq = torch.empty(rows, cols)
    for i in range(br):
        for j in range(bc):
            block = w[i * FP8_BLOCK:(i + 1) * FP8_BLOCK, j * FP8_BLOCK:(j + 1) * FP8_BLOCK]
            amax = block.abs().max().item()
            s = amax / 448.0 if amax > 0 else 1.0
            scale[i, j] = s
            qb = (block / scale[i, j]).to(torch.float8_e4m3fn)
            q[i * FP8_BLOCK:(i + 1) * FP8_BLOCK, j * FP8_BLOCK:(j + 1) * FP8_BLOCK] = qb
            deq[i * FP8_BLOCK:(i + 1) * FP8_BLOCK, j * FP8_BLOCK:(j + 1) * FP8_BLOCK] = \
                qb.float() * scale[i, j]
    return q, scale, deq


def bf16_variant(out_dir):
    config = make_config(q_lora_rank=32)
    weights = hub_state_dict(random_model(config, seed=0))
    stored = {k: (v if k.endswith("e_score_correction_bias") else v.to(torch.bfloat16))
              for k, v in weights.items()}
    directory = os.path.join(out_dir, "tiny_deepseek_v3")
    write_checkpoint(directory, config, stored)
    shutil.copy(TOKENIZER, os.path.join(directory, "tokenizer.json"))
    write_fixture(os.path.join(out_dir, "hf_deepseek_v3.json"), *reference(directory))


def fp8_variant(out_dir):
    config = make_config(q_lora_rank=None)
    weights = hub_state_dict(random_model(config, seed=1))
    stored, dequantized = {}, {}
    for name, w in weights.items():
        if is_fp8_weight(name):
            q, scale, deq = quantize_fp8(w)
            stored[name], stored[name + "_scale_inv"] = q, scale
            dequantized[name] = deq
        else:
            stored[name] = w if name.endswith("e_score_correction_bias") else w.to(torch.bfloat16)
            dequantized[name] = stored[name].float()
    directory = os.path.join(out_dir, "tiny_deepseek_v3_fp8")
    write_checkpoint(directory, config, stored,
                     {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                      "weight_block_size": [FP8_BLOCK, FP8_BLOCK]})
    shutil.copy(TOKENIZER, os.path.join(directory, "tokenizer.json"))
    with tempfile.TemporaryDirectory() as plain:  # the same weights, dequantized, for transformers
        write_checkpoint(plain, config, dequantized)
        write_fixture(os.path.join(out_dir, "hf_deepseek_v3_fp8.json"), *reference(plain))


def main(out_dir):
    bf16_variant(out_dir)
    fp8_variant(out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/model/testdata/hf")
