#!/usr/bin/env python3
"""Tiny random gpt-oss checkpoints built by transformers, with reference logits.

Run on the GPU machine (it has torch and transformers), from the repository root:

    python3 scripts/reference/hf_gpt_oss_fixtures.py [OUT_DIR]

OUT_DIR defaults to core/model/testdata/hf. For each variant it writes

    OUT_DIR/tiny_gpt_oss[_mxfp4]/{config.json, model.safetensors, tokenizer.json}
    OUT_DIR/hf_gpt_oss[_mxfp4].json   {"transformers", "architecture", "prompt", "logits", "greedy"}

The model has both layer types (sliding window 4, so the 8-token prompt runs past it, then full
attention), random sinks and random biases everywhere (q/k/v/o, router, experts), YaRN rope
(factor 32, truncate false), and enough weight scale that the clamped SwiGLU's limit is reached.
  * tiny_gpt_oss: bf16, the fused expert tensors transformers saves (gate_up_proj [E, H, 2I]
    with gate and up interleaved, down_proj [E, I, H]).
  * tiny_gpt_oss_mxfp4: the experts as OpenAI publishes them, MXFP4 (gate_up_proj_blocks
    [E, 2I, H/32, 16] + _scales, down_proj_blocks + _scales) with quantization_config; the
    script's packing is checked against transformers' own convert_moe_packed_tensors, and the
    reference reloads the dequantized weights (transformers' MXFP4 kernels need a GPU).
Logits come from reloading the written files with from_pretrained (float32, eager, CPU), which must
report no missing or unexpected key.
"""
import os
import shutil
import sys
import tempfile

import torch
import transformers
from transformers.integrations.mxfp4 import FP4_VALUES, convert_moe_packed_tensors

from hf_fixture_common import EOS, TOKENIZER, VOCAB, reference, write_checkpoint, write_fixture


def make_config():
    config = transformers.GptOssConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_local_experts=8,
        num_experts_per_tok=2, sliding_window=4, max_position_embeddings=4096,
        rms_norm_eps=1e-5, initializer_range=0.1, attention_bias=True,
        rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0, "factor": 32.0,
                         "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False,
                         "original_max_position_embeddings": 128},
        eos_token_id=EOS, pad_token_id=EOS + 1, tie_word_embeddings=False)
    config.architectures = ["GptOssForCausalLM"]
    return config


def random_model(config, seed):
    torch.manual_seed(seed)
    model = transformers.GptOssForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif name.endswith("bias") or name.endswith("sinks"):
                p.copy_(0.5 * torch.randn_like(p))
            elif "experts" in name:
                p.copy_(0.3 * torch.randn_like(p))  # large enough that |gate| passes the limit
    return model


def quantize_mxfp4(fused):
    """transformers' [E, in, out] f32 -> (blocks u8 [E, out, in/32, 16], scales u8 [E, out, in/32])."""
    w = fused.transpose(1, 2).contiguous()  # [E, out, in]
    e, out, inp = w.shape
    blocks = w.reshape(e, out, inp // 32, 32)
    amax = blocks.abs().amax(dim=-1)
    exponent = torch.where(amax > 0, torch.ceil(torch.log2(amax / 6.0)), torch.full_like(amax, -127))
    exponent = exponent.clamp(-127, 127)
    scaled = blocks / torch.ldexp(torch.ones_like(amax), exponent.int())[..., None]
    lut = torch.tensor(FP4_VALUES)
    codes = (scaled[..., None] - lut).abs().argmin(dim=-1).to(torch.uint8)  # [E, out, G, 32]
    packed = codes[..., 0::2] | (codes[..., 1::2] << 4)
    return packed.contiguous(), (exponent + 127).to(torch.uint8).contiguous()


def dequantize_mxfp4(blocks, scales):
    """-> transformers' [E, in, out] f32, by transformers' own converter."""
    return convert_moe_packed_tensors(blocks, scales, dtype=torch.float32)


def weights_of(model):
    return {name: t.detach().float().contiguous() for name, t in model.state_dict().items()}


def bf16_variant(out_dir):
    config = make_config()
    weights = weights_of(random_model(config, seed=0))
    stored = {k: v.to(torch.bfloat16) for k, v in weights.items()}
    directory = os.path.join(out_dir, "tiny_gpt_oss")
    write_checkpoint(directory, config, stored)
    shutil.copy(TOKENIZER, os.path.join(directory, "tokenizer.json"))
    write_fixture(os.path.join(out_dir, "hf_gpt_oss.json"), *reference(directory))


def mxfp4_variant(out_dir):
    config = make_config()
    weights = weights_of(random_model(config, seed=1))
    stored, dequantized = {}, {}
    for name, w in weights.items():
        if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
            blocks, scales = quantize_mxfp4(w)
            stored[name + "_blocks"], stored[name + "_scales"] = blocks, scales
            dequantized[name] = dequantize_mxfp4(blocks, scales)
            assert dequantized[name].shape == w.shape, (name, dequantized[name].shape, w.shape)
            error = (dequantized[name] - w).abs().max().item() / w.abs().max().item()
            assert error < 0.2, f"{name}: MXFP4 round trip error {error}"
        else:
            stored[name] = w.to(torch.bfloat16)
            dequantized[name] = stored[name].float()
    directory = os.path.join(out_dir, "tiny_gpt_oss_mxfp4")
    write_checkpoint(directory, config, stored,
                     {"quant_method": "mxfp4",
                      "modules_to_not_convert": ["model.layers.*.self_attn",
                                                 "model.layers.*.mlp.router",
                                                 "model.embed_tokens", "lm_head"]})
    shutil.copy(TOKENIZER, os.path.join(directory, "tokenizer.json"))
    with tempfile.TemporaryDirectory() as plain:  # the same weights, dequantized
        write_checkpoint(plain, config, dequantized)
        write_fixture(os.path.join(out_dir, "hf_gpt_oss_mxfp4.json"), *reference(plain))


def main(out_dir):
    bf16_variant(out_dir)
    mxfp4_variant(out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "core/model/testdata/hf")
