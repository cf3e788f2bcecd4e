import pytest

from pipeline.validation import normalize_url, validate_lead


def test_a_complete_lead_is_cleaned_and_accepted():
    clean, errors = validate_lead(
        {"name": " Ada ", "email": "Ada@Acme.TEST", "company": "Acme", "company_url": "acme.test"}
    )
    assert errors == {}
    assert clean["name"] == "Ada"
    assert clean["email"] == "ada@acme.test"
    assert clean["company_url"] == "https://acme.test"


@pytest.mark.parametrize("email", ["", "ada", "ada@", "@acme.test", "a b@acme.test", "ada@acme"])
def test_a_missing_or_malformed_email_is_named_as_the_problem(email):
    _, errors = validate_lead({"email": email})
    assert "email" in errors


@pytest.mark.parametrize(
    "url", ["ftp://acme.test", "javascript:alert(1)", "http://", "https://acme .test", "http://a:x"]
)
def test_a_url_that_is_not_http_or_has_no_host_is_refused(url):
    _, errors = validate_lead({"email": "a@b.test", "company_url": url})
    assert "company_url" in errors


def test_a_lead_without_a_url_is_accepted_with_no_url():
    clean, errors = validate_lead({"email": "a@b.test", "company_url": ""})
    assert errors == {}
    assert clean["company_url"] is None


def test_too_long_fields_unknown_fields_and_non_strings_are_each_reported():
    _, errors = validate_lead({"email": "a@b.test", "name": "x" * 201, "age": 3, "company": 5})
    assert set(errors) == {"name", "fields", "company"}


def test_a_url_with_a_port_and_path_is_kept_as_given():
    assert normalize_url("http://127.0.0.1:8100/c/acme/") == "http://127.0.0.1:8100/c/acme/"
