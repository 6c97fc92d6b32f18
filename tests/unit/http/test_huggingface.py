"""The Hugging Face Inference API routes: huggingface_hub's own InferenceClient against real
gunicorn, and the error cases through Flask's test client."""

import json
from collections.abc import Iterator

import httpx2
import pytest
from huggingface_hub import InferenceClient, set_client_factory
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils._http import default_client_factory

from harness.server import Server

ARTICLE = "The council approved the new bridge on Tuesday. Work starts in the spring."
QUICK = {"max_length": 12}


def _local_only(request: httpx2.Request) -> None:
    if request.url.host != "127.0.0.1":
        raise RuntimeError(f"the tests reach only 127.0.0.1, not {request.url}")


@pytest.fixture(scope="module", autouse=True)
def local_hub_client() -> Iterator[None]:
    """A huggingface_hub session that may reach only this machine's gunicorn (`server`).

    HF_HUB_OFFLINE=1 (set for the whole suite) makes huggingface_hub refuse every request, even
    to 127.0.0.1; its documented `set_client_factory` swaps that guard for a localhost-only one.
    """
    set_client_factory(lambda: httpx2.Client(event_hooks={"request": [_local_only]}))
    try:
        yield
    finally:
        set_client_factory(default_client_factory)


def test_inference_client_summarization(server: Server) -> None:
    client = InferenceClient(base_url=server.url + "/hf/summarization")
    out = client.summarization(
        ARTICLE,
        generate_parameters={"num_beams": 2, **QUICK},
        truncation="longest_first",
        clean_up_tokenization_spaces=True,
    )
    assert isinstance(out.summary_text, str) and out.summary_text


def test_inference_client_translation_with_languages_in_parameters(server: Server) -> None:
    client = InferenceClient(base_url=server.url + "/hf/translation")
    out = client.translation("Good morning.", src_lang="en", tgt_lang="ar")
    assert isinstance(out.translation_text, str) and out.translation_text


def test_inference_client_translation_with_the_pair_in_the_path(server: Server) -> None:
    client = InferenceClient(base_url=server.url + "/hf/translation/en-fr")
    out = client.translation("Good morning.", generate_parameters={"max_length": 16})
    assert isinstance(out.translation_text, str) and out.translation_text


def test_inference_client_gets_the_error_message(server: Server) -> None:
    client = InferenceClient(base_url=server.url + "/hf/translation/en-de")
    with pytest.raises(HfHubHTTPError) as caught:
        client.translation("Good morning.")
    assert caught.value.response.status_code == 400
    assert "'de'" in caught.value.response.json()["error"]


def test_a_list_of_inputs_gets_a_list_in_order(client) -> None:
    response = client.post(
        "/hf/translation/en-fr",
        data=json.dumps({"inputs": ["Good morning.", "The vote is on Sunday."]}),
    )
    assert response.status_code == 200
    body = response.get_json()
    assert len(body) == 2 and all(list(item) == ["translation_text"] for item in body)


def test_a_string_input_still_gets_a_list(client) -> None:
    response = client.post(
        "/hf/summarization",
        json={"inputs": ARTICLE, "parameters": {"generate_parameters": QUICK}},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert isinstance(body, list) and list(body[0]) == ["summary_text"]


def assert_hf_error(response, status: int = 400) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    return body["error"]


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/hf/summarization", {"parameters": {}}, "inputs"),
        ("/hf/summarization", {"inputs": 3}, "inputs"),
        ("/hf/summarization", {"inputs": ["ok", ""]}, "empty"),
        ("/hf/summarization", {"inputs": "x", "parameters": {"top_k": 3}}, "top_k"),
        ("/hf/summarization", {"inputs": "x", "parameters": []}, "object"),
        (
            "/hf/summarization",
            {"inputs": "x", "parameters": {"generate_parameters": {"temperature": 0.5}}},
            "temperature",
        ),
        (
            "/hf/summarization",
            {"inputs": "x", "parameters": {"generate_parameters": {"num_beams": "4"}}},
            "integer",
        ),
        (
            "/hf/summarization",
            {"inputs": "x", "parameters": {"generate_parameters": {"num_beams": 99}}},
            "num_beams",
        ),
        ("/hf/translation", {"inputs": "x", "parameters": {}}, "src_lang"),
        ("/hf/translation", {"inputs": "x", "parameters": {"src_lang": "en"}}, "tgt_lang"),
        (
            "/hf/translation",
            {"inputs": "x", "parameters": {"src_lang": "fr", "tgt_lang": "en"}},
            "'fr'",
        ),
        ("/hf/translation/en", {"inputs": "x"}, "supported pairs"),
        ("/hf/translation/en-fr", {"inputs": "x", "parameters": {"src_lang": "en"}}, "src_lang"),
    ],
)
def test_client_errors_are_400_with_a_message(client, path: str, body: dict, says: str) -> None:
    assert says in assert_hf_error(client.post(path, data=json.dumps(body)))


def test_body_errors(client) -> None:
    assert_hf_error(client.post("/hf/summarization", data=b"{"))
    assert_hf_error(client.post("/hf/summarization", data=b"[]"))
    response = client.post("/hf/summarization", data=b"inputs=x", content_type="text/plain")
    assert_hf_error(response, 415)
