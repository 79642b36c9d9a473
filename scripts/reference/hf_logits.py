#!/usr/bin/env python3
"""Reference logits from Hugging Face transformers, for Switchyard's model tests.

Run on the GPU machine (it has torch and transformers), on models written by
`switchyard make-model`:

    python3 scripts/reference/hf_logits.py MODEL_DIR OUT.json

Writes {"transformers": version, "prompt": ids, "logits": [[...] per position],
"greedy": ids} computed in float32 on the CPU with the eager attention path, so the
fixture does not depend on GPU kernels. core/model/hf_fixture_test.cc compares
Switchyard's logits and greedy continuation with it.
"""
import json
import sys

import torch
import transformers

PROMPT = [5, 300, 17, 42, 99, 7, 256, 1]
NEW_TOKENS = 8


def main(model_dir: str, out_path: str) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(
        model_dir, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        logits = model(ids).logits[0]
        greedy = model.generate(ids, max_new_tokens=NEW_TOKENS, do_sample=False,
                                eos_token_id=None, pad_token_id=0)[0, len(PROMPT):]
    json.dump({
        "transformers": transformers.__version__,
        "architecture": model.config.architectures[0],
        "prompt": PROMPT,
        "logits": [[round(float(v), 6) for v in row] for row in logits],
        "greedy": [int(t) for t in greedy],
    }, open(out_path, "w"))
    print(out_path, model.config.architectures[0], "logits", tuple(logits.shape), "greedy", greedy.tolist())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
