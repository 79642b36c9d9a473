#!/usr/bin/env python3
"""Trains Switchyard's built-in model: a small Qwen3-MoE on the Python documentation.

Runs on the GPU machine (torch, transformers and tokenizers exist there), on the corpus
written by prepare_corpus.py:

    python3 scripts/builtin_model/train.py CORPUS_DIR OUT_DIR

1. Trains a byte-level BPE tokenizer with Hugging Face `tokenizers`, in the Qwen2/Qwen3 format
   (NFC, the Qwen2 split regex, ByteLevel, ChatML special tokens at the end of the vocabulary).
2. Trains a Qwen3MoeForCausalLM (transformers) with the router's load-balancing loss, keeping
   the weights with the best held-out loss.
3. Writes OUT_DIR/model/{config.json, generation_config.json, tokenizer.json,
   model.safetensors} with the per-expert tensor names of Hugging Face checkpoints, in bf16,
   and checks that transformers reloads them to the same logits.
4. Writes the fixtures Switchyard's tests compare against: OUT_DIR/tokenizer_ids.json (ids HF
   tokenizers gives for held-out text) and OUT_DIR/logits.json (transformers' logits and
   greedy continuation of a prompt), plus OUT_DIR/train_log.json (held-out perplexity).
"""
import json
import math
import pathlib
import sys
import tempfile
import time

import torch
import transformers
from safetensors.torch import load_file, save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB = 4096
SEQ = 256
BATCH = 64
MAX_STEPS = 1200
MAX_SECONDS = 300
EVAL_EVERY = 200
PROMPTS = ["The list type", "A dictionary is", "To open a file", "def fibonacci(n):"]


def train_tokenizer(train_path: pathlib.Path) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - len(SPECIALS), min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train([str(train_path)], trainer)
    tok.add_special_tokens(SPECIALS)
    return tok


def token_stream(tok: Tokenizer, path: pathlib.Path, eos: int) -> torch.Tensor:
    ids = []
    docs = path.read_text(encoding="utf-8").split("\n\n\n")
    for enc in tok.encode_batch(docs, add_special_tokens=False):
        ids.extend(enc.ids)
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


def model_config(vocab: int, eos: int) -> dict:
    # The field set of Qwen3-MoE's published config.json, so both transformers and Switchyard
    # read it as they read real checkpoints.
    return {
        "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
        "vocab_size": vocab, "hidden_size": 256, "intermediate_size": 512,
        "moe_intermediate_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 64, "hidden_act": "silu",
        "max_position_embeddings": 1024, "rope_theta": 10000.0, "rope_scaling": None,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "attention_bias": False,
        "attention_dropout": 0.0, "num_experts": 8, "num_experts_per_tok": 2,
        "norm_topk_prob": True, "decoder_sparse_step": 1, "mlp_only_layers": [],
        "output_router_logits": False, "router_aux_loss_coef": 0.01,
        "use_sliding_window": False, "sliding_window": None, "max_window_layers": 4,
        "initializer_range": 0.02, "use_cache": True,
        "bos_token_id": eos, "eos_token_id": eos, "torch_dtype": "bfloat16",
    }


@torch.no_grad()
def heldout_loss(model, ids: torch.Tensor) -> float:
    """Mean next-token NLL over non-overlapping SEQ-token windows of the held-out stream."""
    model.eval()
    n = (len(ids) - 1) // SEQ
    windows = ids[: n * SEQ].view(n, SEQ).cuda()
    total, count = 0.0, 0
    for chunk in windows.split(64):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(chunk).logits.float()
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1), reduction="sum")
        total += loss.item()
        count += chunk[:, 1:].numel()
    model.train()
    return total / count


def train(model, train_ids: torch.Tensor, heldout_ids: torch.Tensor, log: dict) -> dict:
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = 100
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / warmup) * (
        0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, s / MAX_STEPS)))))
    gen = torch.Generator().manual_seed(0)
    best, best_state, start = float("inf"), None, time.time()
    data = train_ids.cuda()
    for step in range(1, MAX_STEPS + 1):
        starts = torch.randint(0, len(train_ids) - SEQ - 1, (BATCH,), generator=gen)
        batch = torch.stack([data[s: s + SEQ + 1] for s in starts.tolist()])
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(batch[:, :-1], labels=batch[:, :-1].clone(), output_router_logits=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        opt.zero_grad(set_to_none=True)
        done = time.time() - start > MAX_SECONDS
        if step % EVAL_EVERY == 0 or step == MAX_STEPS or done:
            loss = heldout_loss(model, heldout_ids)
            log["evals"].append({"step": step, "train_loss": round(out.loss.item(), 4),
                                 "heldout_loss": round(loss, 4), "seconds": round(time.time() - start, 1)})
            print(log["evals"][-1], flush=True)
            if loss < best:
                best = loss
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if done:
            break
    log["steps"] = step
    log["train_tokens_seen"] = step * BATCH * SEQ
    return best_state


def per_expert_tensors(state: dict, cfg: dict) -> dict:
    """Hugging Face checkpoint names: one gate/up/down matrix per expert."""
    out, inter, hidden = {}, cfg["moe_intermediate_size"], cfg["hidden_size"]
    for name, t in state.items():
        if name.endswith("experts.gate_up_proj"):
            prefix = name[: -len("gate_up_proj")]
            if t.shape[1:] == (hidden, 2 * inter):
                t = t.transpose(1, 2)
            for e in range(t.shape[0]):
                out[f"{prefix}{e}.gate_proj.weight"] = t[e, :inter].contiguous()
                out[f"{prefix}{e}.up_proj.weight"] = t[e, inter:].contiguous()
        elif name.endswith("experts.down_proj"):
            prefix = name[: -len("down_proj")]
            if t.shape[1:] == (inter, hidden):
                t = t.transpose(1, 2)
            for e in range(t.shape[0]):
                out[f"{prefix}{e}.down_proj.weight"] = t[e].contiguous()
        elif name != "lm_head.weight" or not cfg["tie_word_embeddings"]:
            out[name] = t.contiguous()
    return out


def write_model(model, cfg: dict, tok: Tokenizer, eos: int, out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        state = {}
        for f in sorted(pathlib.Path(tmp).glob("*.safetensors")):
            state.update(load_file(str(f)))
    tensors = {k: v.to(torch.bfloat16) for k, v in per_expert_tensors(state, cfg).items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": eos, "eos_token_id": eos, "do_sample": True, "temperature": 0.7,
         "top_p": 0.9, "max_new_tokens": 64}, indent=2) + "\n")
    tok.save(str(out / "tokenizer.json"))
    print("wrote", out, len(tensors), "tensors",
          sum(t.numel() for t in tensors.values()), "parameters", flush=True)


