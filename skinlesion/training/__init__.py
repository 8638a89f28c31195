"""Training: the backbones and their pinned ImageNet weights, the classifier, the loss, batches and
callbacks, `TrainConfig` and the recipe that `train.py` runs. Imports Keras and TensorFlow."""
