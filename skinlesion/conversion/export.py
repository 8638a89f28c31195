"""Trained `.h5`/`.keras` -> checked `.tflite` + model card, as `convert_model.py` runs it.

Every figure is measured on the converted file, as served, on the recorded split's images:
1. the out-of-distribution detector is fitted on the training images' pooled features (with other
   clinics' dermoscopy where given) against photos that are not dermoscopy and their crops;
2. the serving graph (probabilities, CAM, score) is converted and checked against Keras; the card's
   preprocessing gains the training images' size (`source_size`, unless the run reduced them to one
   itself), which larger photos are reduced to, and the JPEG quality they share
   (`source_jpeg_quality`), which a reduced photo is then compressed at;
3. a temperature is fitted on half of the validation lesions and judged on the other half;
4. the alert thresholds and the flag's threshold are chosen on the validation images, and the
   flag is measured on photos and generated non-images;
5. p(diagnosis | age, sex, site) is fitted on the training rows, and the answers that add its
   evidence get their own temperature and alert thresholds, chosen as in 3 and 4.
"""

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from skinlesion import dataset
from skinlesion.analysis.evaluate import evaluate, format_report, paired_difference
from skinlesion.analysis.metadata_prior import fit_metadata_model, patients
from skinlesion.conversion import calibration, ood_negatives, ood_probes
from skinlesion.conversion.ood import REGULARISATION_C, LinearDetector, fit_detector, threshold_for_rate
from skinlesion.conversion.operating_points import alert_points
from skinlesion.conversion.serving_graph import serving_model
from skinlesion.conversion.tflite import keras_to_tflite
from skinlesion.image.decode import decode_image
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.inference import LesionModel, ood_reasons
from skinlesion.metadata import FEATURES
from skinlesion.model_card import MODEL_VERSION, ModelCard, card_path, licence, new_card
from skinlesion.temperature import calibrate, log_probabilities

logger = logging.getLogger(__name__)

# Validation dermoscopy images the flag may catch: 4 % by the score, 0.25 % in each tail of each
# texture statistic; the union is measured and written into the card.
OOD_SCORE_RATE = 0.04
TEXTURE_TAIL = 0.25  # percent
# Other clinics' images: this many join the detector's dermoscopy side, and the next
# OOD_EXTRA_CHECKED (never fitted on) measure how often the flag fires on them.
OOD_EXTRA_IMAGES = 1500
OOD_EXTRA_CHECKED = 500
DERMOSCOPY_FULL_SIZE = "ham10000 full-size (dermoscopy)"
DERMOSCOPY_OTHER_CLINICS = "isic 2019 84x84, not fitted on (dermoscopy)"
DERMOSCOPY_GROUPS = (DERMOSCOPY_FULL_SIZE, DERMOSCOPY_OTHER_CLINICS)
CALIBRATION_FRACTION = 0.5  # of validation lesions, for fitting the temperature
# The weight of the metadata's evidence: half of Bayes' rule. Measured on two splits, w = 0.5 raised
# balanced accuracy and macro ROC AUC on both, while w = 1 (image and metadata taken as independent)
# did not raise the decision (docs/training.md, "What age, sex and body site add").
METADATA_WEIGHT = 0.5


@dataclass
class ExportConfig:
    model: Path
    out: Path
    summary: Path
    split: Path
    data_dir: Path
    quantize: str = "none"
    version: str = MODEL_VERSION
    check_images: int = 0  # 0: every validation image
    representative_images: int = 200
    ood_train_images: int = 0  # training images the detector is fitted on; 0: all
    # Other clinics' dermoscopy (dataset.load_extra) that the detector learns is not outside.
    extra_data: Path | None = None
    plots_dir: Path | None = None  # where the reliability diagram goes (default: beside the model)


