import pytest

from pipeline.signing import SignatureError, parse_header, sign, verify

BODY = b'{"job": {"id": "j1"}, "metadata": {"reference": "L1-scrape-1"}}'
NOW = 1_800_000_000


def test_a_body_signed_with_the_shared_secret_verifies():
    header = sign("s3cret", BODY, NOW)
    assert verify("s3cret", BODY, header, now=NOW + 10) == NOW


def test_a_signature_made_with_another_secret_is_rejected():
    header = sign("other", BODY, NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify("s3cret", BODY, header, now=NOW)


def test_a_signature_older_than_five_minutes_is_rejected_as_a_replay():
    header = sign("s3cret", BODY, NOW)
    with pytest.raises(SignatureError, match="tolerance"):
        verify("s3cret", BODY, header, now=NOW + 301)


def test_a_timestamp_from_the_future_beyond_the_tolerance_is_rejected():
    header = sign("s3cret", BODY, NOW + 3600)
    with pytest.raises(SignatureError, match="tolerance"):
        verify("s3cret", BODY, header, now=NOW)


def test_a_tampered_body_is_rejected():
    header = sign("s3cret", BODY, NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify("s3cret", BODY.replace(b"j1", b"j2"), header, now=NOW)


def test_a_replayed_signature_with_a_new_timestamp_is_rejected():
    header = sign("s3cret", BODY, NOW)
    forged = header.replace(f"t={NOW}", f"t={NOW + 100}")
    with pytest.raises(SignatureError, match="does not match"):
        verify("s3cret", BODY, forged, now=NOW + 100)


def test_verification_refuses_to_run_without_a_secret():
    with pytest.raises(SignatureError, match="no webhook secret"):
        verify("", BODY, sign("x", BODY, NOW), now=NOW)


@pytest.mark.parametrize(
    "header", [None, "", "garbage", "t=abc,v1=00", "t=123", "v1=abc", "t=1,,v1=2"]
)
def test_a_missing_or_malformed_header_is_rejected_with_a_clear_message(header):
    with pytest.raises(SignatureError):
        verify("s3cret", BODY, header, now=NOW)


def test_any_of_several_signatures_may_match_so_secrets_can_rotate():
    good = sign("s3cret", BODY, NOW).split(",")[1]
    header = f"t={NOW},v1={'0' * 64},{good}"
    assert parse_header(header)[0] == NOW
    assert verify("s3cret", BODY, header, now=NOW) == NOW
