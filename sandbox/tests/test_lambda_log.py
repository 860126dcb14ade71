"""The Lambda log framing and the padding fault's text, without AWS."""

import base64

import pytest

from mdl_sandbox.upgrade_lambda import LOG_TAIL_BYTES, LambdaRuntime, log_tail, padding_text


@pytest.mark.parametrize("size", [8, 9, 50, 97, 300, 4096, 5000, 12345])
def test_padding_has_exactly_the_size_asked_and_multibyte_characters(size):
    text = padding_text(size)
    data = text.encode("utf-8")
    assert len(data) == size
    assert text.endswith("\n")
    assert all(line.startswith("INFO: ") for line in text.splitlines())
    if size >= 300:
        assert len(data) > len(text), "no multi-byte character in the padding"


@pytest.mark.parametrize("size,split_at", [(5000, 1000), (5000, 1), (5000, 4990), (6000, 3333), (4200, 10)])
def test_padding_puts_a_multibyte_character_across_the_cut(size, split_at):
    data = padding_text(size, split_at).encode("utf-8")
    assert len(data) == size
    assert data[split_at] & 0xC0 == 0x80, "the byte at the cut must continue a multi-byte character"
    with pytest.raises(UnicodeDecodeError):
        data[split_at:].decode("utf-8")


def test_log_tail_is_the_last_4096_bytes_base64():
    log = ("é" * 3000).encode("utf-8") + b"x"
    tail = base64.b64decode(log_tail(log))
    assert tail == log[-LOG_TAIL_BYTES:]
    assert len(tail) == LOG_TAIL_BYTES


def test_runtime_frames_a_successful_invoke():
    runtime = LambdaRuntime()

    def handler(event, context, log):
        log.line("INFO: hello {0}".format(event["who"]))

    result = runtime.invoke(handler, "fn", 128, {"who": "world"})
    text = result.log.decode("utf-8")
    lines = text.splitlines()
    assert result.payload == b"null"
    assert result.function_error is None
    assert lines[0] == "START RequestId: {0} Version: $LATEST".format(result.request_id)
    assert lines[1] == "INFO: hello world"
    assert lines[2] == "END RequestId: {0}".format(result.request_id)
    assert lines[3].startswith("REPORT RequestId: {0}\tDuration: ".format(result.request_id))
    assert "Init Duration" in lines[3]  # first invoke of the function: a cold start
    second = runtime.invoke(handler, "fn", 128, {"who": "again"})
    assert "Init Duration" not in second.log.decode("utf-8")


def test_runtime_reports_an_unhandled_exception():
    import json

    def handler(event, context, log):
        return event["RequestedVersion"]

    result = LambdaRuntime().invoke(handler, "fn", 128, {})
    error = json.loads(result.payload)
    assert result.function_error == "Unhandled"
    assert error["errorType"] == "KeyError"
    assert error["errorMessage"] == "'RequestedVersion'"
    assert error["stackTrace"] and "in handler" in error["stackTrace"][0]
    assert "[ERROR] KeyError: 'RequestedVersion'\nTraceback (most recent call last):" in result.log.decode("utf-8")
