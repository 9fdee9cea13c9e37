"""Code-defined LFs: ordinary snorkel `@labeling_function`s in modules of this package.

Reference one from an LF config as `template = "python"`, `function = "lfs.custom.<module>:<name>"`. They are
applied row by row by snorkel (slower than keyword and threshold LFs), and their columns are cached by the hash of
the module's code. Rows carry user_idx, book_idx, review_text, book_idxs and every built-in feature (see
lfs/spec.py FEATURES). The workbench can switch them on and off but never creates or edits code.
"""
