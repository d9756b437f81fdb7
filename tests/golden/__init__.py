"""Golden parity files: official outputs for seeded weights, checked in ``make test`` without torch.

- ``rule.py``: the seeded-weight rule (official tensor list + seed -> official-format state dict) and the inputs.
- ``golden_file.py``: the ``<case>.npz`` format (tensor list, inputs, official outputs, provenance; no weights).
- ``cases/<case>.py``: per converted model, how to build and run the official model and ours.
- ``make_golden.py``: writes ``<case>.npz`` from an official checkout (needs torch and the official code).
- ``../test_golden.py``: rebuilds the weights, converts them with ``tools/convert_weights.py``, compares.
"""
