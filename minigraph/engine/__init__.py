"""The graph of layers (functional models) and the training loop on top of it."""
