"""The two training phases and what they share: batches, class weights, best-epoch checkpoints.

Images are held as resized uint8 arrays (the shared `Preprocessor.resized_array`); a batch
is augmented in pixel space and then scaled by `Preprocessor.preprocess`, the same call the
serving side makes, so training sees what serving will send.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from skinlesion.classes import CLASS_CODES
from skinlesion.preprocessing import Preprocessor
from skinlesion.training.evaluate import balanced_accuracy
from skinlesion.training.model import Classifier, freeze_for_fine_tuning

CHECKPOINT_PATTERN = "skin-lesion-class_v1_{epoch:02d}_{score:.3f}.h5"


def class_weights(y: np.ndarray) -> np.ndarray:
    """Balanced weights n / (k * n_c): every class carries the same total weight."""
    counts = np.bincount(y, minlength=len(CLASS_CODES)).astype(np.float64)
    return (len(y) / (len(CLASS_CODES) * np.maximum(counts, 1))).astype(np.float32)


def augmentation(seed: int) -> keras.Sequential:
    """Dermoscopy has no up or left: any flip or rotation, a small zoom, light brightness/contrast."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
            keras.layers.RandomRotation(0.5, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom((-0.15, 0.05), fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed + 3),
            keras.layers.RandomContrast(0.15, value_range=(0, 255), seed=seed + 4),
        ],
        name="augmentation",
    )


class ImageBatches(keras.utils.PyDataset):
    """uint8 images -> (augmented) preprocessed float batches, with optional labels and weights."""

    def __init__(
        self,
        images: np.ndarray,
        preprocessor: Preprocessor,
        batch_size: int,
        y: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        augment: keras.Sequential | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.images, self.preprocessor, self.batch_size = images, preprocessor, batch_size
        self.y, self.weights, self.augment = y, weights, augment
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(images))
        if augment is not None:
            self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def on_epoch_end(self) -> None:
        if self.augment is not None:  # training: a new order each epoch
            self.rng.shuffle(self.order)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.images[idx].astype(np.float32)
        if self.augment is not None:
            x = np.clip(keras.ops.convert_to_numpy(self.augment(x, training=True)), 0, 255)
        x = self.preprocessor.preprocess(x)
        if self.y is None:
            return (x,)
        return x, self.y[idx], self.weights[self.y[idx]]


def backbone_features(
    backbone: keras.Model, images: np.ndarray, preprocessor: Preprocessor, batch_size: int
) -> np.ndarray:
    return backbone.predict(ImageBatches(images, preprocessor, batch_size), verbose=1)


class BestCheckpoint(keras.callbacks.Callback):
    """After each epoch: validation balanced accuracy; the full model saved when it is the best yet.

    `predict_val` returns validation probabilities from whichever model is training (the head
    on features in phase 1, the image model in phase 2); the saved model is always the full
    image model, named with the epoch counted across both phases.
    """

    def __init__(
        self,
        full: keras.Model,
        predict_val,
        y_val: np.ndarray,
        run_dir: Path,
        epoch_offset: int,
        best: float,
        history: list[dict],
    ) -> None:
        super().__init__()
        self.full, self.predict_val, self.y_val = full, predict_val, y_val
        self.run_dir, self.epoch_offset = run_dir, epoch_offset
        self.best, self.best_path = best, None
        self.history = history

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        score = balanced_accuracy(self.y_val, self.predict_val())
        logs["val_balanced_accuracy"] = score
        number = self.epoch_offset + epoch + 1
        self.history.append(
            {"epoch": number, "phase_start": epoch == 0, **{k: float(v) for k, v in logs.items()}}
        )
        if score > self.best:
            self.best = score
            self.best_path = self.run_dir / CHECKPOINT_PATTERN.format(epoch=number, score=score)
            self.full.save(self.best_path, include_optimizer=False)  # weights only matter downstream
            print(f"\nepoch {number}: validation balanced accuracy {score:.4f}, saved {self.best_path.name}")
        else:
            print(f"\nepoch {number}: validation balanced accuracy {score:.4f} (best {self.best:.4f})")


@dataclass
class PhaseResult:
    best_score: float
    best_path: Path | None


def fit_head(
    clf: Classifier,
    f_train: np.ndarray,
    y_train: np.ndarray,
    f_val: np.ndarray,
    y_val: np.ndarray,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    run_dir: Path,
    history: list[dict],
) -> PhaseResult:
    """Phase 1: the head alone on cached backbone features, class-weighted."""
    clf.head.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        weighted_metrics=["accuracy"],
    )
    checkpoint = BestCheckpoint(
        clf.full,
        lambda: clf.head.predict(f_val, verbose=0),
        y_val,
        run_dir,
        epoch_offset=0,
        best=-1.0,
        history=history,
    )
    weights = class_weights(y_train)
    clf.head.fit(
        f_train,
        y_train,
        sample_weight=weights[y_train],
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        callbacks=[checkpoint],
        verbose=1,
    )
    return PhaseResult(checkpoint.best, checkpoint.best_path)


def fine_tune(
    clf: Classifier,
    train: ImageBatches,
    val: ImageBatches,
    y_val: np.ndarray,
    fine_tune_from: str,
    epochs: int,
    learning_rate: float,
    run_dir: Path,
    epoch_offset: int,
    best: float,
    history: list[dict],
) -> PhaseResult:
    """Phase 2: the top of the backbone and the head on augmented images; Adam, warm-up, cosine decay."""
    n_trainable = freeze_for_fine_tuning(clf.full, fine_tune_from)
    print(f"fine-tuning from {fine_tune_from}: {n_trainable} trainable weight tensors, BatchNorm frozen")
    # Adam's first steps move every weight by about the learning rate whatever the gradient's
    # size; from a cold start that knocked the pretrained features off (validation balanced
    # accuracy 0.56 -> 0.38 in one epoch at 2e-4), hence a linear warm-up over half an epoch.
    warmup = len(train) // 2
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(epochs * len(train) - warmup, 1),
        warmup_target=learning_rate,
        warmup_steps=warmup,
    )
    clf.full.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        weighted_metrics=["accuracy"],
    )
    checkpoint = BestCheckpoint(
        clf.full,
        lambda: clf.full.predict(val, verbose=0),
        y_val,
        run_dir,
        epoch_offset=epoch_offset,
        best=best,
        history=history,
    )
    clf.full.fit(train, epochs=epochs, callbacks=[checkpoint], verbose=1)
    return PhaseResult(checkpoint.best, checkpoint.best_path)
