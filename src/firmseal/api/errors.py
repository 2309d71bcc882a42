"""AWS error shapes: the `x-amzn-ErrorType` header and a JSON body with `message`."""

from __future__ import annotations

from firmseal.errors import (
    AccessDeniedError,
    BackendError,
    ConflictError,
    FirmsealError,
    InvalidInputError,
    NotFoundError,
)
from firmseal.kms.pkcs11_uri import redact_pin_values
from firmseal.service.permissions import LimitExceededError
from firmseal.service.queue import TokenReusedError

# Status codes from botocore's signer model, plus the authentication errors AWS returns for
# REST-JSON services before a request reaches an operation.
STATUS = {
    "ValidationException": 400,
    "BadRequestException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "NotFoundException": 404,
    "ConflictException": 409,
    "ServiceLimitExceededException": 402,
    "TooManyRequestsException": 429,
    "ThrottlingException": 429,
    "InternalServiceErrorException": 500,
    "MissingAuthenticationTokenException": 403,
    "InvalidSignatureException": 403,
    "UnrecognizedClientException": 403,
    "IncompleteSignatureException": 403,
    "UnknownOperationException": 404,
}


class ApiError(Exception):
    """An error returned to the client in AWS's shape."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS[self.code]


def validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


# Domain errors in order of preference; the first code the operation models wins.
_CANDIDATES: list[tuple[type[FirmsealError], tuple[str, ...]]] = [
    # Idempotency conflicts are ConflictException on every operation, as AWS APIs return
    # them, although the model lists it for StartSigningJob only implicitly.
    (TokenReusedError, ("ConflictException",)),
    (LimitExceededError, ("ServiceLimitExceededException", "ValidationException")),
    (AccessDeniedError, ("AccessDeniedException",)),
    (NotFoundError, ("ResourceNotFoundException", "NotFoundException", "ValidationException")),
    (ConflictError, ("ConflictException", "ValidationException", "BadRequestException")),
    (InvalidInputError, ("ValidationException", "BadRequestException")),
    (BackendError, ("InternalServiceErrorException",)),
]


def from_domain(error: FirmsealError, modeled: frozenset[str]) -> ApiError:
    """Map a service error to the AWS error code the operation's model lists for it.

    When an operation models none of the preferred codes (PutSigningProfile has no
    ConflictException, the tag operations use BadRequestException and NotFoundException),
    the first code in the list is used.
    """
    for error_type, codes in _CANDIDATES:
        if isinstance(error, error_type):
            code = next((c for c in codes if c in modeled), codes[0])
            if code == "InternalServiceErrorException":
                return ApiError(code, "the service failed to process the request; retry later")
            return ApiError(code, redact_pin_values(str(error)))
    return ApiError("ValidationException", redact_pin_values(str(error)))
