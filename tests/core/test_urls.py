"""URLs shown in logs, errors and command lines hide their password (``flowgen.urls.mask_url``)."""

from __future__ import annotations

import pytest

from flowgen.urls import mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:s3cret@host:6379/0", "redis://user:***@host:6379/0"),
        ("rediss://default:p@ss@host/0", "rediss://default:***@host/0"),
        ("redis://s3cret@host", "redis://***@host"),
        ("redis://:s3cret@host:notaport/0", "redis://:***@host:notaport/0"),
        ("unix://:s3cret@/var/run/redis.sock?db=1", "unix://:***@/var/run/redis.sock?db=1"),
        ("redis://host/0?password=s3cret&socket_timeout=5", "redis://host/0?password=***&socket_timeout=5"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("sqlite:///runs.db", "sqlite:///runs.db"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url_hides_every_password_form(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "s3cret" not in mask_url(url)
