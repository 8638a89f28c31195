"""The service's command-line client (not a test suite: the name is the one the project's design
asks for). Classifies one image with the local Lambda endpoint, an API Gateway URL, or a deployed
function, and prints the most likely diagnosis and every class's probability.

  python test.py                                   # the seed's melanoma picture, local endpoint
  python test.py path/to/lesion.jpg                # a local file, sent as base64
  python test.py https://.../lesion.jpg --api-url https://abc.execute-api.eu-west-1.amazonaws.com/prod/predict
  python test.py lesion.jpg --function-name skin-lesion-classifier:live   # boto3 (the released alias)
  python test.py lesion.jpg --explain              # also save where the model looked: lesion_explain.png
  python test.py lesion.jpg --age 63 --sex female --site back   # with the patient's metadata

Exit status: 0 a prediction, 1 the service answered an error, 2 bad arguments, 3 unreachable.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from skinlesion.client import (
    API_KEY_ENV,
    DEFAULT_IMAGE,
    LOCAL_ENDPOINT,
    EndpointUnreachable,
    build_request,
    invoke_function,
    is_error,
    post_json,
    report,
    save_overlay,
)
from skinlesion.contract import REQUEST_TIMEOUT_S


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "image",
        nargs="?",
        default=DEFAULT_IMAGE,
        help="an http(s) image URL for the service to fetch, or a local image file to upload "
        "as base64 (default: the seed's melanoma picture on Wikimedia)",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--endpoint",
        default=LOCAL_ENDPOINT,
        help=f"Lambda invoke URL of a local emulator or container (default: {LOCAL_ENDPOINT})",
    )
    target.add_argument(
        "--api-url",
        help="a deployed API Gateway endpoint, e.g. https://ID.execute-api.REGION.amazonaws.com/prod/predict "
        "(the JSON body is the same)",
    )
    target.add_argument(
        "--function-name",
        help="invoke a deployed Lambda function directly with boto3 (credentials and region from the usual "
        "AWS settings)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=REQUEST_TIMEOUT_S,
        help=f"seconds to wait for an answer (default: {REQUEST_TIMEOUT_S}: the function's time limit and "
        "the upload of a full request on a slow link)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"the deployment's API key, sent as x-api-key with --api-url (default: ${API_KEY_ENV}; "
        "get it with: aws apigateway get-api-key --include-value --api-key <ApiKeyId output>)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the raw JSON answer instead of the summary"
    )
    parser.add_argument(
        "--explain",
        nargs="?",
        const=True,
        default=False,
        metavar="CLASS",
        help="ask for the class activation map of the predicted class (or of CLASS, e.g. mel) and save "
        "its overlay as a PNG",
    )
    patient = parser.add_argument_group(
        "the patient (optional; the answer then weighs the image with them, and says which were used)"
    )
    patient.add_argument("--age", type=float, help="age in years, 0 to 120")
    patient.add_argument("--sex", help="male or female (m, f)")
    patient.add_argument(
        "--site",
        help="body site: abdomen, acral, back, chest, ear, face, foot, genital, hand, lower extremity, neck, "
        "scalp, trunk, upper extremity, or a common synonym (leg, arm, palm, torso, ...)",
    )
    parser.add_argument(
        "--overlay",
        type=Path,
        default=None,
        help="where --explain saves the overlay (default: <image name>_explain.png in the current folder)",
    )
    args = parser.parse_args(argv)

    try:
        payload = build_request(
            args.image, args.explain, {"age": args.age, "sex": args.sex, "site": args.site}
        )
        if args.function_name:
            answer = invoke_function(args.function_name, payload)
        else:
            answer = post_json(args.api_url or args.endpoint, payload, args.timeout, args.api_key)
    except FileNotFoundError as error:
        print(f"test.py: {error}", file=sys.stderr)
        return 2
    except EndpointUnreachable as error:
        print(
            f"test.py: {error}\nIs the service running? Start it locally with `make serve`.", file=sys.stderr
        )
        return 3
    print(json.dumps(answer, indent=2) if args.json else report(answer))
    overlay = args.overlay or Path(f"{Path(urlsplit(args.image).path).stem or 'image'}_explain.png")
    if args.explain and save_overlay(answer, overlay):
        print(f"heatmap overlay ({answer['explanation']['class']}): {overlay}")
    return 1 if is_error(answer) else 0


if __name__ == "__main__":
    sys.exit(main())
