"""In a worker process: one job (one runtime, one thread setting), given and answered as JSON.

Each job runs in a fresh interpreter (bench/compare.py --worker) so that one runtime's thread
pools cannot slow another and TensorFlow's thread count is set before it starts: the runtimes
are imported inside the functions, only by the job that needs them.
"""

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.serving import WARMUP, image_event, peak_rss_kb, warm_latency
from skinlesion.image.decode import decode_image
from skinlesion.image.preprocessing import Preprocessor, PreprocessSpec
from skinlesion.serving.config import Settings

ONNX_OPSET = 17
THROUGHPUT_IMAGES = 64  # images timed per batch size
Predict = Callable[[np.ndarray], np.ndarray]


def load_predictor(runtime: str, path: Path, threads: int, preprocessor: Preprocessor) -> Predict:
    """Resized uint8 (N, H, W, 3) images -> (N, 7) probabilities in CLASS_CODES order. The served
    TFLite graph scales the pixels itself; Keras and ONNX take the float tensor, scaled here."""
    if runtime == "tflite":
        from skinlesion.inference import LesionModel

        return LesionModel.load(path, num_threads=threads).predict  # one invoke per image, as served
    if runtime == "keras":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        import keras

        network = keras.models.load_model(path, compile=False)
        return lambda x: np.asarray(network(preprocessor.preprocess(x), training=False))
    if runtime == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: preprocessor.preprocess(x)})[0]
    raise ValueError(f"unknown runtime {runtime!r}")


def warm_timings(
    predict: Predict, preprocessor: Preprocessor, blobs: list[bytes], rounds: int, label: str
) -> list[float]:
    """Milliseconds from JPEG bytes to probabilities, one image at a time, after a warm-up."""

    def answer(data: bytes) -> np.ndarray:
        image = decode_image(data, min_size=preprocessor.spec.decode_size)
        return predict(preprocessor.resized_array(image)[None])

    for data in blobs[:WARMUP]:
        answer(data)
    timings = []
    for i in tqdm(range(rounds), desc=label, unit="img", leave=False):
        started = time.perf_counter()
        answer(blobs[i % len(blobs)])
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def predict_all(predict: Predict, preprocessor: Preprocessor, images: np.ndarray, label: str) -> np.ndarray:
    """Probabilities for the resized uint8 validation images, in chunks of 32."""
    starts = range(0, len(images), 32)
    return np.concatenate([predict(images[i : i + 32]) for i in tqdm(starts, desc=label, leave=False)])


def handler_figures(
    model: Path, blobs: list[bytes], rounds: int, threads: int, sizes: list[int]
) -> dict[str, Any]:
    """The whole handler (base64 JSON event in, response out): one image, then batches of N."""
    from skinlesion.serving.handler import Service, handle

    events = [image_event(data) for data in blobs]
    result: dict[str, Any] = {"latency_ms": warm_latency(model, events, rounds, threads), "images_per_s": {}}
    service = Service(Settings(model_path=model, num_threads=threads))
    for n in sizes:
        event = {"instances": [events[i % len(events)] for i in range(n)]}
        handle(event, None, service)
        seconds = []
        for _ in tqdm(range(max(3, -(-THROUGHPUT_IMAGES // n))), desc=f"batches of {n}", leave=False):
            started = time.perf_counter()
            answer = handle(event, None, service)
            seconds.append(time.perf_counter() - started)
            if any("error" in p for p in answer.get("predictions", [answer])):
                raise RuntimeError(f"the batch of {n} was not answered: {str(answer)[:300]}")
        result["images_per_s"][str(n)] = n / statistics.median(seconds)
    return result


def convert_onnx(h5: Path, out: Path, input_size: list[int]) -> dict[str, Any]:
    """`.h5` -> ONNX by tf2onnx.convert.from_keras, which handles Keras 3 on TF 2.21 here
    (`from_tflite` on the float32 `.tflite` works too and gives the same outputs)."""
    import keras
    import tensorflow as tf
    import tf2onnx

    network = keras.models.load_model(h5, compile=False)
    width, height = input_size
    signature = [tf.TensorSpec((None, height, width, 3), tf.float32, name="image")]
    started = time.perf_counter()
    tf2onnx.convert.from_keras(network, input_signature=signature, opset=ONNX_OPSET, output_path=str(out))
    return {
        "method": "tf2onnx.convert.from_keras(.h5)",
        "tf2onnx": tf2onnx.__version__,
        "opset": ONNX_OPSET,
        "seconds": time.perf_counter() - started,
        "file_mb": out.stat().st_size / 1e6,
    }


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """One job of `run_job`, in this fresh process; job and answer are JSON objects."""
    model, threads = Path(job["model"]), job.get("threads", 1)
    if job["runtime"] == "convert-onnx":
        return convert_onnx(model, Path(job["out"]), job["input_size"])
    blobs = [Path(p).read_bytes() for p in job["images"]]
    if job["runtime"] == "handler":
        return handler_figures(model, blobs, job["rounds"], threads, job["batch_sizes"])
    preprocessor = Preprocessor(PreprocessSpec.from_card(job["preprocessing"]))
    predict = load_predictor(job["runtime"], model, threads, preprocessor)
    result = {"latency_ms": warm_timings(predict, preprocessor, blobs, job["rounds"], job["label"])}
    result["peak_rss_mb"] = peak_rss_kb() / 1024  # before the validation images are touched
    if job.get("val_images"):
        images = np.load(job["val_images"], mmap_mode="r")
        np.save(job["probs"], predict_all(predict, preprocessor, images, f"{job['label']} validation"))
    return result
