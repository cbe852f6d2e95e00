"""One URL-credential pattern for the whole course, and NVML asked once per process."""

import ctypes

import pytest

from course_utils import models
from course_utils.capstone.secrets import redact
from course_utils.redaction import redact_url


@pytest.mark.parametrize("text, shown", [
    ("https://user:pass@host:8000/v1", "https://***@host:8000/v1"),
    ("http://tok@127.0.0.1/v1 and https://a:b@c/d", "http://***@127.0.0.1/v1 and https://***@c/d"),
    ("base_url='https://u:p@h/v1'", "base_url='https://***@h/v1'"),  # stops at the quote
    ("mail me: me@example.com", "mail me: me@example.com"),  # not a URL: untouched
    ("https://host/v1/@handle", "https://host/v1/@handle"),  # '@' after a slash is a path
])
def test_url_credentials_are_hidden_the_same_way_everywhere(text, shown):
    assert redact_url(text) == shown
    assert redact(text) == shown  # the capstone's redaction uses the same pattern


def test_server_errors_do_not_show_url_credentials():
    with pytest.raises(models.BackendError) as info:
        models.server_models("http://user:secret@127.0.0.1:9/v1", timeout=0.5)
    assert "secret" not in str(info.value) and "***@127.0.0.1:9" in str(info.value)


def test_nvml_is_asked_once_per_process(monkeypatch):
    calls = []

    def fake_cdll(name, *args, **kwargs):
        calls.append(name)
        raise OSError("no driver")

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", fake_cdll)
    models._nvml_device_count.cache_clear()
    try:
        assert [models.has_gpu() for _ in range(3)] == [False, False, False]
        assert calls == ["libnvidia-ml.so.1"]
    finally:
        models._nvml_device_count.cache_clear()
