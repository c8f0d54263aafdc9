"""Synthetic credit-scoring example: data generator, features and training."""
