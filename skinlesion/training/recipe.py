"""The whole training recipe, start to finish, writing everything into one run folder.

split -> images -> backbone -> head on cached features (phase 1) -> fine-tuning on augmented
images (phase 2, resumable at every epoch) -> the best checkpoint evaluated on the
lesion-aware validation split -> `training_summary.json`, which `convert_model.py` turns into
the model card. Its options are `config.TrainConfig`; the resolved config is written into the
run folder as `config.json`.
"""

import json
import logging
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from skinlesion import dataset, paths
from skinlesion.analysis.evaluate import evaluate, format_report, plot_confusion, plot_history
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.training.backbone import Backbone, load_backbone
from skinlesion.training.config import TrainConfig
from skinlesion.training.fit import (
    ImageBatches,
    LogitAdjustedLoss,
    ProgressBar,
    SaveTrainingState,
    ValidateAndRecord,
    augmentation,
    backbone_features,
    distillation_targets,
    log_prior,
    log_prior_by_source,
    read_state,
    source_coded,
)
from skinlesion.training.model import (
    Classifier,
    build_classifier,
    freeze_for_fine_tuning,
    trained_classifier,
    with_softmax,
)

logger = logging.getLogger(__name__)


@dataclass
class Data:
    """Both sides of the split as cached uint8 images, labels and lesion ids; the training side may
    end with extra images (`source` names their folder, `lesion_id` is empty)."""

    train: pd.DataFrame
    val: pd.DataFrame
    x_train: np.ndarray
    x_val: np.ndarray
    extra_size: tuple[int, int] | None = None  # the extra images' (width, height), when they share one

    @property
    def y_train(self) -> np.ndarray:
        return dataset.labels(self.train["dx"])

    @property
    def source_train(self) -> np.ndarray:
        """Each training image's source as 0 (HAM10000, listed first), 1, ... in order of appearance."""
        return pd.factorize(self.train["source"])[0]

    @property
    def y_val(self) -> np.ndarray:
        return dataset.labels(self.val["dx"])


def load_data(config: TrainConfig, preprocessor: Preprocessor, resume: bool) -> Data:
    """The split (drawn, reused, or the run's own when resuming) and every image, resized."""
    meta = dataset.load_metadata(config.data_dir)
    if config.max_images_per_class > 0:
        meta = dataset.subsample_lesions(meta, config.max_images_per_class, config.seed)
    split_file = config.out_dir / paths.RUN_SPLIT_FILE if resume else config.split
    if split_file is not None:
        split = dataset.read_split(split_file)
        if set(split["image_id"]) != set(meta["image_id"]):
            raise ValueError(f"{split_file} does not list exactly the images of {config.data_dir}")
    else:
        split = dataset.lesion_split(meta, config.val_fraction, config.seed)
    dataset.write_split(split, config.out_dir / paths.RUN_SPLIT_FILE)
    meta = meta.merge(split[["image_id", "split"]], on="image_id")
    train, val = meta[meta["split"] == "train"], meta[meta["split"] == "val"]
    logger.info(
        f"split by lesion_id: {len(train)} train / {len(val)} validation images, "
        f"{train['lesion_id'].nunique()} / {val['lesion_id'].nunique()} lesions"
    )
    train, extra_size = train.assign(source="ham10000"), None
    if config.extra_data is not None:
        extra = dataset.load_extra(config.extra_data)
        extra_size = dataset.common_image_size(list(extra["path"]))
        logger.info(
            f"extra training images: {len(extra)} from {config.extra_data} ({_size_text(extra_size)})"
        )
        train = pd.concat([train, extra], ignore_index=True)
    return Data(
        train,
        val,
        dataset.load_images(list(train["path"]), preprocessor, "train"),
        dataset.load_images(list(val["path"]), preprocessor, "validation"),
        extra_size,
    )


