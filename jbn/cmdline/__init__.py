"""How every command line of jbn reads its flags (flags.py: `parse`, over tyro): below every layer, so the training
CLI, the results tools and the tabular experiments share one parser. Host side, no JAX; it imports nothing of jbn."""
