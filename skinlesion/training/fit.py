"""What the training phases share: the loss, augmentation, batches, and the per-epoch callbacks.

Images are held as resized uint8 arrays (the shared `Preprocessor.resized_array`); a batch
is augmented in pixel space and then scaled by `Preprocessor.preprocess`, the same call the
serving side makes, so training sees what serving will send. The data order and the
augmentation of an epoch are functions of (seed, epoch) alone, so a resumed run draws the
same epochs as an uninterrupted one.
"""

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
from scipy.special import softmax
from tqdm import tqdm

from skinlesion import paths
from skinlesion.analysis.evaluate import balanced_accuracy
from skinlesion.classes import CLASS_CODES
from skinlesion.image.preprocessing import Preprocessor
from skinlesion.temperature import log_probabilities

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = "skin-lesion-class_{epoch:02d}_{score:.3f}.h5"


def log_prior(y: np.ndarray) -> np.ndarray:
    """log of each class's share of the training labels (a missing class counts as one image)."""
    counts = np.bincount(y, minlength=len(CLASS_CODES)).astype(np.float64)
    return np.log(np.maximum(counts, 1) / max(len(y), 1)).astype(np.float32)


def log_prior_by_source(y: np.ndarray, source: np.ndarray) -> np.ndarray:
    """One `log_prior` row per source (0, 1, ...): the class frequencies of that source's images."""
    return np.stack([log_prior(y[source == s]) for s in range(int(source.max()) + 1)])


