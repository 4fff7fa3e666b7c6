"""Batched generation with transformers (left padding) — the teacher's CPU path, also used for DPO sampling."""

from __future__ import annotations

from typing import Any


def generate_answers(model: Any, tokenizer: Any, prompts: list[str], samples: int = 1, do_sample: bool = False,
                     temperature: float = 0.8, top_p: float = 0.95, max_new_tokens: int = 160,
                     batch_size: int = 16, seed: int = 0) -> list[list[str]]:
    """``samples`` completions per prompt (decoded, special tokens removed), in prompt order."""
    import torch

    tokenizer.padding_side = "left"
    model.eval()
    torch.manual_seed(seed)
    results: list[list[str]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        inputs = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            output = model.generate(**inputs, do_sample=do_sample, temperature=temperature if do_sample else None,
                                    top_p=top_p if do_sample else None, num_return_sequences=samples,
                                    max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                    eos_token_id=tokenizer.eos_token_id)
        texts = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        for index in range(len(chunk)):
            results.append(texts[index * samples : (index + 1) * samples])
    return results
