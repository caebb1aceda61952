"""Secret masking: keys that name credentials, secrets files, sops-encrypted files."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from chartkeeper.masking import (
    MASK,
    forget_secrets,
    is_secret_file,
    is_secret_key,
    is_sops_encrypted,
    mask_values,
    redact,
    register_secret,
)


@pytest.mark.parametrize(
    "key",
    ["password", "adminPassword", "DB_PASSWORD", "apiKey", "api_key", "accessKey", "privateKey", "secretKey",
     "AWS_SECRET_ACCESS_KEY", "SIGNING_KEY", "tls.key", "clientSecret", "token", "authToken", "secret", "credentials"],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["keycloak", "monkey", "keyboard", "keys", "key", "hotkey", "secretName", "existingSecret", "passwordKey",
     "passwordSecretKey", "tokenTTL", "secretKeyRef", "sshKeys", "registry", "tokenizer", "passwordPolicy", ""],
)
def test_not_secret_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_tls_key_nested_counts_like_dotted() -> None:
    assert is_secret_key("key", parent="tls")
    assert not is_secret_key("key", parent="labels")


def test_mask_values_by_key_and_by_file() -> None:
    tree = {
        "tls": {"key": "PRIVATE", "crt": "PUBLIC"},
        "auth": {"password": "p", "user": "u", "existingSecret": "s"},
        "secret": {"a": 1, "b": None},
        "keycloak": {"url": "https://k"},
        "fromFile": {"x": "y"},
        "deleted": None,
    }
    prov = {("fromFile", "x"): ("environments/prod/secrets.yaml", 3), ("keycloak", "url"): ("values.yaml", 1)}
    out = mask_values(tree, provenance=prov)
    assert out["tls"] == {"key": MASK, "crt": "PUBLIC"}
    assert out["auth"] == {"password": MASK, "user": "u", "existingSecret": "s"}
    assert out["secret"] == {"a": 1, "b": None}  # a number is not a secret
    assert out["keycloak"] == {"url": "https://k"}
    assert out["fromFile"] == {"x": MASK}
    assert out["deleted"] is None
    assert tree["tls"]["key"] == "PRIVATE"  # the input is not changed


def test_secret_files_and_sops() -> None:
    assert is_secret_file("environments/prod/secrets.yaml") and is_secret_file("secrets.dev.yaml")
    assert not is_secret_file("values.yaml")
    assert is_sops_encrypted({"a": "ENC[AES256_GCM,data:x]", "sops": {"mac": "ENC[...]", "version": "3.8.1"}})
    assert not is_sops_encrypted({"sops": "just a key"})


def test_mask_values_not_structure() -> None:
    """Below a secret-ish key only secret-looking leaves are masked: booleans, numbers, file paths
    and the keys that name or place a Secret (`secretName`, `existingSecret`, `mountPath`) show."""
    tree = {
        "extraSecretMounts": [{"name": "certs", "mountPath": "/etc/certs", "secretName": "certs", "readOnly": True, "data": "s3cr3t"}],
        "volumes": [{"name": "v", "secret": {"secretName": "tls-secret", "defaultMode": 420}}],
        "tls": {"key": "/tls/tls.key", "cert": "/tls/tls.crt"},
        "ingressTls": {"key": "-----BEGIN PRIVATE KEY-----abc"},
        "env": {"GF_PASSWORD_RESET": False, "ADMIN_PASSWORD": "hunter2", "DB_PASSWORD": 123456},
        "auth": {"existingSecret": "app-auth", "secret": {"value": "x1", "enabled": True}},
        "dsn": "pg://app:ENC[AES256_GCM,data:Zm9v,iv:aXY=,tag:dGFn,type:str]@db",
    }
    out = mask_values(tree)
    assert out["extraSecretMounts"] == [{"name": "certs", "mountPath": "/etc/certs", "secretName": "certs", "readOnly": True, "data": MASK}]
    assert out["volumes"] == [{"name": "v", "secret": {"secretName": "tls-secret", "defaultMode": 420}}]
    assert out["tls"] == {"key": "/tls/tls.key", "cert": "/tls/tls.crt"}
    assert out["ingressTls"] == {"key": MASK}
    assert out["env"] == {"GF_PASSWORD_RESET": False, "ADMIN_PASSWORD": MASK, "DB_PASSWORD": MASK}
    assert out["auth"] == {"existingSecret": "app-auth", "secret": {"value": MASK, "enabled": True}}
    assert out["dsn"] == "pg://app:***@db"


# --- the one redactor: a masked value is hidden wherever it travels ---


@pytest.fixture
def fresh_registry():  # type: ignore[no-untyped-def]
    forget_secrets()
    yield
    forget_secrets()


def test_a_value_masked_at_its_key_is_redacted_inside_any_text(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    mask_values({"keycloak": {"adminPassword": "Kc-adm1n-pass"}})
    command = "sh -c 'kc.sh start --admin-password=Kc-adm1n-pass'"
    assert redact(command) == "sh -c 'kc.sh start --admin-password=***'"
    assert redact(json.dumps({"cmd": command})) == json.dumps({"cmd": "sh -c 'kc.sh start --admin-password=***'"})
    # the forms it travels in: base64 in a Secret's data, URL-quoted in a connection string
    assert redact(base64.b64encode(b"Kc-adm1n-pass").decode()) == MASK
    assert redact("postgres://app:" + quote("Kc-adm1n-pass", safe="") + "@db/app") == "postgres://***@db/app"


def test_json_escaped_and_longest_first(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    register_secret('pa"ss\\word')
    register_secret("abcd")
    register_secret("abcdefgh")
    assert redact(json.dumps({"v": 'pa"ss\\word'})) == '{"v": "***"}'
    assert redact("xabcdefghx abcd") == "x***x ***"


@pytest.mark.parametrize("value", [True, 8080, 3.5, "abc", "1234567", "true", "admin", "changeme", "  ab  ", MASK])
def test_short_or_common_values_are_masked_at_their_key_only(fresh_registry, value) -> None:  # type: ignore[no-untyped-def]
    masked = mask_values({"password": value})
    assert masked["password"] in (MASK, value)  # booleans show: they are structure, not secrets
    register_secret(value)
    text = f"port 8080 ratio 3.5 user admin abc 1234567 true changeme {MASK}"
    assert redact(text) == text  # nothing else in the output is garbled


def test_url_credentials_are_redacted_without_registration(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    assert redact("fetch https://reader:s3cr3t-value@charts.example.invalid/index.yaml") == \
        "fetch https://***@charts.example.invalid/index.yaml"
