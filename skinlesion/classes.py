"""The seven HAM10000 diagnoses, in the order every model of this project outputs them."""

CLASS_NAMES: dict[str, str] = {
    "akiec": "Actinic keratosis / intraepithelial carcinoma (Bowen's disease)",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis-like lesion",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic nevus",
    "vasc": "Vascular lesion",
}

# Alphabetical, as Keras' directory loaders would order them; models output this order.
CLASS_CODES: tuple[str, ...] = tuple(sorted(CLASS_NAMES))

# `malignant_probability` = P(mel) + P(bcc) + P(akiec): the diagnoses that need treatment, not watching.
MALIGNANT_CODES: tuple[str, ...] = ("akiec", "bcc", "mel")
