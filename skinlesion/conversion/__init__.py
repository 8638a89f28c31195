"""Conversion: a trained Keras model -> one `.tflite` graph (uint8 pixels in; probabilities, maps,
out-of-distribution score) and the model card with everything fitted on validation (temperature,
alert thresholds, the 'not dermoscopy' detector, the metadata model), as `convert_model.py` runs it."""