def source_coded(y: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Labels that also carry each image's source (`source * 7 + class`), for a per-source prior."""
    return (source * len(CLASS_CODES) + y).astype(np.int64)


@keras.saving.register_keras_serializable("skinlesion")
class LogitAdjustedLoss(keras.losses.Loss):
    """Cross-entropy on logits + tau * log(prior), with label smoothing.

    Training with the prior added makes the model's own logits estimate the class-balanced
    posterior (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021): the argmax
    aims at balanced accuracy without weighting the ~120 df and vasc images tens of times
    more than a nevus, which made v1's epochs swing. `tau=0` is plain cross-entropy.

    With one prior row per source (`log_prior_by_source`), the labels are `source_coded` and each
    image's logits are shifted by its own source's prior: a source with three times the melanomas
    then does not lower the melanoma logit of every other source's images.
    """

    def __init__(
        self,
        log_prior: list[float] | list[list[float]],
        tau: float = 1.0,
        label_smoothing: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.log_prior = np.asarray(log_prior, dtype=np.float64).tolist()
        self.tau, self.label_smoothing = float(tau), float(label_smoothing)

    def call(self, y_true, y_pred):
        prior = keras.ops.convert_to_tensor(self.log_prior, dtype=y_pred.dtype)
        n = len(CLASS_CODES)
        if len(y_true.shape) == 2 and y_true.shape[-1] == n:  # a distribution per image (distillation)
            target, shift = keras.ops.cast(y_true, y_pred.dtype), prior
        else:
            code = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
            target = keras.ops.one_hot(code % n, n)
            shift = keras.ops.take(prior, code // n, axis=0) if len(prior.shape) == 2 else prior
        target = target * (1.0 - self.label_smoothing) + self.label_smoothing / n
        return keras.losses.categorical_crossentropy(target, y_pred + self.tau * shift, from_logits=True)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "log_prior": self.log_prior,
            "tau": self.tau,
            "label_smoothing": self.label_smoothing,
        }


def distillation_targets(
    y: np.ndarray, teacher_probs: np.ndarray, log_prior: np.ndarray, tau: float, weight: float
) -> np.ndarray:
    """Per image, (1 - weight) x its one-hot label + weight x the teacher's distribution.

    A teacher trained with the logit-adjusted loss outputs class-balanced probabilities; the loss
    compares its targets with softmax(logits + tau * log prior), so the teacher's probabilities are
    moved into that space first (times prior^tau, renormalised). A student that matches them then
    has the teacher's balanced argmax, not one pulled towards the frequent classes.
    """
    if not 0 <= weight <= 1:
        raise ValueError(f"the distillation weight must lie in [0, 1], not {weight}")
    n = len(log_prior)
    if teacher_probs.shape != (len(y), n):
        raise ValueError(f"teacher probabilities of shape {teacher_probs.shape} for {len(y)} images")
    teacher = softmax(log_probabilities(teacher_probs) + tau * np.asarray(log_prior), axis=1)
    return ((1 - weight) * np.eye(n)[y] + weight * teacher).astype(np.float32)


class RandomChannelGain(keras.layers.Layer):
    """Each image's red, green and blue scaled by their own gains from [1 - factor, 1 + factor].

    Another camera's white balance or another light reaches the pixels as such gains
    (`skinlesion.analysis.color_cast` measures a model under them); brightness, contrast and
    saturation jitter never change the balance of the channels.
    """

    def __init__(self, factor: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= factor <= 0.5:
            raise ValueError(f"colour gain jitter must be in [0, 0.5], got {factor}")
        self.factor = factor
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool = True) -> Any:
        if not training:
            return images
        shape = (keras.ops.shape(images)[0], 1, 1, 3)
        gains = keras.random.uniform(shape, 1 - self.factor, 1 + self.factor, seed=self.seed_generator)
        return keras.ops.clip(images * gains, 0, 255)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


class RandomLowDetail(keras.layers.Layer):
    """Some images reduced to `size` (width, height) and enlarged back, as the small extra images are.

    Training on HAM10000 at 200x150 beside ISIC 2019's 84x84 copies, a network can tell the two
    sources apart by their detail alone and learn each source's class mix as a shortcut (the
    small set holds three times the melanomas). Seeing HAM10000's images at the small detail
    some of the time takes that cue away. The reduction is antialiased, as a photo's is.
    """

    def __init__(
        self, probability: float, size: tuple[int, int] = (84, 84), seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"low-detail probability must be in [0, 1], got {probability}")
        self.probability, self.size = probability, tuple(size)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool = True) -> Any:
        if not training or self.probability == 0:
            return images
        height, width = keras.ops.shape(images)[1], keras.ops.shape(images)[2]
        small = keras.ops.image.resize(images, (self.size[1], self.size[0]), antialias=True)
        back = keras.ops.image.resize(small, (height, width))
        chosen = keras.random.uniform((keras.ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
        return keras.ops.where(chosen < self.probability, keras.ops.clip(back, 0, 255), images)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


def augmentation(
    seed: int,
    strength: str = "strong",
    sharpness: float = 0.0,
    color_gain: float = 0.0,
    low_detail: float = 0.0,
    low_detail_size: tuple[int, int] = (84, 84),
) -> keras.Sequential:
    """Dermoscopy has no up or left: any flip or rotation; then scale, shift and colour jitter.

    "strong" adds random-resized-crop-like zoom and translation and a saturation jitter
    (dermatoscopes and cameras differ in colour); "light" is v1's augmentation. `sharpness` > 0
    blurs or sharpens each image by up to that share of Keras' sharpness range (0.5: from a
    full 3x3 blur to twice the edge contrast): a sharp 600x450 photo resized to the input
    looks crisper than the 200x150 copies the model learns from, and focus differs by clinic.
    `color_gain` > 0 scales each channel by up to that share (`RandomChannelGain`); `low_detail`
    > 0 reduces that share of the images to `low_detail_size` and back (`RandomLowDetail`).
    """
    if not 0.0 <= sharpness <= 0.5:
        raise ValueError(f"sharpness jitter must be in [0, 0.5], got {sharpness}")
    layers = [
        keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
        keras.layers.RandomRotation(0.5, fill_mode="reflect", seed=seed + 1),
    ]
    if strength == "light":
        layers += [
            keras.layers.RandomZoom((-0.15, 0.05), fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed + 3),
            keras.layers.RandomContrast(0.15, value_range=(0, 255), seed=seed + 4),
        ]
    elif strength == "strong":
        layers += [
            keras.layers.RandomZoom((-0.3, 0.1), fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 5),
            keras.layers.RandomBrightness(0.15, value_range=(0, 255), seed=seed + 3),
            keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 4),
            keras.layers.RandomSaturation((0.35, 0.65), value_range=(0, 255), seed=seed + 6),
        ]
    else:
        raise ValueError(f"augmentation strength must be 'light' or 'strong', got {strength!r}")
    if sharpness > 0:
        layers.append(
            keras.layers.RandomSharpness(
                (0.5 - sharpness, 0.5 + sharpness), value_range=(0, 255), seed=seed + 7
            )
        )
    if color_gain != 0:
        layers.append(RandomChannelGain(color_gain, seed=seed + 8))
    if low_detail != 0:
        layers.append(RandomLowDetail(low_detail, low_detail_size, seed=seed + 9))
    return keras.Sequential(layers, name="augmentation")


def mix_batch(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, mixup_alpha: float, cutmix_alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Mixup or CutMix on one batch (one of the two, evenly, when both alphas are set).

    Each image is blended with (mixup) or has a box pasted from (CutMix) another image of the
    batch, and its target distribution is mixed in the same proportion; for CutMix that is the
    box's actual share of the pixels. The share comes from Beta(alpha, alpha). Against
    overfitting: a model cannot memorise a training image it never sees twice the same.
    `y`: labels (N,) or distributions (N, classes); the result is always distributions.
    """
    n = len(CLASS_CODES)
    target = np.eye(n, dtype=np.float32)[y] if y.ndim == 1 else y.astype(np.float32)
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or rng.random() < 0.5)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    if alpha <= 0:
        return x, target
    share = float(rng.beta(alpha, alpha))
    partner = rng.permutation(len(x))
    if use_cutmix:
        height, width = x.shape[1:3]
        box_h, box_w = round(height * math.sqrt(1 - share)), round(width * math.sqrt(1 - share))
        top, left = rng.integers(0, height - box_h + 1), rng.integers(0, width - box_w + 1)
        x = x.copy()
        x[:, top : top + box_h, left : left + box_w] = x[partner, top : top + box_h, left : left + box_w]
        share = 1 - box_h * box_w / (height * width)
    else:
        x = share * x + (1 - share) * x[partner]
    return x, share * target + (1 - share) * target[partner]


class ImageBatches(keras.utils.PyDataset):
    """uint8 images -> (augmented) preprocessed float batches, with optional labels.

    With `augment` set (training), epoch `e` is shuffled and augmented from seed (seed, e),
    and with a mixup or CutMix alpha, each batch is then mixed (`mix_batch`) from seed
    (seed, e, batch); `epoch` counts the epochs drawn so far and is set by a resumed run.
    """

    def __init__(
        self,
        images: np.ndarray,
        preprocessor: Preprocessor,
        batch_size: int,
        y: np.ndarray | None = None,
        augment: Callable[[int], keras.Sequential] | None = None,
        seed: int = 0,
        epoch: int = 0,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
    ) -> None:
        super().__init__()
        self.images, self.preprocessor, self.batch_size = images, preprocessor, batch_size
        self.y, self.augment, self.seed, self.epoch = y, augment, seed, epoch
        self.mixup_alpha, self.cutmix_alpha = mixup_alpha, cutmix_alpha
        self.order = np.arange(len(images))
        self._layers: keras.Sequential | None = None
        self._drawn_for: int | None = None

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def on_epoch_end(self) -> None:
        if self.augment is not None:
            self.epoch += 1

    def _draw_epoch(self) -> None:
        epoch_seed = self.seed * 1000 + self.epoch
        self.order = np.random.default_rng(epoch_seed).permutation(len(self.images))
        self._layers = self.augment(epoch_seed)
        self._drawn_for = self.epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        if self.augment is not None and self._drawn_for != self.epoch:
            self._draw_epoch()
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.images[idx].astype(np.float32)
        y = None if self.y is None else self.y[idx]
        if self._layers is not None:
            x = np.clip(keras.ops.convert_to_numpy(self._layers(x, training=True)), 0, 255)
            if y is not None and (self.mixup_alpha > 0 or self.cutmix_alpha > 0):
                rng = np.random.default_rng((self.seed, self.epoch, index))
                x, y = mix_batch(x, y, rng, self.mixup_alpha, self.cutmix_alpha)
        x = self.preprocessor.preprocess(x)
        return (x,) if y is None else (x, y)


def backbone_features(
    backbone: keras.Model, images: np.ndarray, preprocessor: Preprocessor, batch_size: int
) -> np.ndarray:
    return backbone.predict(ImageBatches(images, preprocessor, batch_size), verbose=1)


class ProgressBar(keras.callbacks.Callback):
    """One bar over every step of a phase, with the rate, the loss and the ETA of the whole phase."""

    def __init__(self, description: str) -> None:
        super().__init__()
        self.description = description
        self.bar: tqdm | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        steps, epochs = self.params["steps"], self.params["epochs"]
        self.bar = tqdm(total=steps * epochs, desc=self.description, unit="step", mininterval=10)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.bar.n = epoch * self.params["steps"]  # a resumed run starts past its first epochs
        self.bar.refresh()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)
        if logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}", refresh=False)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.bar.close()


class SaveTrainingState(keras.callbacks.Callback):
    """Saves the training model with its optimizer (moments, step, EMA) at each epoch's end.

    It runs before `SwapEMAWeights` swaps the averaged weights in, so the file holds the raw
    weights that training continues from. `ValidateAndRecord` commits the epoch afterwards.
    """

    def __init__(self, state_dir: Path) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.last_path: Path | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.last_path = self.state_dir / f"epoch_{epoch + 1:03d}.keras"
        self.model.save(self.last_path)


class ValidateAndRecord(keras.callbacks.Callback):
    """After each epoch: validation balanced accuracy, history, best checkpoint, resumable state.

    `predict_val` returns validation probabilities from whichever model is training (the head
    on features in phase 1, the image model in phase 2); the checkpoint is always the full
    image model (softmax output), named with the epoch counted across both phases. With a
    `saver`, `state.json` is rewritten last, so it only ever names a complete epoch.
    """

    def __init__(
        self,
        full: keras.Model,
        predict_val: Callable[[], np.ndarray],
        y_val: np.ndarray,
        run_dir: Path,
        state: dict,
        epoch_offset: int,
        saver: SaveTrainingState | None = None,
    ) -> None:
        super().__init__()
        self.full, self.predict_val, self.y_val = full, predict_val, y_val
        self.run_dir, self.state, self.epoch_offset, self.saver = run_dir, state, epoch_offset, saver
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        score = balanced_accuracy(self.y_val, self.predict_val())
        number = self.epoch_offset + epoch + 1
        lr = self.model.optimizer.learning_rate
        self.state["history"].append(
            {
                "epoch": number,
                "phase_start": epoch == 0,
                **{k: float(v) for k, v in logs.items()},
                "learning_rate": float(keras.ops.convert_to_numpy(lr)),
                "val_balanced_accuracy": score,
                "seconds": time.monotonic() - self.started,
            }
        )
        best = self.state["best"]
        if score > best["score"]:
            path = self.run_dir / CHECKPOINT_PATTERN.format(epoch=number, score=score)
            self.full.save(path, include_optimizer=False)  # weights only matter downstream
            self.state["best"] = {"score": score, "path": path.name, "epoch": number}
            note = f"saved {path.name}"
        else:
            note = f"best {best['score']:.4f} at epoch {best['epoch']}"
        logger.info(f"epoch {number}: validation balanced accuracy {score:.4f} ({note})")
        if self.saver is not None:
            self.state["fine_tune_epochs_done"] = epoch + 1
            self.state["training_state"] = self.saver.last_path.name
            write_state(self.run_dir, self.state)
            for old in self.saver.state_dir.glob("epoch_*.keras"):
                if old != self.saver.last_path:
                    old.unlink()


def write_state(run_dir: Path, state: dict) -> None:
    """Atomically: a crash mid-write leaves the previous epoch's state in place."""
    tmp = run_dir / (paths.RUN_STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, run_dir / paths.RUN_STATE_FILE)


def read_state(run_dir: Path) -> dict:
    return json.loads((run_dir / paths.RUN_STATE_FILE).read_text())