def teacher_probabilities(config: TrainConfig, d: Data) -> np.ndarray:
    """The teachers' mean probabilities on the training images (un-augmented), each teacher fed as
    its own card says; computed once and kept in the run folder, so a resumed run reads them back.

    A teacher that trained on any of this run's validation images is refused: its targets would
    carry those images' labels into the student and flatter its validation figures.
    """
    cached = config.out_dir / paths.RUN_TEACHER_PROBABILITIES_FILE
    if cached.exists():
        return np.load(cached)
    probs = []
    for run_dir in config.teacher:
        teacher_split = dataset.read_split(run_dir / paths.RUN_SPLIT_FILE)
        seen = set(teacher_split.loc[teacher_split["split"] == "train", "image_id"])
        if seen & set(d.val["image_id"]):
            raise ValueError(f"teacher {run_dir} trained on some of this run's validation images")
        summary = json.loads((run_dir / paths.RUN_SUMMARY_FILE).read_text())
        pre = Preprocessor(PreprocessSpec.from_card(summary["preprocessing"]))
        if pre.spec.input_size == config.input_size:
            images = d.x_train  # the same resize: no second decode
        else:
            images = dataset.load_images(list(d.train["path"]), pre, f"train for {run_dir.name}")
        model = keras.models.load_model(run_dir / paths.RUN_BEST_MODEL_FILE, compile=False)
        probs.append(model.predict(ImageBatches(images, pre, config.batch_size), verbose=0))
        logger.info(f"teacher {run_dir}: probabilities on {len(images)} training images")
    mean = np.mean(probs, axis=0)
    np.save(cached, mean)
    return mean


def training_targets(config: TrainConfig, d: Data) -> np.ndarray:
    """The labels (coded with their source for a per-source prior), or with teachers, the labels
    mixed with the teachers' probabilities."""
    if config.prior_by_source:
        return source_coded(d.y_train, d.source_train)
    if not config.teacher:
        return d.y_train
    return distillation_targets(
        d.y_train,
        teacher_probabilities(config, d),
        log_prior(d.y_train),
        config.logit_adjustment,
        config.distill_weight,
    )


def loss(config: TrainConfig, d: Data) -> LogitAdjustedLoss:
    prior = log_prior_by_source(d.y_train, d.source_train) if config.prior_by_source else log_prior(d.y_train)
    return LogitAdjustedLoss(prior.tolist(), config.logit_adjustment, config.label_smoothing)


def fit_head(
    config: TrainConfig,
    clf: Classifier,
    backbone: Backbone,
    d: Data,
    pre: Preprocessor,
    targets: np.ndarray,
    state: dict,
) -> None:
    """Phase 1: the new head alone, on features computed once, so phase 2 starts from a sensible head."""
    f_train = backbone_features(backbone.model, d.x_train, pre, config.batch_size)
    f_val = backbone_features(backbone.model, d.x_val, pre, config.batch_size)
    clf.head.compile(optimizer=keras.optimizers.Adam(config.head_learning_rate), loss=loss(config, d))
    record = ValidateAndRecord(
        clf.full, lambda: clf.head.predict(f_val, verbose=0), d.y_val, config.out_dir, state, epoch_offset=0
    )
    clf.head.fit(
        f_train,
        targets,
        batch_size=config.batch_size,
        epochs=config.head_epochs,
        callbacks=[record],
        verbose=0,
    )
    state["head_epochs_done"] = config.head_epochs
    if state["best"]["path"]:  # phase 2 starts from the best head, not the last one
        clf.full.load_weights(config.out_dir / state["best"]["path"])


def compile_for_fine_tuning(config: TrainConfig, clf: Classifier, d: Data, steps: int) -> None:
    """AdamW with a linear warm-up then cosine decay to 0, and an EMA of the weights.

    Adam's first steps move every weight by about the learning rate whatever its gradient;
    from a cold start that knocked v1's pretrained features off, hence the warm-up.
    """
    n_trainable = freeze_for_fine_tuning(clf.logits, config.fine_tune_from, config.train_batchnorm)
    logger.info(
        f"fine-tuning from {config.fine_tune_from}: {n_trainable} trainable weight tensors, "
        f"BatchNorm {'trained' if config.train_batchnorm else 'frozen'}"
    )
    warmup = round(config.warmup_epochs * steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(config.fine_tune_epochs * steps - warmup, 1),
        warmup_target=config.fine_tune_learning_rate,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        schedule,
        weight_decay=config.weight_decay,
        use_ema=config.ema_momentum > 0,
        ema_momentum=config.ema_momentum or 0.99,
    )
    clf.logits.compile(optimizer=optimizer, loss=loss(config, d))


def restore_classifier(run_dir: Path, state: dict) -> Classifier:
    """The training model with its optimizer, as saved at the end of the last complete epoch."""
    logits = keras.models.load_model(run_dir / paths.RUN_STATE_DIR / state["training_state"])
    return Classifier(head=None, logits=logits, full=with_softmax(logits))


