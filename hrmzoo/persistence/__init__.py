"""Everything hrmzoo writes to disk and reads back, in one place.

- `checkpoint`: model files (safetensors, the recipe as JSON in the metadata, never pickle), with
  `save_model`, `load_model`, `pretrained` and the atomic safetensors writer;
- `generations`: a run's checkpoints as verified generations (`checkpoints/step-N` + manifest);
- `formats`: the weight format, numbered, and the migrations from each older format;
- `trainer_state`: the optimizer, RNG and carry state a resumed run continues from;
- `hub`: the trained weights shipped in the package (`hrmzoo.persistence.hub`).

The atomic writer these use is `hrmzoo.common.atomic` (the data and recipe layers below write
through it too); a resumable evaluation's chunk state stays with the evaluation
(`hrmzoo.evaluate.resume`).
"""
