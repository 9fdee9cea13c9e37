"""Data pipeline of the labeling-function workbench: raw Goodreads files -> prepared parquet tables -> features.

Nothing in this package imports streamlit; every step is a typed function the CLI (`python -m pipeline`), the
tests and the workbench pages call alike.
"""
