"""Keyed tokens for card numbers: HMAC-SHA-256 (RFC 2104, FIPS 198-1), hex-encoded.

The same number under the same key always gives the same token, so features keyed by card
still work; without the key a token cannot be reversed or recomputed. The key comes from the
environment variable ``config.ingest.token_key_env`` or the file ``config.ingest.token_key_file``
(its first line), never from the repository.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraudspark.config import IngestConfig

_BLOCK = 64  # SHA-256 block size in bytes
# A key shorter than this is refused: it could be guessed by trying keys on a known number.
MIN_KEY_BYTES = 16


class TokenKeyError(ValueError):
    """No usable token key is configured."""


def token_key(config: IngestConfig) -> bytes:
    """The HMAC key: ``$<token_key_env>`` if set, else the first line of ``token_key_file``.

    Raises :class:`TokenKeyError` saying how to set it when neither gives at least
    :data:`MIN_KEY_BYTES` bytes.
    """
    value = os.environ.get(config.token_key_env)
    where = f"${config.token_key_env}"
    if not value and config.token_key_file:
        where = config.token_key_file
        try:
            value = Path(config.token_key_file).expanduser().read_text().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise TokenKeyError(f"cannot read the card-token key file {where}: {exc}") from None
    if not value:
        raise TokenKeyError(
            f"the source has card-number columns but no token key is set: export "
            f"{config.token_key_env}=<secret of at least {MIN_KEY_BYTES} bytes> or set "
            f"ingest.token_key_file in the configuration"
        )
    key = value.encode()
    if len(key) < MIN_KEY_BYTES:
        raise TokenKeyError(f"the card-token key in {where} is shorter than {MIN_KEY_BYTES} bytes")
    return key


def hmac_sha256_column(value: Column, key: bytes) -> Column:
    """HMAC-SHA-256 of a string column's UTF-8 bytes as 64 lowercase hex characters (null
    stays null), built from Spark's ``sha2`` so it runs in the JVM:
    H((K xor opad) || H((K xor ipad) || m)) as in RFC 2104."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\x00")
    inner_pad = bytes(b ^ 0x36 for b in key)
    outer_pad = bytes(b ^ 0x5C for b in key)
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), value.cast("binary")), 256))
    return F.sha2(F.concat(F.lit(outer_pad), inner), 256)
