"""Frameworks: a validated network built as a Keras model or a torch module."""
