"""Export ARC predictions in the layout the original HRM evaluation notebook (`arc_eval.ipynb`) reads.

The notebook reads `<DATASET_PATH>/identifiers.json` and every
`<CHECKPOINT_PATH>_all_preds.<rank>` file (`torch.load` of a dict of
tensors): it drops rows of the blank identifier, takes the answers of the
un-augmented variants (names without `_`) from `labels`, crops and
un-augments each prediction by parsing its name `<task>_t<d>_<colour map>`,
and votes by count then mean `sigmoid(q_halt_logits)`.

`export_original` writes such a folder: `identifiers.json` with every
name rewritten to the original's naming, and `step_0_all_preds.0` holding
`inputs`, `labels`, `puzzle_identifiers`, `preds` (argmax tokens, as
TRM-style readers expect), `logits` (the same tokens one-hot, uint8: what the
notebook's `argmax(-1)` reads; 12 bytes per token, so ~11 KB per example)
and `q_halt_logits` (the logit of the halt confidence). Point the notebook's
`DATASET_PATH` at the folder and `CHECKPOINT_PATH` at `<folder>/step_0`.
The file is a plain tensor dict, loadable with `torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from hrmzoo.errors import HrmzooError

PREDS_FILE = "step_0_all_preds.0"


def export_original(root: str | Path, split: str, predictions: torch.Tensor, confidence: torch.Tensor, out: str | Path,
                    *, with_logits: bool = True) -> Path:
    """Write `out/identifiers.json` (original naming) and `out/step_0_all_preds.0`.

    Args:
        root: the evaluated ARC dataset.
        split: its split the predictions belong to (all rows, file order).
        predictions: [N, 900] predicted tokens.
        confidence: [N] halt confidence (NaN -> logit 0).
        out: folder to create.
        with_logits: also write the one-hot `logits` the notebook reads (12x the size of `preds`).

    Returns:
        The folder.
    """
    from hrmzoo.data.arc import original_variant_name, parse_variant_name
    from hrmzoo.data.reader import load_split, read_identifiers

    data = load_split(root, split)
    if len(data.sets) != 1:
        raise HrmzooError(f"{Path(root) / split}: export reads one set, found {[s.name for s in data.sets]}")
    s = data.sets[0]
    if predictions.shape[0] != s.num_examples:
        raise HrmzooError(f"{Path(root) / split}: {s.num_examples} examples but {predictions.shape[0]} predictions; evaluate the whole split (no limit)")
    names = read_identifiers(root)
    renamed = [names[0]] + [original_variant_name(*parse_variant_name(n)) for n in names[1:]]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "identifiers.json").write_text(json.dumps(renamed))
    c = confidence.float().clamp(1e-6, 1 - 1e-6)
    q = torch.nan_to_num(torch.log(c) - torch.log1p(-c), nan=0.0)
    preds = predictions.to(torch.uint8)
    blob = {
        "inputs": torch.from_numpy(np.array(s.inputs, dtype=np.uint8)),
        "labels": torch.from_numpy(np.array(s.labels, dtype=np.uint8)),
        "puzzle_identifiers": torch.from_numpy(s.example_identifier.astype(np.int32)),
        "preds": preds,
        "q_halt_logits": q,
    }
    if with_logits:
        blob["logits"] = _one_hot_uint8(preds, int(data.vocab_size))
    torch.save(blob, out / PREDS_FILE)
    return out


def _one_hot_uint8(tokens: torch.Tensor, vocab_size: int, rows_per_chunk: int = 1 << 14) -> torch.Tensor:
    """[N, L] tokens -> [N, L, V] uint8 one-hot, in chunks (`one_hot` would first make an int64 tensor 8x larger)."""
    out = torch.zeros(*tokens.shape, vocab_size, dtype=torch.uint8)
    for start in range(0, tokens.shape[0], rows_per_chunk):
        chunk = tokens[start:start + rows_per_chunk].long().unsqueeze(-1)
        out[start:start + rows_per_chunk].scatter_(-1, chunk, 1)
    return out