def fine_tune(
    config: TrainConfig, clf: Classifier, d: Data, pre: Preprocessor, targets: np.ndarray, state: dict
) -> None:
    """Phase 2: the network on augmented images; every epoch leaves a state `--resume` continues from."""
    done = state["fine_tune_epochs_done"]
    batches = ImageBatches(
        d.x_train,
        pre,
        config.batch_size,
        targets,
        augment=lambda seed: augmentation(
            seed,
            config.augment,
            config.sharpness_jitter,
            config.color_gain_jitter,
            config.low_detail,
            d.extra_size or (84, 84),
        ),
        seed=config.seed,
        epoch=done,
        mixup_alpha=config.mixup_alpha,
        cutmix_alpha=config.cutmix_alpha,
    )
    val_batches = ImageBatches(d.x_val, pre, config.batch_size)
    if done == 0:
        compile_for_fine_tuning(config, clf, d, len(batches))
    saver = SaveTrainingState(config.out_dir / paths.RUN_STATE_DIR)
    callbacks = [saver]  # the raw weights are saved before the averaged ones are swapped in
    if config.ema_momentum > 0:
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks += [
        ValidateAndRecord(
            clf.full,
            lambda: clf.full.predict(val_batches, verbose=0),
            d.y_val,
            config.out_dir,
            state,
            epoch_offset=state["head_epochs_done"],
            saver=saver,
        ),
        ProgressBar(f"fine-tuning from {config.fine_tune_from}"),
    ]
    clf.logits.fit(
        batches, initial_epoch=done, epochs=config.fine_tune_epochs, callbacks=callbacks, verbose=0
    )


def new_state() -> dict:
    return {
        "history": [],
        "best": {"score": -1.0, "path": None, "epoch": None},
        "head_epochs_done": 0,
        "fine_tune_epochs_done": 0,
        "training_state": None,
    }


