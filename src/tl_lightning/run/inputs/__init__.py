"""What a run trains on: the dataset and weights fetched once (prepare), images or the frozen part's cached
activations (choose, feature_cache). May import: recovery, folder, launch."""
