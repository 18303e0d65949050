"""Settings: defaults < TOML file < environment < command line; providers from env and file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streamchat.settings import Settings


def test_defaults_need_nothing(tmp_path: Path) -> None:
    settings = Settings.load({}, environ={"XDG_DATA_HOME": str(tmp_path)})
    assert (settings.host, settings.port, settings.providers) == ("127.0.0.1", 8000, [])
    assert settings.database.startswith("sqlite:///")


def test_provider_environment_variables() -> None:
    settings = Settings.load(
        {},
        environ={
            "MOONSHOT_API_KEY": "sk-kimi-123456",
            "DEEPSEEK_API_KEY": "sk-ds-123456",
            "DEEPSEEK_BASE_URL": "http://127.0.0.1:1/v1",
            "OLLAMA_BASE_URL": "http://127.0.0.1:11434",
            "OPENAI_BASE_URL": "http://ignored-without-key",
        },
    )
    by_name = {p.name: p for p in settings.providers}
    assert sorted(by_name) == ["deepseek", "kimi", "ollama"]
    assert by_name["kimi"].key({}) == "sk-kimi-123456"
    assert by_name["kimi"].base_url is None  # the preset's https://api.moonshot.cn/v1
    assert by_name["deepseek"].base_url == "http://127.0.0.1:1/v1"
    assert by_name["ollama"].key({}) is None
    assert "sk-kimi-123456" not in repr(settings)


def test_precedence_file_env_cli(tmp_path: Path) -> None:
    config = tmp_path / "streamchat.toml"
    config.write_text(
        'port = 9001\nhost = "0.0.0.0"\ndefault_model = "kimi-k2.5"\n'
        '[[providers]]\nname = "kimi"\npreset = "kimi"\napi_key_env = "MY_KIMI"\n'
        'models = ["kimi-k2.5", { id = "kimi-k2-thinking", context_window = 262144 }]\n'
        "defaults = { temperature = 0.6 }\n"
    )
    settings = Settings.load(
        {"port": 9003},
        environ={
            "STREAMCHAT_CONFIG": str(config),
            "STREAMCHAT_PORT": "9002",
            "STREAMCHAT_HOST": "127.0.0.2",
            "MY_KIMI": "sk-x-123456",
            "MOONSHOT_API_KEY": "sk-other-123456",
        },
    )
    assert settings.port == 9003  # CLI beats env beats file
    assert settings.host == "127.0.0.2"
    assert settings.default_model == "kimi-k2.5"
    (kimi,) = settings.providers  # the file's kimi wins over MOONSHOT_API_KEY's
    assert kimi.key({"MY_KIMI": "sk-x-123456"}) == "sk-x-123456"
    assert [m.id for m in kimi.models] == ["kimi-k2.5", "kimi-k2-thinking"]
    assert kimi.models[1].context_window == 262144
    assert kimi.defaults == {"temperature": 0.6}


def test_bad_values_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="port"):
        Settings.load({}, environ={"STREAMCHAT_PORT": "eighty"})
    with pytest.raises(ValidationError, match="nonsense"):
        Settings.load({"nonsense": 1}, environ={})
    broken = tmp_path / "bad.toml"
    broken.write_text("port = [")
    with pytest.raises(ValueError, match="cannot read config file"):
        Settings.load({"config": broken}, environ={})
    with pytest.raises(ValueError, match="cannot read config file"):
        Settings.load({"config": tmp_path / "missing.toml"}, environ={})
