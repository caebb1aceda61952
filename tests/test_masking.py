"""Secret masking: keys that name credentials, secrets files, sops-encrypted files."""

from __future__ import annotations

import pytest

from chartkeeper.masking import MASK, is_secret_file, is_secret_key, is_sops_encrypted, mask_values


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
