"""The runs layer: the retrain job and its stages, job processes, the SQLite run registry, run comparisons,
recommendations from a run's model, and the retrain settings shared by the CLI and the app. It builds on
pipeline.data, lfs and pipeline.training; pipeline.cli and the workbench build on it."""
