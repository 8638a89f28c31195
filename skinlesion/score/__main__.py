"""Score a folder (or a CSV list) of images with the classifier: one CSV row per image.

  python -m skinlesion.score images/ --out results.csv                      # the shipped model, here
  python -m skinlesion.score images/ --out results.csv --labels labels.csv  # + an evaluation beside it
  python -m skinlesion.score list.csv --endpoint https://ID.execute-api.REGION.amazonaws.com/prod/predict
  python -m skinlesion.score images/ --function-name skin-lesion-classifier:live --concurrency 32

Made for thousands of images: a progress bar with rate and ETA; rows are flushed as answers come,
and images already in --out are skipped, so a stopped run goes on where it stopped when run again;
a bad file becomes a row with the service's error code instead of stopping the run. Remote modes
batch images within Lambda's 6 MB request limit, fan requests out over threads (Lambda scales
out) and retry with backoff when throttled.
"""

import argparse
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tqdm import tqdm

from skinlesion.client import API_KEY_ENV
from skinlesion.contract import PAYLOAD_LIMIT, REQUEST_TIMEOUT_S
from skinlesion.paths import DEFAULT_MODEL_PATH, REPO_ROOT
from skinlesion.score.backends import MAX_BACKOFF, build_backend
from skinlesion.score.errors import RunStopped, UsageError
from skinlesion.score.evaluation import evaluate_results, read_labels
from skinlesion.score.inputs import list_input
from skinlesion.score.results import appending, read_results, rewrite_results
from skinlesion.score.scoring import quiet_request_logs, run
from skinlesion.serving.config import Settings

MAX_BATCH = Settings.max_batch  # the service's MAX_BATCH default
DEFAULT_CONCURRENCY = 8
# Served only by the Runtime Interface Emulator (make serve, the container): one invocation at a
# time, and it crashes on concurrent ones, so it gets one request at a time unless told otherwise.
EMULATOR_PATH = "/2015-03-31/functions/function/invocations"

EPILOG = """\
output columns (one row per image; empty where the model or its card gives nothing):
  image                  the image as INPUT names it: its path under the folder, or the CSV's `path`
  age, sex, site         the patient's metadata the service used with the image, as it read them
                         (e.g. site "leg" reads as "lower extremity"); empty when none was given
  prediction, label      the most probable class code and its name
  p_akiec .. p_vasc      each class's probability (calibrated when the card says so); with
                         metadata, of image and metadata together (so are the probability and
                         alerts below)
  malignant_probability  P(mel) + P(bcc) + P(akiec)
  melanoma_alert, malignant_alert   True/False at the operating points of the model's card
  out_of_distribution, ood_reasons  the "not like the training images" flag; the checks that failed
  error_code, error_message         empty when the image was scored

error codes: the service's own (python -m skinlesion.contract lists them), e.g. not_an_image,
undecodable_image, image_too_large, fetch_failed (a URL that answered an error, or a file that
cannot be read), invalid_metadata (a row's age, sex or site the service does not take),
metadata_unavailable (a row with metadata, for a model that takes none: score without those
columns); and from the remote modes: throttled (still throttled after --max-retries),
http_NNN (a gateway error such as 503 after the retries, or an answer that is not the service's),
lambda_error (the function itself failed, e.g. timed out).

resuming: images already in --out are skipped and new rows appended; run the same command again
after a stop. --retry-errors scores the error rows again (after throttling, say). An --out written
before the age, sex and site columns is given them, empty.

limits and URL rules in --local come from the service's environment variables (MAX_IMAGE_BYTES,
MAX_PIXELS, FETCH_DEADLINE, ALLOW_PRIVATE_URLS, ...: see the README).

exit status: 0 done (error rows included), 1 stopped (endpoint unreachable or refusing us; the
rows written stay), 2 bad arguments, 130 interrupted."""


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def non_negative(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m skinlesion.score",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input",
        type=Path,
        metavar="INPUT",
        help="a folder of images (jpg, jpeg, png, webp, bmp, gif, tif, tiff; searched recursively, scored "
        "in sorted order) or a .csv file with a `path` column: local paths (relative to the CSV's folder) "
        "or http(s) URLs, which the service downloads; and optionally the patient's `age` (years, 0 to "
        "120), `sex` (male, female) and `site` (a HAM10000 body site such as back, face, lower extremity, "
        "or a common word such as leg, palm, torso), sent with that image (an empty cell: not given)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="CSV",
        default=Path("results.csv"),
        help="the results CSV; if it exists, the images already in it are skipped and new rows appended "
        "(default: results.csv)",
    )
    parser.add_argument(
        "--retry-errors",
        action="store_true",
        help="remove the error rows from --out first, so that those images are scored again",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="CSV",
        help="a CSV with `dx` and `image_id` (matched to the file's stem) or `image` (matched to the image "
        "column), optionally `lesion_id` (intervals then resample lesions): evaluate the scored images "
        "that have a label and write <out stem>_evaluation.md and <out stem>_confusion.png beside --out",
    )
    where = parser.add_argument_group("where the model runs (one of)").add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        action="store_true",
        help="in this process, through the Lambda handler's own code, no server (the default)",
    )
    where.add_argument(
        "--endpoint",
        metavar="URL",
        help="POST to a Lambda invoke URL (the local emulator or container: "
        f"http://localhost:8080{EMULATOR_PATH}) or an API Gateway URL",
    )
    where.add_argument(
        "--function-name",
        metavar="NAME",
        help="invoke the deployed Lambda function with boto3 (credentials and region from the usual AWS "
        "settings)",
    )
    local = parser.add_argument_group("--local only")
    local.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help="the .tflite model, its card the .json beside it (default: the shipped model, "
        f"{DEFAULT_MODEL_PATH.relative_to(REPO_ROOT)})",
    )
    local.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="TFLite interpreter threads (default: $TFLITE_NUM_THREADS, else the runtime's choice)",
    )
    remote = parser.add_argument_group("--endpoint and --function-name only")
    remote.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help=f"requests in flight at once; Lambda runs them side by side (default: {DEFAULT_CONCURRENCY}; "
        "1 for the emulator's invoke URL, which serves one invocation at a time and crashes on concurrent "
        "ones)",
    )
    remote.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        metavar="K",
        help=f'images per request, sent as {{"instances": [...]}}, at most {MAX_BATCH}; a request is split '
        f"sooner to stay under {PAYLOAD_LIMIT / 1e6:.1f} MB (default: 8)",
    )
    remote.add_argument(
        "--max-retries",
        type=non_negative(int),
        default=None,
        metavar="N",
        help="tries again after throttling (HTTP 429, TooManyRequestsException) or a gateway error "
        "(502/503/504 that is not the service's own answer), then records an error row (default: 5)",
    )
    remote.add_argument(
        "--backoff",
        type=non_negative(float),
        default=None,
        metavar="SECONDS",
        help="the first wait before trying again, in seconds; doubled at each retry, with jitter, at most "
        f"{MAX_BACKOFF:g} s (default: 0.5)",
    )
    remote.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"seconds to wait for one answer (default: {REQUEST_TIMEOUT_S}: the function's time limit and "
        "the upload of a full request on a slow link)",
    )
    remote.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        metavar="KEY",
        help=f"with --endpoint: the deployment's API key, sent as x-api-key (default: ${API_KEY_ENV})",
    )
    return parser


