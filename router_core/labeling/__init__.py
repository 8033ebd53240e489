"""Labelling the user's own traffic: sampling, Batch API files, judge prompts, verdicts, journals.

Pure Python/numpy (no Spark, no CLI): ``jobs/label_cmd.py`` and ``jobs/batch_cmd.py`` wire these into
``batch-router label ...`` and ``batch-router batch ...``.
"""
