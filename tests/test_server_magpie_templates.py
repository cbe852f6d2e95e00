"""Magpie against Ollama / LM Studio: the served model's name picks the shipped real chat template."""

import pytest
from transformers import AutoTokenizer

from course_utils.assistant_mask import real_chat_template
from course_utils.openai_llm import ServerLLM, served_family

SYSTEM = {"role": "system", "content": "You are a patient math tutor."}


@pytest.mark.parametrize("name, family", [
    ("qwen2.5:1.5b", "qwen2_5"),  # Ollama
    ("qwen2.5-7b-instruct", "qwen2_5"),  # LM Studio
    ("Qwen/Qwen2.5-0.5B-Instruct", "qwen2_5"),  # vLLM / TGI: a hub id
    ("smollm2:360m", "smollm2"),
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", "smollm2"),
    ("llama3.2:1b", None),  # no shipped template: the clear error stays
    ("qwen2:7b", None),  # Qwen2 is not Qwen2.5
])
def test_served_model_names_map_to_a_family(name, family):
    assert served_family(name) == family


def _expected(family, messages, tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = real_chat_template(family)
    sentinel = "\x00USER\x00"
    text = tokenizer.apply_chat_template([*messages, {"role": "user", "content": sentinel}], tokenize=False)
    return text[:text.index(sentinel)]


@pytest.mark.parametrize("name, family", [("qwen2.5:1.5b", "qwen2_5"), ("smollm2:360m", "smollm2")])
@pytest.mark.parametrize("history", [[], [SYSTEM],
                                     [SYSTEM, {"role": "user", "content": "What is 7 x 8?"},
                                      {"role": "assistant", "content": "56."}]])
def test_magpie_prompt_equals_the_real_template_up_to_the_user_text(name, family, history, tiny_model_dir):
    llm = ServerLLM(model=name, base_url="http://127.0.0.1:9/v1", api_key="x")
    assert llm.magpie_prompt(history) == _expected(family, history, tiny_model_dir)


def test_no_system_prompt_gets_the_templates_own_default(tiny_model_dir):
    prompt = ServerLLM(model="smollm2:360m", base_url="http://127.0.0.1:9/v1", api_key="x").magpie_prompt([])
    assert "You are a helpful AI assistant named SmolLM" in prompt and prompt.endswith("<|im_start|>user\n")


def test_an_unknown_served_model_still_names_the_fix():
    llm = ServerLLM(model="llama3.2:1b", base_url="http://127.0.0.1:9/v1", api_key="x")
    with pytest.raises(ValueError, match="set llm.tokenizer"):
        llm.magpie_prompt([])


def _serve(handler_body):
    """A one-route HTTP server on 127.0.0.1 answering GET /api/version with `handler_body`."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            found = self.path == "/api/version" and handler_body is not None
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write((handler_body if found else "{}").encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("body, refused", [('{"version": "0.12.3"}', True), (None, False)])
def test_magpie_refuses_ollama_whose_completions_endpoint_is_not_raw(body, refused):
    server = _serve(body)
    try:
        llm = ServerLLM(model="qwen2.5:1.5b", base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="x")
        if refused:
            with pytest.raises(ValueError, match="Ollama's /v1/completions wraps the prompt"):
                llm.magpie_prompt([SYSTEM])
        else:
            assert llm.magpie_prompt([SYSTEM]).endswith("<|im_start|>user\n")
    finally:
        server.shutdown()
