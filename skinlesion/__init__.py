"""Skin-lesion classification on HAM10000: shared definitions, serving and training.

`skinlesion.classes` and `skinlesion.preprocessing` are shared by both sides so that
training and serving cannot drift apart. `skinlesion.serving` never imports TensorFlow;
`skinlesion.training` does.
"""
