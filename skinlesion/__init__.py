"""Skin-lesion classification on HAM10000: shared definitions, serving and training.

Shared by both sides, so that training and serving cannot drift apart: `classes` (the 7
diagnoses), `image` (decode, resize, scale), `model_card` (the card's schema), `contract` (the
answers and error codes), `paths`. `skinlesion.serving` never imports TensorFlow;
`skinlesion.training` does.
"""
