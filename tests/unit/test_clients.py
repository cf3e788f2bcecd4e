"""The service clients against httpx.MockTransport: what goes on the wire, what comes back."""

import json

import httpx
import pytest

from pipeline.clients.llm import LlmClient, parse_jsonl, result_text
from pipeline.clients.scraper import ScraperClient
from pipeline.errors import ServiceResponseError


def client_for(handler):
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_scraper_client_posts_the_job_contract_with_the_auth_token():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["headers"] = request.headers
        seen["body"] = json.loads(request.content)
        return httpx.Response(202, json={"id": "job-1", "url": "x", "status": "queued"})

    scraper = ScraperClient(client_for(handler), "http://scraper/", "tok")
    job_id = scraper.submit(
        "https://acme.test",
        max_pages=500,
        webhook_url="http://lp/wh",
        metadata={"reference": "L1-scrape-1"},
    )
    assert job_id == "job-1"
    assert seen["headers"]["X-Auth-Token"] == "tok"
    assert seen["body"] == {
        "url": "https://acme.test",
        "maxPages": 100,
        "maxConcurrency": 5,
        "includeSitemap": False,
        "webhookUrl": "http://lp/wh",
        "metadata": {"reference": "L1-scrape-1"},
    }


def test_without_a_webhook_url_the_scraper_body_carries_no_callback_fields():
    def handler(request):
        body = json.loads(request.content)
        assert "webhookUrl" not in body and "metadata" not in body
        return httpx.Response(202, json={"id": "j"})

    assert ScraperClient(client_for(handler), "http://s").submit("https://a.test") == "j"


def test_a_scraper_error_status_raises_for_classification():
    scraper = ScraperClient(client_for(lambda r: httpx.Response(429)), "http://s")
    with pytest.raises(httpx.HTTPStatusError):
        scraper.submit("https://a.test")


def test_a_scraper_answer_without_a_job_id_is_a_contract_violation():
    scraper = ScraperClient(client_for(lambda r: httpx.Response(202, json={})), "http://s")
    with pytest.raises(ServiceResponseError):
        scraper.submit("https://a.test")


def test_the_llm_client_sends_one_batch_with_bearer_auth_and_reads_its_id():
    seen = {}

    def handler(request):
        seen["path"] = request.url.path
        seen["auth"] = request.headers["Authorization"]
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json={"id": "msgbatch_1", "processing_status": "in_progress"})

    llm = LlmClient(client_for(handler), "http://llm", "key")
    reqs = [{"custom_id": "L1-intel-1", "params": {}}, {"custom_id": "L2-intel-1", "params": {}}]
    assert llm.create_batch(reqs) == "msgbatch_1"
    assert seen["path"] == "/v1/messages/batches"
    assert seen["auth"] == "Bearer key"
    assert len(seen["body"]["requests"]) == 2


def test_batch_results_are_read_as_jsonl_one_line_per_request():
    lines = [
        {
            "custom_id": "L1-intel-1",
            "result": {
                "type": "succeeded",
                "message": {
                    "content": [
                        {"type": "text", "text": "Hello "},
                        {"type": "text", "text": "Acme"},
                    ],
                    "usage": {"input_tokens": 10, "output_tokens": 2},
                },
            },
        },
        {"custom_id": "L2-intel-1", "result": {"type": "errored", "error": {}}},
    ]
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    llm = LlmClient(client_for(lambda r: httpx.Response(200, text=body)), "http://llm")
    items = llm.results("msgbatch_1")
    assert [i["custom_id"] for i in items] == ["L1-intel-1", "L2-intel-1"]
    assert result_text(items[0]["result"]) == (
        "Hello Acme",
        {"input_tokens": 10, "output_tokens": 2},
    )


def test_a_results_line_that_is_not_json_is_a_contract_violation():
    with pytest.raises(ServiceResponseError, match="line 2"):
        parse_jsonl('{"a": 1}\nnot json\n')
