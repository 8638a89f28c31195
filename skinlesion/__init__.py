"""Skin-lesion classification on HAM10000: a trained network served as a TFLite model on Lambda.

Below everything, shared by every side so that none can drift from another: `classes` (the 7
diagnoses), `contract` (the answers and error codes), `image` (decode, resize, scale),
`metadata` (age, sex, site), `model_card` (the card's schema), `temperature` (calibration's
arithmetic), `inference` (the `.tflite` model and its card: what serving answers from and what
conversion and analysis measure), `dataset` (the HAM10000 and extra image folders, the lesion
split), `paths`. Above them: `training` (Keras: the network and its recipe), `conversion` (a
trained model -> `.tflite` + card), `analysis` (metrics and paired comparisons), `serving` (the
Lambda handler; never imports TensorFlow) and `score` (batch scoring). The shared modules import
none of those five, serving imports only the shared modules, conversion never imports training,
and `analysis.evaluate` is the one metrics module that training and conversion report with
(`tests/test_layers.py`).
"""