def run(config: TrainConfig, resume: bool = False) -> dict:
    """Train (or continue an interrupted run), evaluate, write the run folder; returns the summary."""
    started = time.monotonic()
    run_dir = config.out_dir
    if not resume and (run_dir / paths.RUN_STATE_FILE).exists():
        raise FileExistsError(f"{run_dir} holds a run already: resume it, or choose another folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / paths.RUN_CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=1))
    state = read_state(run_dir) if resume and (run_dir / paths.RUN_STATE_FILE).exists() else new_state()
    keras.utils.set_random_seed(config.seed)

    backbone = load_backbone(config.weights, config.input_size, config.backbone)
    spec = replace(
        backbone.preprocessing(config.input_size),
        source_size=config.source_size,
        color_constancy=config.color_constancy,
    )
    pre = Preprocessor(spec)
    logger.info(f"backbone weights: {backbone.weights}; preprocessing {spec.to_card()}")
    d = load_data(config, pre, resume)
    targets = training_targets(config, d)

    if state["fine_tune_epochs_done"] > 0:
        logger.info(
            f"resuming after fine-tuning epoch {state['fine_tune_epochs_done']} of {config.fine_tune_epochs}"
        )
        clf = restore_classifier(run_dir, state)
    elif config.init_from is not None:
        state = new_state()  # the head comes trained: no phase 1
        clf = trained_classifier(config.init_from)
        logger.info(f"phase 2 starts from {config.init_from}")
    else:
        state = new_state()  # phase 1 takes minutes: an interrupted one starts again
        clf = build_classifier(backbone.model, config.inner_size, config.dropout)
        fit_head(config, clf, backbone, d, pre, targets, state)
    if config.fine_tune_epochs > state["fine_tune_epochs_done"]:
        fine_tune(config, clf, d, pre, targets, state)
    return finish(config, d, pre, state, backbone, time.monotonic() - started)


def finish(
    config: TrainConfig, d: Data, pre: Preprocessor, state: dict, backbone: Backbone, session_s: float
) -> dict:
    """Evaluate the best checkpoint (bootstrap intervals by lesion) and write the run's outputs."""
    run_dir = config.out_dir
    best_path = run_dir / state["best"]["path"]
    best = keras.models.load_model(best_path, compile=False)
    probs = best.predict(ImageBatches(d.x_val, pre, config.batch_size), verbose=0)
    metrics = evaluate(d.y_val, probs, groups=d.val["lesion_id"].to_numpy())
    logger.info(f"best checkpoint {best_path.name}\n{format_report(metrics)}")

    shutil.copyfile(best_path, run_dir / paths.RUN_BEST_MODEL_FILE)
    plot_history(state["history"], run_dir / "training_curves.png")
    plot_confusion(metrics, run_dir / "confusion_matrix.png")
    (run_dir / "history.json").write_text(json.dumps(state["history"], indent=1))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    np.save(run_dir / paths.RUN_VAL_PROBABILITIES_FILE, probs)
    epoch_s = sum(h.get("seconds", 0.0) for h in state["history"])
    summary = {
        "best_checkpoint": best_path.name,
        "preprocessing": pre.spec.to_card(),
        "architecture": _architecture(config, backbone),
        "training_data": _data_description(config, d),
        "validation_metrics": metrics,
        "wall_time_s": {"epochs_total": round(epoch_s, 1), "this_session": round(session_s, 1)},
        "config": config.to_json(),
    }
    (run_dir / paths.RUN_SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    logger.info(
        f"run folder: {run_dir}  (epochs {epoch_s / 60:.1f} min, this session {session_s / 60:.1f} min)"
    )
    return summary


def _architecture(config: TrainConfig, backbone: Backbone) -> dict:
    head = f"dropout {config.dropout}, " + (
        f"dense {config.inner_size} ReLU, dropout {config.dropout}, " if config.inner_size > 0 else ""
    )
    return {
        "backbone": backbone.description,
        "backbone_weights": backbone.weights,
        "feature_map_layer": backbone.feature_map_layer,
        "head": head + "dense 7 (logits), softmax",
        "training": (
            (
                f"started from {config.init_from} (no phase 1); phase 2:"
                if config.init_from is not None
                else f"phase 1: head on cached frozen-backbone features, {config.head_epochs} epochs, Adam "
                f"{config.head_learning_rate}; phase 2:"
            )
            + f" fine-tuning from {config.fine_tune_from} (BatchNorm "
            f"{'trained' if config.train_batchnorm else 'frozen'}), {config.fine_tune_epochs} epochs, AdamW "
            f"{config.fine_tune_learning_rate} "
            f"(weight decay {config.weight_decay}) after a {config.warmup_epochs}-epoch warm-up, cosine "
            f"decay, EMA {config.ema_momentum}; {config.augment} augmentation"
            + (f", sharpness jitter {config.sharpness_jitter}" if config.sharpness_jitter > 0 else "")
            + (f", colour gain jitter {config.color_gain_jitter}" if config.color_gain_jitter > 0 else "")
            + (
                f", {config.low_detail:.0%} of images at the extra images' detail"
                if config.low_detail > 0
                else ""
            )
            + _mixing(config)
            + f"; logit-adjusted cross-entropy (tau {config.logit_adjustment}"
            + (", prior per source" if config.prior_by_source else "")
            + f"), label smoothing {config.label_smoothing}; "
            + (
                f"targets mixed with the mean probabilities of {len(config.teacher)} teacher model(s) "
                f"({', '.join(t.name for t in config.teacher)}; weight {config.distill_weight}); "
                if config.teacher
                else ""
            )
            + "best epoch by validation balanced accuracy"
        ),
    }


def _mixing(config: TrainConfig) -> str:
    on = [
        f"{name} alpha {alpha}"
        for name, alpha in (("mixup", config.mixup_alpha), ("CutMix", config.cutmix_alpha))
        if alpha > 0
    ]
    return f" with {' or '.join(on)}" if on else ""


def _size_text(size: tuple[int, int] | None) -> str:
    return "x".join(map(str, size)) if size else "mixed sizes"


def _data_description(config: TrainConfig, d: Data) -> dict:
    extra = d.train[d.train["source"] != "ham10000"]
    return {
        "dataset": "HAM10000 training set (10,015 dermatoscopic images, 7 diagnoses)"
        + (
            f", and on the training side only {len(extra)} more images from {config.extra_data.name} "
            f"({_size_text(d.extra_size)}, no lesion ids)"
            if config.extra_data is not None
            else ""
        ),
        "split": (
            f"by lesion_id (no lesion on both sides), stratified by dx, "
            f"{'from ' + config.split.name if config.split else f'seed {config.seed}'}: "
            f"{len(d.train)} train / {len(d.val)} validation images"
        ),
        "train_images": len(d.train),
        "extra_train_images": len(extra),
        "extra_train_class_counts": extra["dx"].value_counts().to_dict(),
        "validation_images": len(d.val),
        "validation_lesions": int(d.val["lesion_id"].nunique()),
        "validation_class_counts": d.val["dx"].value_counts().to_dict(),
        **({"initialised_from": _initial_training_data(config.init_from)} if config.init_from else {}),
    }


def _initial_training_data(model: Path) -> dict:
    """What the model phase 2 started from had learnt from: its run's training data, when its run
    folder is beside it (the card's licence names every data source it saw)."""
    summary = model.parent / paths.RUN_SUMMARY_FILE
    described = json.loads(summary.read_text())["training_data"] if summary.is_file() else {}
    return {"model": str(model), **described}
