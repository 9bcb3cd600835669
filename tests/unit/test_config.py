"""Settings: TOML + SCRM_* overrides, validation that names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrm.config import ConfigError, load_settings, settings_from_dict

ROOT = Path(__file__).resolve().parents[2]
BASE = {"app": {"secret_key": "k" * 20}}
ACCOUNT = {"app_id": "wx123", "app_secret": "s3cret", "token": "tok123"}


def test_example_config_loads_and_documents_every_section() -> None:
    s = load_settings(ROOT / "config.example.toml", environ={})
    assert s.accounts["brand"].token == "ChangeThisToken123"
    assert [b.name for b in s.accounts["brand"].menu] == ["车主服务", "会员中心", "帮助"]
    text = (ROOT / "config.example.toml").read_text()
    for section in ("[app]", "[database]", "[redis]", "[conversation]", "[outbox]", "[scheduler]", "[sandbox]"):
        assert section in text


def test_defaults_are_sqlite_and_memory_redis() -> None:
    s = settings_from_dict(BASE)
    assert s.database.url.startswith("sqlite:///")
    assert s.redis.url == "memory://"


def test_environment_overrides_sections_and_accounts(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[app]\nsecret_key = "0123456789abcdef0"\n[accounts.my-brand]\n'
                   'app_id = "wx1"\napp_secret = "file"\ntoken = "tok123"\n')
    env = {"SCRM_DATABASE_URL": "postgresql+psycopg://u@h/db", "SCRM_REDIS_URL": "redis://r:6379/1",
           "SCRM_OUTBOX_RATE_PER_SECOND": "12.5", "SCRM_SANDBOX_ENABLED": "true",
           "SCRM_ACCOUNTS_MY_BRAND_APP_SECRET": "from-env",
           "SCRM_SCHEDULER_ENABLED_JOBS": "outbox.reap, tokens.refresh"}
    s = load_settings(cfg, environ=env)
    assert s.database.url == "postgresql+psycopg://u@h/db"
    assert s.redis.url == "redis://r:6379/1"
    assert s.outbox.rate_per_second == 12.5
    assert s.sandbox.enabled is True
    assert s.accounts["my-brand"].app_secret == "from-env"
    assert s.scheduler.enabled_jobs == ("outbox.reap", "tokens.refresh")


def test_config_path_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text('[app]\nsecret_key = "0123456789abcdef0"\ntimezone = "Asia/Urumqi"\n')
    assert load_settings(environ={"SCRM_CONFIG": str(cfg)}).app.timezone == "Asia/Urumqi"


@pytest.mark.parametrize(("raw", "names"), [
    ({}, "[app] secret_key: missing"),
    ({"app": {"secret_key": "short"}}, "[app] secret_key"),
    ({**BASE, "app": {"secret_key": "k" * 20, "timezone": "Mars/Base"}}, "[app] timezone"),
    ({**BASE, "outbox": {"rate_per_second": "fast"}}, "[outbox] rate_per_second"),
    ({**BASE, "outbox": {"burst": "many"}}, "[outbox] burst"),
    ({**BASE, "database": {"nope": 1}}, "[database] nope: unknown setting"),
    ({**BASE, "redis": {"url": "http://x"}}, "[redis] url"),
    ({**BASE, "outbox": {"quiet_hours": "10pm-8am"}}, "[outbox] quiet_hours"),
    ({**BASE, "surprise": {}}, "[surprise]: unknown section"),
    ({**BASE, "accounts": {"b": {"app_secret": "s", "token": "tok123"}}}, "[accounts.b] app_id: missing"),
    ({**BASE, "accounts": {"b": {**ACCOUNT, "token": "x"}}}, "[accounts.b] token"),
    ({**BASE, "accounts": {"b": {**ACCOUNT, "encoding_aes_key": "tooshort"}}}, "[accounts.b] encoding_aes_key"),
    ({**BASE, "accounts": {"b": {**ACCOUNT, "api_base_url": "ftp://x"}}}, "[accounts.b] api_base_url"),
    ({**BASE, "accounts": {"b": {**ACCOUNT, "encoding_aes_key_previous": "a" * 43}}},
     "[accounts.b] encoding_aes_key_previous"),
    ({**BASE, "accounts": {"b": {**ACCOUNT, "language": "fr"}}}, "[accounts.b] language"),
    ({**BASE, "accounts": {"B!": ACCOUNT}}, "[accounts.B!]"),
    ({**BASE, "accounts": {"a": ACCOUNT, "b": ACCOUNT}}, "share one app_id"),
    ({**BASE, "accounts": {"b": {**ACCOUNT, "menu": [{"type": "click"}]}}}, "[accounts.b] menu"),
])
def test_invalid_settings_name_the_key(raw: dict[str, object], names: str) -> None:
    with pytest.raises(ConfigError) as exc:
        settings_from_dict(raw)
    assert names in str(exc.value)


def test_bad_environment_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"\[sandbox\] enabled"):
        load_settings(ROOT / "config.example.toml", environ={"SCRM_SANDBOX_ENABLED": "perhaps"})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_safe_mode_and_sandbox_flags() -> None:
    s = settings_from_dict({**BASE, "accounts": {"b": {**ACCOUNT, "encoding_aes_key": "a" * 43,
                                                        "api_base_url": "http://127.0.0.1:5000/sandbox/wx/"}}})
    acc = s.accounts["b"]
    assert acc.safe_mode and acc.is_sandbox
    assert acc.api_base_url == "http://127.0.0.1:5000/sandbox/wx"
