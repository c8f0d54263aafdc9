"""Does a variable name or value look like a secret? Shared by the Dockerfile and image checks.

Names are split into words (HF_TOKEN -> HF, TOKEN; apiKey -> API, KEY), so TOKENIZERS_PARALLELISM is not a
token. Names that point at a secret instead of holding it (PASSWORD_FILE, TOKEN_PATH) are fine.
"""

from __future__ import annotations

import re

_SECRET_WORDS = {
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "SECRETS",
    "TOKEN",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "PRIVATEKEY",
    "PAT",
    "PWD_HASH",
}
_KEY_QUALIFIERS = {
    "API",
    "ACCESS",
    "PRIVATE",
    "SECRET",
    "SIGNING",
    "ENCRYPTION",
    "CLIENT",
    "MASTER",
    "AUTH",
    "LICENSE",
    "SERVICE",
    "SSH",
    "GPG",
    "PGP",
    "DEPLOY",
    "HMAC",
    "JWT",
    "WEBHOOK",
}
_POINTER_WORDS = {
    "FILE",
    "PATH",
    "DIR",
    "FILENAME",
    "LOCATION",
    "ENV",
    "NAME",
    "ID",
    "URL",
    "HEADER",
    "TYPE",
    "LENGTH",
    "TTL",
    "EXPIRY",
    "REF",
}
_VALUE_PATTERNS = (
    ("AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("OpenAI-style key", re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}\b")),
    ("password in a URL", re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")),
)


def words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if w]


def secret_name(name: str) -> bool:
    parts = words(name)
    if not parts or parts[-1] in _POINTER_WORDS:
        return False
    for i, word in enumerate(parts):
        if word in _SECRET_WORDS:
            return True
        if word == "KEY" and i > 0 and parts[i - 1] in _KEY_QUALIFIERS:
            return True
        if word == "PASS" and 0 < i == len(parts) - 1:  # DB_PASS, MYSQL_ROOT_PASS; not PASS_THROUGH, BYPASS
            return True
    return False


def secret_value(value: str) -> str | None:
    """The kind of secret the value looks like, or None."""
    for kind, pattern in _VALUE_PATTERNS:
        if pattern.search(value):
            return kind
    return None


def mask(value: str) -> str:
    return "(empty)" if not value else f"({len(value)} characters, not shown)"
