"""`modelgate migrate`: a one-api or new-api database's users, groups and keys, kept in step with modelgate.

source.py opens the database read-only; mapping.py turns its rows into a seed; infra.apply plans and writes it,
as `modelgate apply` does, so a re-run writes only what changed.
"""