def fixtures(model, model_dir: pathlib.Path, tok: Tokenizer, heldout: str, out: pathlib.Path) -> dict:
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    # The written checkpoint must be the trained model: same logits after the reload.
    check = torch.tensor([tok.encode(heldout[:2000], add_special_tokens=False).ids[:128]])
    with torch.no_grad():
        trained = model.cpu().eval()(check).logits
        error = (hf(check).logits - trained).abs().max().item()
    print("reload max logit error", error, flush=True)
    if error > 1e-2:
        sys.exit(f"the written checkpoint does not reproduce the trained model (error {error})")
    texts = [heldout[i: i + 400] for i in range(0, 40000, 4000)] + [
        "<|im_start|>user\nWhat is a list?<|im_end|>\n<|im_start|>assistant\n",
        "Unicode: café, naïve, 日本語, emoji 🐍 and tabs\tand\r\nnewlines   spaced",
        "x = [i ** 2 for i in range(10)]  # squares\n\n\n    return x"]
    (out / "tokenizer_ids.json").write_text(json.dumps(
        [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]))
    prompt = tok.encode("The list type", add_special_tokens=False).ids
    ids = torch.tensor([prompt])
    with torch.no_grad():
        logits = hf(ids).logits[0]
        greedy = hf.generate(ids, max_new_tokens=16, do_sample=False, eos_token_id=None,
                             pad_token_id=0)[0, len(prompt):]
    (out / "logits.json").write_text(json.dumps({
        "transformers": transformers.__version__, "architecture": "Qwen3MoeForCausalLM",
        "prompt": prompt, "logits": [[round(float(v), 5) for v in row] for row in logits],
        "greedy": [int(t) for t in greedy]}))
    samples = {}
    for p in PROMPTS:
        pid = torch.tensor([tok.encode(p, add_special_tokens=False).ids])
        with torch.no_grad():
            g = hf.generate(pid, max_new_tokens=40, do_sample=False, eos_token_id=None, pad_token_id=0)
        samples[p] = tok.decode(g[0].tolist())
    return samples


def main(corpus_dir: str, out_dir: str) -> None:
    torch.manual_seed(0)
    corpus, out = pathlib.Path(corpus_dir), pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    tok = train_tokenizer(corpus / "train.txt")
    eos = tok.token_to_id("<|endoftext|>")
    train_ids = token_stream(tok, corpus / "train.txt", eos)
    heldout_ids = token_stream(tok, corpus / "heldout.txt", eos)
    log = {"torch": torch.__version__, "transformers": transformers.__version__,
           "gpu": torch.cuda.get_device_name(), "vocab": tok.get_vocab_size(),
           "train_tokens": len(train_ids), "heldout_tokens": len(heldout_ids),
           "tokenizer_seconds": round(time.time() - t0, 1), "seq": SEQ, "batch": BATCH, "evals": []}
    print({k: v for k, v in log.items() if k != "evals"}, flush=True)
    cfg = model_config(tok.get_vocab_size(), eos)
    model = transformers.Qwen3MoeForCausalLM(transformers.Qwen3MoeConfig(**cfg)).cuda()
    log["parameters"] = sum(p.numel() for p in model.parameters())
    best_state = train(model, train_ids, heldout_ids, log)
    model.load_state_dict(best_state)
    # Round the weights to the bf16 the checkpoint stores, keeping f32 buffers (RoPE's
    # inverse frequencies) as a reload computes them.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    loss = heldout_loss(model, heldout_ids)
    log["heldout_loss_bf16"] = round(loss, 4)
    log["heldout_perplexity_bf16"] = round(math.exp(loss), 3)
    write_model(model, cfg, tok, eos, out / "model")
    log["samples"] = fixtures(model, out / "model", tok, (corpus / "heldout.txt").read_text(), out)
    log["total_seconds"] = round(time.time() - t0, 1)
    (out / "train_log.json").write_text(json.dumps(log, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(log, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
