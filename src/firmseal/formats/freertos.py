"""FreeRTOS OTA artifacts, as AWS Signer and AWS IoT write them.

- `NAME.sig`: the DER ECDSA signature over the SHA-256 of the image.
- `NAME.signed.json`: the JSONEmbedded signed object, with the keys in AWS's order:
  rawPayloadSize, signature (base64 DER), signatureAlgorithm, payload (base64 image).
- `NAME.ota-job.json`: the document `aws iot create-job --document` takes. The FreeRTOS OTA
  agent requires `protocols`, `files`, `filesize` and `fileid`, and decodes `sig-sha256-ecdsa`
  as one layer of base64 over the DER signature.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any, BinaryIO

from firmseal.errors import InvalidInputError
from firmseal.formats.base import CHUNK_SIZE, ImageInput, SignContext, SignResult
from firmseal.formats.detached import sign_detached
from firmseal.fsutil import atomic_writer, write_atomic
from firmseal.kms.base import Signer

SIGNATURE_ALGORITHM = "SHA256withECDSA"
PROTOCOLS = ("MQTT", "HTTP")
# Base64 turns every 3 input bytes into 4 characters, so chunks of a multiple of 3 bytes
# encode independently and concatenate into one valid base64 string.
_B64_CHUNK = (CHUNK_SIZE // 3) * 3


def write_signed_object(
    destination: BinaryIO, payload: BinaryIO, size: int, signature: bytes
) -> None:
    """Stream the JSONEmbedded signed object, base64-encoding the payload chunk by chunk."""
    head = (
        f'{{"rawPayloadSize":{size},'
        f'"signature":"{base64.b64encode(signature).decode()}",'
        f'"signatureAlgorithm":"{SIGNATURE_ALGORITHM}",'
        '"payload":"'
    )
    destination.write(head.encode())
    while chunk := payload.read(_B64_CHUNK):
        destination.write(base64.b64encode(chunk))
    destination.write(b'"}')


# Signing parameters this format reads; any other name is a typo worth reporting.
KNOWN_PARAMS = frozenset(
    {
        "certname",
        "protocol",
        "streamname",
        "filepath",
        "fileid",
        "filetype",
        "update_data_url",
        "auth_scheme",
    }
)
_UINT32 = re.compile(r"[0-9]{1,10}")


def parse_protocols(value: str) -> list[str]:
    protocols = [item.strip().upper() for item in value.split(",")]
    if (
        not protocols
        or any(item not in PROTOCOLS for item in protocols)
        or len(set(protocols)) != len(protocols)
    ):
        raise InvalidInputError(
            f"invalid signing parameter protocol={value!r}; expected MQTT, HTTP or MQTT,HTTP"
        )
    return protocols


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    """Read a decimal uint32 parameter, as the OTA agent stores fileid and fileType."""
    raw = params.get(name)
    if raw is None:
        return default
    if not _UINT32.fullmatch(raw) or int(raw) > 0xFFFFFFFF:
        raise InvalidInputError(
            f"invalid signing parameter {name}={raw!r}; expected a decimal integer from 0 "
            "to 4294967295"
        )
    return int(raw)


def validate_params(params: Mapping[str, str]) -> None:
    """Reject unknown names and empty values, then build a job document to check the rest."""
    unknown = sorted(set(params) - KNOWN_PARAMS)
    if unknown:
        raise InvalidInputError(
            f"unknown signing parameter {unknown[0]!r} for FreeRTOS OTA; known parameters: "
            f"{', '.join(sorted(KNOWN_PARAMS))}"
        )
    empty = sorted(name for name, value in params.items() if not value.strip())
    if empty:
        raise InvalidInputError(f"signing parameter {empty[0]} is empty; give it a value")
    build_job_document("image", 0, b"", params, "job")


def build_job_document(
    name: str, size: int, signature: bytes, params: Mapping[str, str], job_id: str
) -> dict[str, Any]:
    """Build the AWS IoT job document for one OTA file."""
    certname = params.get("certname")
    if not certname:
        raise InvalidInputError(
            "missing signing parameter certname (the path of the code-signing certificate "
            "on the device); set it with --param certname=PATH"
        )
    protocols = parse_protocols(params.get("protocol", "MQTT"))
    file_entry: dict[str, Any] = {
        "filepath": params.get("filepath", name),
        "filesize": size,
        "fileid": _int_param(params, "fileid", 0),
        "certfile": certname,
    }
    if "filetype" in params:
        file_entry["fileType"] = _int_param(params, "filetype", 0)
    if "HTTP" in protocols:
        url = params.get("update_data_url")
        if not url:
            raise InvalidInputError(
                "missing signing parameter update_data_url for protocol HTTP; set it with "
                "--param update_data_url=URL (AWS IoT accepts "
                "${aws:iot:s3-presigned-url:https://BUCKET.s3.amazonaws.com/KEY})"
            )
        file_entry["update_data_url"] = url
        file_entry["auth_scheme"] = params.get("auth_scheme", "aws.s3.presigned")
    file_entry["sig-sha256-ecdsa"] = base64.b64encode(signature).decode()
    document: dict[str, Any] = {"protocols": protocols}
    if "MQTT" in protocols:
        document["streamname"] = params.get("streamname", f"AFR_OTA-{job_id}")
    document["files"] = [file_entry]
    return {"afr_ota": document}


class FreeRtosOtaFormat:
    def validate_params(self, params: Mapping[str, str]) -> None:
        validate_params(params)

    def sign(self, image: ImageInput, signer: Signer, context: SignContext) -> SignResult:
        job_id = context.job_id
        # Check the parameters before the image is read, so a typo costs no signature.
        validate_params(context.params)
        result = sign_detached(image, signer, context)

        signed_path = context.out_dir / f"{image.name}.signed.json"
        with image.reopen() as payload, atomic_writer(signed_path) as out:
            write_signed_object(out, payload, result.image_size, result.signature)
        result.files.append(signed_path)

        job_path = context.out_dir / f"{image.name}.ota-job.json"
        # The device receives the flat image, so HEX input gets a .bin default path.
        name = image.name
        if image.source_format == "hex":
            name = f"{name.rsplit('.', 1)[0]}.bin"
        document = build_job_document(
            name, result.image_size, result.signature, context.params, job_id
        )
        write_atomic(job_path, json.dumps(document, indent=2).encode() + b"\n")
        result.files.append(job_path)
        return result