def _images(
    meta_split: pd.DataFrame, part: str, limit: int, spec: PreprocessSpec, seed: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """Resized uint8 images (what the served graph takes) and their metadata rows, of one side of
    the split, optionally a random subset."""
    rows = meta_split[meta_split["split"] == part]
    if 0 < limit < len(rows):
        rows = rows.sample(limit, random_state=seed)
    return dataset.load_images(list(rows["path"]), Preprocessor(spec), part), rows


def agreement(keras_probs: np.ndarray, tflite_probs: np.ndarray) -> dict[str, float]:
    return {
        "max_abs_diff": float(np.abs(keras_probs - tflite_probs).max()),
        "top1_agreement": float((keras_probs.argmax(1) == tflite_probs.argmax(1)).mean()),
        "n_images": len(keras_probs),
    }


def _pooled_features(
    features: LesionModel, images: list, preprocessor: Preprocessor, desc: str
) -> np.ndarray:
    """Pooled features of images (paths or PIL images), in chunks so the progress bar moves."""
    pooled = []
    for start in range(0, len(images), 512):
        chunk = images[start : start + 512]
        if isinstance(chunk[0], Path):
            pixels = dataset.load_images(chunk, preprocessor, f"{desc} {start}+")
        else:
            pixels = np.stack([preprocessor.resized_array(image) for image in chunk])
        pooled.append(features.predict_outputs(pixels)["pooled_features"])
    return np.concatenate(pooled)


def extra_rows(config: ExportConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Other clinics' images for the detector: (fitted on, checked on), disjoint random samples;
    both empty without `extra_data`."""
    if config.extra_data is None:
        empty = pd.DataFrame(columns=["image_id", "dx", "path", "source"])
        return empty, empty
    rows = dataset.load_extra(config.extra_data).sample(frac=1.0, random_state=0)
    return rows.iloc[:OOD_EXTRA_IMAGES], rows.iloc[OOD_EXTRA_IMAGES : OOD_EXTRA_IMAGES + OOD_EXTRA_CHECKED]


def fit_ood(
    model: keras.Model,
    layer: str,
    meta: pd.DataFrame,
    other_clinics: pd.DataFrame,
    config: ExportConfig,
    spec: PreprocessSpec,
) -> LinearDetector:
    """The detector, on pooled features as the converted graph computes them (the serving graph
    with the features where the score will be): training dermoscopy against `ood_negatives`."""
    features = LesionModel(keras_to_tflite(serving_model(model, layer, spec)), ModelCard(spec), num_threads=2)
    rows = meta[meta["split"] == "train"]
    if 0 < config.ood_train_images < len(rows):
        rows = rows.sample(config.ood_train_images, random_state=0)
    preprocessor = Preprocessor(spec)
    dermoscopy = list(rows["path"]) + list(other_clinics["path"])
    negatives, _ = ood_negatives.negatives()
    return fit_detector(
        _pooled_features(features, dermoscopy, preprocessor, "dermoscopy"),
        _pooled_features(features, negatives, preprocessor, "not dermoscopy"),
    )


def probe_scores(
    served: LesionModel, other_clinics: pd.DataFrame, config: ExportConfig
) -> dict[str, dict[str, list[str]]]:
    """Why the served flag fires (empty: it does not) on each held-apart non-dermoscopy probe, and
    on dermoscopy it should leave alone: the full-size HAM10000 images and other clinics' images
    the detector was not fitted on, where present; every image decoded as the service decodes it."""
    preprocessor = Preprocessor(served.card.preprocessing)
    size = served.card.preprocessing.decode_size
    groups = {
        "photos": ood_probes.photos(),
        "photo crops": ood_probes.crops(),
        "generated": ood_probes.generated(),
    }
    dermoscopy = {
        DERMOSCOPY_FULL_SIZE: sorted((config.data_dir.parent / "ham10000-fullres" / "images").glob("*.jpg")),
        DERMOSCOPY_OTHER_CLINICS: list(other_clinics["path"]),
    }
    for group, paths in dermoscopy.items():
        if paths:
            groups[group] = {p.name: decode_image(p.read_bytes(), min_size=size) for p in paths}
    flagged = {}
    for group, images in groups.items():
        runs = {name: served.run(preprocessor.resized_array(image)) for name, image in images.items()}
        flagged[group] = {name: out.ood_reasons for name, out in runs.items()}
    return flagged


def ood_check(val_scores: np.ndarray, val_texture: np.ndarray) -> dict:
    """The thresholds: the score's at OOD_SCORE_RATE, the texture statistics' (n, 2) at their tails."""
    stats = np.asarray(val_texture)
    tails = [TEXTURE_TAIL, 100 - TEXTURE_TAIL]
    return {
        "threshold": threshold_for_rate(val_scores, OOD_SCORE_RATE),
        "contrast_range": np.percentile(stats[:, 0], tails).tolist(),
        "roughness_range": np.percentile(stats[:, 1], tails).tolist(),
    }


def ood_section(
    check: dict, val_flagged: float, probes: dict[str, dict[str, list[str]]], n_other_clinics: int
) -> dict:
    """The card's `ood`: the thresholds, how the score is made, and the flag measured on every probe
    group (each non-dermoscopy probe's reasons; for dermoscopy, only the images flagged)."""
    other = f" and {n_other_clinics} of other clinics' (ISIC 2019, 84x84)" if n_other_clinics else ""
    return {
        **check,
        "score": "logit of a logistic regression (C = "
        f"{REGULARISATION_C}) of 'not dermoscopy' on the pooled features, fitted on the HAM10000 training "
        f"images{other} against {ood_negatives.describe()}; an image is flagged when the score is "
        "above the threshold or its contrast or roughness (the graph's texture output, "
        "skinlesion/conversion/serving_graph.py) is outside the ranges. The probes below are photos the "
        "detector never saw any crop of",
        "validation_flagged": val_flagged,
        "flagged_share": {
            group: float(np.mean([bool(reasons) for reasons in flags.values()]))
            for group, flags in probes.items()
        },
        "probes": {
            group: flags if group not in DERMOSCOPY_GROUPS else {n: r for n, r in flags.items() if r}
            for group, flags in probes.items()
        },
    }


def calibration_section(
    y: np.ndarray, probs: np.ndarray, lesions: np.ndarray, plot: Path, what: str = "the image's answers"
) -> dict:
    """Temperature fitted on half of the validation lesions, judged on the other half, and served
    only if it lowers that half's negative log-likelihood (else 1: the model's own probabilities).

    A temperature that makes unseen lesions' probabilities worse is noise of the fitting half, not
    a correction; the card keeps what was fitted and how it did either way.
    """
    fit = calibration.calibration_split(lesions, CALIBRATION_FRACTION, seed=0)
    logits = log_probabilities(probs)
    fitted = calibration.fit_temperature(logits[fit], y[fit])
    report = calibration.calibration_report(y[~fit], probs[~fit], calibrate(probs[~fit], fitted))
    helps = report["after"]["negative_log_likelihood"] < report["before"]["negative_log_likelihood"]
    plot.parent.mkdir(parents=True, exist_ok=True)
    label = f"temperature {fitted:.2f}" + ("" if helps else ", not applied")
    calibration.plot_reliability(report, plot, after_label=label)
    return {
        "temperature": fitted if helps else 1.0,
        "fitted_temperature": fitted,
        "applied": bool(helps),
        "method": f"temperature scaling of the logits (log-probabilities) of {what}: the argmax never "
        "changes; applied only if it lowers the held-out half's negative log-likelihood",
        "fitted_on": {"lesions": len(np.unique(lesions[fit])), "images": int(fit.sum())},
        "judged_on": {"lesions": len(np.unique(lesions[~fit])), "images": int((~fit).sum())},
        **{
            f"{figure}_{side}": report[side][figure]
            for figure in ("expected_calibration_error", "negative_log_likelihood")
            for side in ("before", "after")
        },
    }


def metadata_section(
    train_rows: pd.DataFrame, val_rows: pd.DataFrame, probs: np.ndarray, image_probs: np.ndarray, plot: Path
) -> dict:
    """The card's metadata model: p(diagnosis | age, sex, site) fitted on the training rows, the fused
    answers' temperature and alerts chosen on the validation images (each with the metadata HAM10000
    recorded for it), and what the metadata adds there, paired by lesion against the image alone.

    `probs`: the converted model's uncalibrated probabilities; `image_probs`: as served without metadata.
    """
    y, lesions = dataset.labels(val_rows["dx"]), val_rows["lesion_id"].to_numpy()
    evidence = fit_metadata_model(train_rows, METADATA_WEIGHT)
    fused = evidence.fuse(probs, patients(val_rows), temperature=1.0)
    calibrated = calibration_section(y, fused, lesions, plot, "the image's and the metadata's answers")
    fused = calibrate(fused, calibrated["temperature"])
    return {
        "weight": METADATA_WEIGHT,
        "features": list(FEATURES),
        "coefficients": evidence.coefficients.tolist(),
        "intercept": evidence.intercept.tolist(),
        "prior": evidence.prior.tolist(),
        "method": "multinomial logistic regression of the diagnosis on the features (no pixels), fitted on "
        f"the {len(train_rows)} HAM10000 training rows; its likelihood ratio to the training class "
        f"frequencies, to the power {METADATA_WEIGHT}, multiplies the image's probabilities",
        "calibration": calibrated,
        "alerts": alert_points(y, fused, lesions),
        "validation_metrics": evaluate(y, fused, groups=lesions),
        "paired_with_image_alone": paired_difference(y, image_probs, fused, lesions),
    }


def export(config: ExportConfig) -> ModelCard:
    """Convert, check against Keras on validation images, measure the answers, write `.tflite` + card."""
    summary = json.loads(config.summary.read_text())
    meta = dataset.load_metadata(config.data_dir).merge(dataset.read_split(config.split), on="image_id")
    spec = PreprocessSpec.from_card(summary["preprocessing"])
    if spec.source_size is None:  # trained on the images as they are: their size and compression
        train_paths = list(meta.loc[meta["split"] == "train", "path"])
        spec = replace(
            spec,
            source_size=dataset.common_image_size(train_paths),
            source_jpeg_quality=dataset.common_jpeg_quality(train_paths),
        )
    logger.info(
        f"the card's source_size (larger photos are reduced to it): {spec.source_size}, "
        f"source_jpeg_quality (then compressed at it): {spec.source_jpeg_quality}"
    )
    layer = summary["architecture"]["feature_map_layer"]
    model = keras.models.load_model(config.model, compile=False)
    x_val, val_rows = _images(meta, "val", config.check_images, spec, seed=0)
    y_val, lesions = dataset.labels(val_rows["dx"]), val_rows["lesion_id"].to_numpy()
    representative = None
    if config.quantize == "int8":
        representative, _ = _images(meta, "train", config.representative_images, spec, seed=0)

    other_clinics, other_clinics_checked = extra_rows(config)  # read and checked once
    ood = fit_ood(model, layer, meta, other_clinics, config, spec)
    tflite = keras_to_tflite(serving_model(model, layer, spec, ood), config.quantize, representative)
    config.out.parent.mkdir(parents=True, exist_ok=True)
    config.out.write_bytes(tflite)

    keras_probs = model.predict(Preprocessor(spec).preprocess(x_val), batch_size=32, verbose=1)
    bare = LesionModel(tflite, ModelCard(spec), num_threads=2)
    outputs = bare.predict_outputs(x_val)
    tflite_probs = outputs["probabilities"]
    tflite_metrics = evaluate(y_val, tflite_probs, groups=lesions)
    check = {
        "quantize": config.quantize,
        "file": config.out.name,
        "file_size_bytes": len(tflite),
        **agreement(keras_probs, tflite_probs),
        "keras_balanced_accuracy": evaluate(y_val, keras_probs, n_boot=0)["balanced_accuracy"],
        "tflite_validation_metrics": tflite_metrics,
        "latency_ms_batch1_2_threads": bare.latency_ms(x_val[0]),
    }
    plots = config.plots_dir or config.out.parent
    calibrated = calibration_section(y_val, tflite_probs, lesions, plots / "reliability.png")
    calibrated_probs = calibrate(tflite_probs, calibrated["temperature"])
    answers = {
        "calibration": calibrated,
        "alerts": alert_points(y_val, calibrated_probs, lesions),
        "ood": ood_check(outputs["ood_score"][:, 0], outputs["texture"]),
        "metadata": metadata_section(
            meta[meta["split"] == "train"],
            val_rows,
            tflite_probs,
            calibrated_probs,
            plots / "reliability_metadata.png",
        ),
    }
    served = LesionModel(tflite, ModelCard(spec, **answers), num_threads=2)
    # The scores are already in hand: apply the serving rule to them instead of invoking again.
    scores = outputs["ood_score"][:, 0]
    val_flagged = float(
        np.mean(
            [
                bool(ood_reasons(float(s), t, answers["ood"]))
                for s, t in zip(scores, outputs["texture"], strict=True)
            ]
        )
    )
    n_other_clinics = len(other_clinics)
    probes = probe_scores(served, other_clinics_checked, config)
    answers["ood"] = ood_section(answers["ood"], val_flagged, probes, n_other_clinics)
    logger.info(
        f"{config.out}: {len(tflite) / 1e6:.2f} MB, quantize={config.quantize}\n"
        f"TFLite vs Keras on {check['n_images']} validation images: "
        f"max |diff| {check['max_abs_diff']:.2e}, top-1 agreement {check['top1_agreement']:.4f}; "
        f"latency {check['latency_ms_batch1_2_threads']:.1f} ms\n"
        f"Keras balanced accuracy {check['keras_balanced_accuracy']:.4f}; "
        f"TFLite:\n{format_report(tflite_metrics)}\n"
        f"calibration: T = {calibrated['temperature']:.3f}, "
        f"ECE {calibrated['expected_calibration_error_before']:.3f}"
        f" -> {calibrated['expected_calibration_error_after']:.3f} on {calibrated['judged_on']['lesions']} "
        f"held-out lesions\nalerts: {json.dumps(answers['alerts'], indent=1)}\n"
        f"out of distribution: flagged {json.dumps(answers['ood']['flagged_share'])}\n"
        f"with age, sex and site: balanced accuracy "
        f"{answers['metadata']['validation_metrics']['balanced_accuracy']:.4f}, T = "
        f"{answers['metadata']['calibration']['temperature']:.3f}, alerts: "
        f"{json.dumps({k: v['threshold'] for k, v in answers['metadata']['alerts'].items()})}"
    )
    training_data = {**summary["training_data"], "split_file": config.split.name}
    if n_other_clinics:  # the detector learnt from their features: their licence applies too
        training_data["ood_extra_images"] = n_other_clinics
    card = new_card(
        spec,
        config.version,
        answers=answers,
        architecture=summary["architecture"],
        licence=licence(training_data),
        training_data=training_data,
        validation_metrics=summary["validation_metrics"],
        conversion_check=check,
        training_wall_time_s=summary["wall_time_s"],
    )
    card.write(card_path(config.out))
    logger.info(f"model card: {card_path(config.out)}")
    return card
