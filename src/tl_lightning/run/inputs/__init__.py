"""What a run trains on: dataset and weights fetched once, images or the frozen part's cached activations."""
