"""The image path shared by training and serving: file bytes -> RGB image -> model input."""
