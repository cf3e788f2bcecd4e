"""Property tests of the webhook signature: only a body signed with the secret, recently,
verifies; anything else is a SignatureError (never another exception, never a pass)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.signing import SignatureError, sign, verify

NOW = 1_800_000_000
secrets = st.text(min_size=1, max_size=40)
bodies = st.binary(max_size=2000)
skews = st.integers(min_value=-300, max_value=300)


@given(secret=secrets, body=bodies, skew=skews)
def test_a_body_signed_with_the_secret_within_the_tolerance_always_verifies(secret, body, skew):
    assert verify(secret, body, sign(secret, body, NOW + skew), now=NOW) == NOW + skew


@given(secret=secrets, body=bodies.filter(bool), data=st.data())
def test_changing_any_byte_of_the_body_breaks_the_signature(secret, body, data):
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(SignatureError, match="does not match"):
        verify(secret, tampered, sign(secret, body, NOW), now=NOW)


@given(secret=secrets, other=secrets, body=bodies)
def test_a_signature_made_with_another_secret_never_verifies(secret, other, body):
    if other == secret:
        return
    with pytest.raises(SignatureError):
        verify(secret, body, sign(other, body, NOW), now=NOW)


@given(secret=secrets, body=bodies, age=st.integers(min_value=301, max_value=10**9))
def test_a_valid_signature_replayed_outside_the_tolerance_never_verifies(secret, body, age):
    header = sign(secret, body, NOW)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(secret, body, header, now=NOW + age)


@given(header=st.one_of(st.none(), st.text(max_size=200)), body=bodies)
def test_an_arbitrary_header_is_refused_with_a_signature_error_and_nothing_else(header, body):
    with pytest.raises(SignatureError):
        verify("s3cret", body, header, now=NOW)


@given(
    stamp=st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=12),
    body=bodies,
)
def test_a_timestamp_of_unicode_digits_is_refused_as_malformed(stamp, body):
    with pytest.raises(SignatureError):
        verify("s3cret", body, f"t={stamp},v1=00", now=NOW)
