"""The training layer: the label model over LF votes, the contenders (item-kNN, ALS), our end model and the seed
replica, evaluation and the paired bootstrap. It builds on pipeline.data and lfs, never on runs, cli or the app."""
