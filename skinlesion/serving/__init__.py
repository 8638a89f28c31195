"""Serving side: bytes or URL in, class probabilities out. Never imports TensorFlow or Keras."""
