"""The stand-in LLM's text: deterministic, shaped like each task's answer."""

from __future__ import annotations

import re

from localservices.textgen import compose

CONTENT = (
    "Company: Bluefin Security\nContact: Hannah Chen\n\n"
    "# Bluefin Security\n"
    "Bluefin Security is a security company based in Seattle, founded in 1999.\n"
)


def _system(task: str) -> str:
    return f"You are a sales assistant.\nTask: {task}\nAnswer briefly."


def test_the_same_prompt_always_gets_the_same_reply() -> None:
    for task in ("intel", "strategy", "subject", "messaging", "unknown"):
        assert compose(_system(task), CONTENT) == compose(_system(task), CONTENT)


def test_different_prompts_get_different_replies() -> None:
    other = CONTENT.replace("Bluefin Security", "Acme Robotics")
    assert compose(_system("intel"), CONTENT) != compose(_system("intel"), other)


def test_an_intel_report_names_the_company_quotes_the_content_and_ends_with_a_fit_score() -> None:
    report = compose(_system("intel"), CONTENT)
    assert "Bluefin Security" in report
    assert re.search(r'"Bluefin Security is a security company based in', report)
    score = re.fullmatch(r"Fit score: (\d{1,3})", report.splitlines()[-1])
    assert score and 0 <= int(score.group(1)) <= 100


def test_fit_scores_vary_with_the_prompt() -> None:
    scores = {
        compose(_system("intel"), CONTENT + f"\nExtra line {n}.").splitlines()[-1]
        for n in range(20)
    }
    assert len(scores) > 5


def test_a_strategy_is_one_paragraph_naming_the_company() -> None:
    strategy = compose(_system("strategy"), CONTENT)
    assert "Bluefin Security" in strategy and "\n" not in strategy


def test_subject_lines_are_exactly_three_numbered_lines_naming_the_company() -> None:
    lines = compose(_system("subject"), CONTENT).splitlines()
    assert [line[:3] for line in lines] == ["1. ", "2. ", "3. "]
    assert all("Bluefin Security" in line for line in lines)
    assert len(set(lines)) == 3


def test_an_email_uses_the_given_subject_and_greets_the_contact_by_first_name() -> None:
    email = compose(_system("messaging"), CONTENT + "Subject: Quick idea for Bluefin\n")
    lines = email.splitlines()
    assert lines[0] == "Subject: Quick idea for Bluefin"
    assert lines[1] == ""
    assert lines[2] == "Hi Hannah,"
    assert "Bluefin Security" in email
    assert lines[-1] == "Sam Carter"


def test_an_email_without_a_subject_line_still_starts_with_one() -> None:
    email = compose(_system("messaging"), CONTENT)
    assert re.match(r"Subject: .*Bluefin Security", email.splitlines()[0])


def test_a_prompt_without_task_or_company_gets_a_generic_reply() -> None:
    reply = compose("", "hello there, how are you today")
    assert reply.startswith("Thanks for your message.")
    assert compose("", "") == compose("", "")
