"""Analysis: the figures (balanced accuracy, intervals by lesion, paired differences), and the
commands that measure models against each other on the validation split: compare, color_cast,
metadata_prior; lesion_mask judges where the heatmaps fall. Never imports TensorFlow."""
