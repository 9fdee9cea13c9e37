"""The labeling-function workbench's pipeline, one sub-package per layer, arrows only downward:

    pipeline.data -> lfs -> pipeline.training -> pipeline.runs -> pipeline.cli and the workbench app

- `pipeline.data`: raw Goodreads files (read, or generated in the same format) -> prepared parquet tables;
- `lfs` (beside this package): labeling functions as data, features, the vectorized engine, analysis;
- `pipeline.training`: label model, contenders, our end model and the seed replica, evaluation, bootstrap;
- `pipeline.runs`: the retrain job, job processes, the run registry, comparisons, recommendations;
- `pipeline.cli`: `python -m pipeline` (argparse and printing only).

Nothing here imports streamlit; tests/test_layers.py fails if a lower layer imports a higher one.
"""
