"""Pairing artworks with music, aligner training with the audio prior frozen, and evaluation.

- :mod:`.collection` (a museum's image and music folders), :mod:`.pairing` (ImageBind scores -> pairs,
  curator rules, v1's pair list) and :mod:`.manifest` (``art2mus dataset build``: the manifest and report);
- :mod:`.dataset` (the precomputed embeddings and music latents), :mod:`.features`, :mod:`.shards`;
- :mod:`.aligner_step` (the denoising loss), :mod:`.trainer` (epochs, checkpoints, resume),
  :mod:`.distributed` (accelerate), :mod:`.modality_gap`, and :mod:`.train_job` (one ``art2mus train`` run
  from its typed options), with :mod:`.run_lock` (one run per output folder) and :mod:`.interrupts`
  (Ctrl-C and SIGTERM keep what is done, and say so);
- :mod:`.evaluate` (ImageBindScore and FAD; ``art2mus evaluate``).

The commands themselves live in :mod:`art2mus.installation.cli` and import this package inside their
functions. The installation never imports this package.
"""
