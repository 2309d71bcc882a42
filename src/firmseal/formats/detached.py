"""A detached DER signature over the SHA-256 digest of the whole image (`NAME.sig`)."""

from __future__ import annotations

from firmseal.formats.base import ImageInput, SignContext, SignResult, hash_stream
from firmseal.fsutil import write_atomic
from firmseal.kms.base import Signer


def sign_detached(image: ImageInput, signer: Signer, context: SignContext) -> SignResult:
    digest, size = hash_stream(image.first_pass, "sha256", context.progress)
    signature = signer.sign_digest(digest)
    path = context.out_dir / f"{image.name}.sig"
    write_atomic(path, signature)
    return SignResult(digest=digest, signature=signature, image_size=size, files=[path])


class DetachedFormat:
    def sign(self, image: ImageInput, signer: Signer, context: SignContext) -> SignResult:
        return sign_detached(image, signer, context)