def check_modes(args: argparse.Namespace) -> None:
    """Fill the defaults of the chosen mode and refuse the options of the other, rather than
    silently ignore them."""
    remote = args.endpoint is not None or args.function_name is not None
    local_options = {"--model": args.model, "--threads": args.threads}
    remote_options = {
        "--concurrency": args.concurrency,
        "--batch-size": args.batch_size,
        "--max-retries": args.max_retries,
        "--backoff": args.backoff,
        "--timeout": args.timeout,
    }
    given = [
        name for name, value in (local_options if remote else remote_options).items() if value is not None
    ]
    if given:
        mode = "--endpoint or --function-name" if remote else "--local"
        raise UsageError(f"{', '.join(given)} cannot be used with {mode}")
    if not remote:
        args.model = args.model or DEFAULT_MODEL_PATH
        return
    if args.endpoint is not None and urlsplit(args.endpoint).scheme not in ("http", "https"):
        raise UsageError(f"--endpoint must be an http(s) URL, got {args.endpoint!r}")
    emulator = args.endpoint is not None and urlsplit(args.endpoint).path.rstrip("/") == EMULATOR_PATH
    if args.concurrency is None:
        args.concurrency = 1 if emulator else DEFAULT_CONCURRENCY
    elif emulator and args.concurrency > 1:
        print(
            "warning: the Lambda emulator serves one invocation at a time and crashes on concurrent ones; "
            "--concurrency 1 is safe there",
            file=sys.stderr,
        )
    args.batch_size = 8 if args.batch_size is None else args.batch_size
    if args.batch_size > MAX_BATCH:
        raise UsageError(f"--batch-size is at most {MAX_BATCH} (the service's MAX_BATCH)")
    args.max_retries = 5 if args.max_retries is None else args.max_retries
    args.backoff = 0.5 if args.backoff is None else args.backoff
    args.timeout = float(REQUEST_TIMEOUT_S) if args.timeout is None else args.timeout
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stop = threading.Event()
    try:
        check_modes(args)
        items = list_input(args.input, exclude=args.out.with_name(f"{args.out.stem}_confusion.png").resolve())
        labels = read_labels(args.labels) if args.labels else None
        rows = read_results(args.out)
        if args.retry_errors and any(row["error_code"] for row in rows):
            rows = [row for row in rows if not row["error_code"]]
            rewrite_results(args.out, rows)
        backend = build_backend(args, stop)
    except UsageError as error:
        parser.error(str(error))
    done = {row["image"] for row in rows}
    todo = [item for item in items if item.image not in done]
    print(
        f"{len(items)} images in {args.input}; {len(items) - len(todo)} already in {args.out}; "
        f"scoring {len(todo)} {backend.describe}",
        flush=True,
    )
    try:
        with (
            quiet_request_logs(),
            appending(args.out) as write,
            tqdm(total=len(todo), unit="img", desc="scoring", smoothing=0.05) as bar,
        ):
            errors = run(todo, backend, write, bar, stop)
    except RunStopped as error:
        print(
            f"stopped: {error}\nThe rows written so far are in {args.out}; run again to go on.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the rows written so far are in {args.out}; run again to go on.", file=sys.stderr
        )
        return 130
    detail = "".join(f", {code} {count}" for code, count in errors.most_common())
    print(f"scored {len(todo)} images ({errors.total()} error rows{detail}) -> {args.out}")
    if labels is not None:
        written = evaluate_results(args.out, labels)
        if written:
            print(f"evaluation: {written[0]}\nconfusion matrix: {written[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
