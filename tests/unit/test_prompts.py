import pytest

from pipeline.errors import EmptyContent
from pipeline.prompts import MAX_CONTENT_CHARS, parse_output, request_params, user_message

LEAD = {
    "name": "Ada Lovelace",
    "title": "CTO",
    "company": "Acme Robotics",
    "company_url": "https://acme.test",
    "email": "ada@acme.test",
}


def test_every_llm_prompt_names_the_task_the_company_and_the_contact():
    lead = dict(
        LEAD,
        scrape_result={"pages": [{"title": "Home", "content": "We build robots"}]},
        intel_result={"text": "report"},
        strategy_result={"text": "plan"},
        subject_result={"chosen": "Robots for Acme"},
    )
    for stage in ("intel", "strategy", "subject", "messaging"):
        params = request_params(stage, lead, "model-x")
        assert params["system"].startswith(f"Task: {stage}\n")
        content = params["messages"][0]["content"]
        assert "Company: Acme Robotics" in content
        assert "Contact: Ada Lovelace (CTO)" in content
    assert "We build robots" in user_message("intel", lead)
    assert "Subject: Robots for Acme" in user_message("messaging", lead)


def test_scraped_text_sent_to_the_model_is_capped():
    pages = [{"title": f"p{i}", "content": "x" * 10_000} for i in range(10)]
    text = user_message("intel", dict(LEAD, scrape_result={"pages": pages}))
    assert len(text) < MAX_CONTENT_CHARS + 500


def test_the_intel_fit_score_is_read_from_the_report_and_capped_at_100():
    assert parse_output("intel", "Good fit.\nFit score: 87")["fit_score"] == 87
    assert parse_output("intel", "Fit score: 250")["fit_score"] == 100
    assert parse_output("intel", "no score here")["fit_score"] is None


def test_subject_options_are_read_from_numbered_lines_and_the_first_is_chosen():
    result = parse_output("subject", '1. Robots for Acme\n2) Faster lines\n3. "Hi Ada"')
    assert result["options"] == ["Robots for Acme", "Faster lines", "Hi Ada"]
    assert result["chosen"] == "Robots for Acme"


def test_the_email_is_split_into_subject_and_body():
    result = parse_output("messaging", "Subject: Robots for Acme\n\nHi Ada,\nBody.")
    assert result["subject"] == "Robots for Acme"
    assert result["body"] == "Hi Ada,\nBody."


def test_an_empty_answer_is_empty_content():
    with pytest.raises(EmptyContent):
        parse_output("strategy", "   ")
