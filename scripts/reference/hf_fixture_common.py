"""Helpers shared by the fixture scripts that build tiny models with transformers itself
(hf_deepseek_v3_fixtures.py, hf_gpt_oss_fixtures.py): write a checkpoint, reload it as
transformers would, and record its logits and greedy continuation in the JSON format
core/model/hf_fixture_test.cc reads."""
import json
import os

import torch
import transformers
from safetensors.torch import save_file

PROMPT = [5, 300, 17, 42, 99, 7, 256, 1]
NEW_TOKENS = 8
# A byte-level BPE tokenizer of 512 ids written by `switchyard make-model` (510 and 511 are
# special), so the fixture models stay small.
TOKENIZER = "core/model/testdata/hf/tokenizer_vocab512.json"
VOCAB = 512
EOS = 510


def write_checkpoint(directory, config, tensors, quantization=None):
    os.makedirs(directory, exist_ok=True)
    config.save_pretrained(directory)
    if quantization is not None:
        path = os.path.join(directory, "config.json")
        data = json.load(open(path))
        data["quantization_config"] = quantization
        json.dump(data, open(path, "w"), indent=2)
    gen = os.path.join(directory, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    save_file(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})


def reference(directory):
    model, info = transformers.AutoModelForCausalLM.from_pretrained(
        directory, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k != "error_msgs"}
    assert not bad and not info.get("error_msgs"), f"{directory}: loading reported {info}"
    model.eval()
    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        logits = model(ids).logits[0]
        greedy = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False,
                                eos_token_id=None, pad_token_id=0)[0, len(PROMPT):]
    return model.config.architectures[0], logits, greedy


def write_fixture(path, arch, logits, greedy):
    json.dump({
        "transformers": transformers.__version__,
        "architecture": arch,
        "prompt": PROMPT,
        "logits": [[round(float(v), 6) for v in row] for row in logits],
        "greedy": [int(t) for t in greedy],
    }, open(path, "w"))
    print(path, arch, "logits", tuple(logits.shape), "greedy", greedy.tolist())
