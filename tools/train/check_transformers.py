#!/usr/bin/env python3
"""Loads a model folder with Hugging Face transformers and checks it against the reference prompts that
our runtime is tested on (test/models/<model>.reference.json): greedy continuations must be identical
and the last prompt position's logits close. Run where transformers is installed (the GPU machine;
CPU or CUDA both work), e.g.

  python3 tools/train/check_transformers.py --model models/squeeze-coder-4m \
      --reference test/models/squeeze-coder-4m.reference.json --out $OUT/transformers-check.json

Exit status 1 when any greedy continuation differs.
"""
import argparse
import json
import sys

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--reference', required=True)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--out', default=None)
    args = ap.parse_args()

    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # float32 compute on the shipped float16 weights, as the reference and our CPU runtime do.
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).to(args.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    ref = json.load(open(args.reference, encoding='utf8'))
    rows, same = [], 0
    for case in ref['cases']:
        ids = torch.tensor([case['prompt_ids']], device=args.device)
        encoded = tokenizer(case['text'], add_special_tokens=False)['input_ids'] if case.get('kind') == 'plain' else None
        with torch.no_grad():
            last = model(ids).logits[0, -1].float().cpu()
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=len(case['greedy_ids']),
                                 do_sample=False, eos_token_id=None, pad_token_id=0)
        greedy = out[0, ids.shape[1]:].tolist()
        ok = greedy == case['greedy_ids']
        same += ok
        rows.append({'name': case['name'], 'greedy_identical': ok,
                     'last_logits_max_abs_diff': float((last - torch.tensor(case['last_logits'])).abs().max()),
                     'tokenizer_ids_identical': None if encoded is None else encoded == case['prompt_ids'],
                     **({} if ok else {'transformers': greedy, 'reference': case['greedy_ids']})})
    summary = {'model': args.model, 'transformers': transformers.__version__, 'torch': torch.__version__,
               'device': torch.cuda.get_device_name(0) if args.device == 'cuda' else 'cpu',
               'greedy_identical': f'{same}/{len(rows)}',
               'max_last_logits_diff': max(r['last_logits_max_abs_diff'] for r in rows), 'cases': rows}
    text = json.dumps(summary, indent=1)
    if args.out:
        open(args.out, 'w').write(text)
    print(json.dumps({k: v for k, v in summary.items() if k != 'cases'}))
    sys.exit(0 if same == len(rows) else 1)


if __name__ == '__main__':
    main()
