"""Error families of the service layers.

Three families, mapped once to exit codes in the CLI and to AWS error shapes in the API:

- caller mistakes: `InvalidInputError`, `NotFoundError`, `ConflictError`, `AccessDeniedError`;
- infrastructure failures: `BackendError` (key store, HSM, database, object store);
- untrusted-data failures: `firmseal.device.VerificationError`, which lives in the device
  package because that package may import nothing from the rest of firmseal.

Every message names the value that failed and, where there is one, the fix.
"""


class FirmsealError(Exception):
    """Base class of every error firmseal raises on purpose."""


class InvalidInputError(FirmsealError):
    """A request, argument or input file is malformed or out of range."""


class NotFoundError(FirmsealError):
    """A named key, certificate, profile, platform, job or object does not exist."""


class ConflictError(FirmsealError):
    """The request conflicts with the current state (a name taken, a canceled profile)."""


class AccessDeniedError(FirmsealError):
    """The caller may not perform this action."""


class BackendError(FirmsealError):
    """A key store, database or object store failed or is unreachable."""


class KeyStoreError(BackendError):
    """The key store cannot use a key (wrong master key, missing or damaged key file)."""
