"""convolab.client(): the real API with a key, the simulator without; the key never leaks."""

from __future__ import annotations

import logging

import anthropic
import pytest

import convolab
from convolab.sim.server import SimTransport

SECRET = "sk-ant-api03-SECRET-do-not-print-0123456789"


def test_without_a_key_it_is_the_simulator(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    caplog.set_level(logging.INFO, logger="convolab")
    client = convolab.client()
    assert convolab.client_kind() == "simulated"
    assert isinstance(client, anthropic.Anthropic)
    assert isinstance(client._client._transport, SimTransport)
    assert "simulated" in caplog.text


def test_with_a_key_it_is_the_real_api_and_the_key_stays_secret(monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    client = convolab.client()
    assert convolab.client_kind() == "anthropic"
    assert isinstance(client, anthropic.Anthropic)
    assert not isinstance(client._client._transport, SimTransport)
    assert "real Anthropic API" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in repr(client)


def test_blank_key_counts_as_no_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "   ")
    assert convolab.client_kind() == "simulated"


def test_async_twin(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert isinstance(convolab.async_client(), anthropic.AsyncAnthropic)
