"""Hiding credentials in every text gistcausal shows or writes (messages, logs, manifests, reports).

One function, :func:`redact`, is applied wherever a text may carry a database URL or a configuration
fragment: error and warning messages, progress lines, the run manifest and the driver's own exception text
(database drivers often echo the DSN they were given). It hides

* the password of URL userinfo (``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``),
  parsed with SQLAlchemy's :func:`~sqlalchemy.engine.make_url` and rendered with
  ``render_as_string(hide_password=True)``;
* secret query parameters (``?password=...``, ``?pwd=...``, ``?sslpassword=...``, tokens, keys);
* libpq keyword/value DSNs and YAML / environment-variable style settings
  (``password=secret``, ``PGPASSWORD=secret``, ``password: secret``).

Strings that do not parse are handled conservatively: when the authority of a URL holds more than one ``@``
(an unencoded ``@`` in the password, which drivers split at the wrong place) everything before the last
``@`` is hidden, user name included. Literal secrets known from the configured URL can be passed as
``secrets=`` so that fragments a driver prints on its own (e.g. the part of a password after an ``@``,
taken for a host name) are hidden too.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

_SECRET_WORD = r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key)"
_SECRET_KEY_RE = re.compile(rf"(?i)^[A-Za-z0-9_.\-]*{_SECRET_WORD}[A-Za-z0-9_]*$")
# key=value / key: value settings whose key names a secret (libpq DSN keywords, env vars, YAML lines)
_KV_RE = re.compile(rf"(?i)(?<![A-Za-z0-9])([A-Za-z0-9_.\-]*{_SECRET_WORD}[A-Za-z0-9_]*)(\s*[=:]\s*)"
                    r"('[^']*'|\"[^\"]*\"|[^\s&;,'\"]+)")
_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def _is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY_RE.match(key))


def _redact_url(text: str) -> str:
    """One URL-like token, credentials hidden; unchanged when it holds none."""
    scheme, _, rest = text.partition("://")
    cut = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0], default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if authority.count("@") > 1:
        # an unencoded '@' in the password: no parser can tell where it ends, so hide all userinfo
        authority = MASK + authority[authority.rindex("@"):]
        return _redact_query(f"{scheme}://{authority}{tail}")
    try:
        from sqlalchemy.engine import make_url

        url = make_url(text)
    except Exception:  # not an SQLAlchemy URL: hide userinfo after ':' and secret query values by hand
        if "@" in authority and ":" in authority.split("@")[0]:
            user = authority.split("@")[0].split(":")[0]
            authority = f"{user}:{MASK}{authority[authority.index('@'):]}"
        return _redact_query(f"{scheme}://{authority}{tail}")
    secret_query = [k for k in url.query if _is_secret_key(k)]
    if url.password is None and not secret_query:
        return text
    if secret_query:
        url = url.set(query={k: (MASK if k in secret_query else v) for k, v in url.query.items()})
    return url.render_as_string(hide_password=True).replace("%2A%2A%2A", MASK)


def _redact_query(text: str) -> str:
    return re.sub(rf"(?i)([?&;][A-Za-z0-9_.\-]*{_SECRET_WORD}[A-Za-z0-9_]*=)[^&#\s]*", rf"\g<1>{MASK}", text)


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The literal secrets of a configured URL (password, its ``@``-separated pieces, secret query values),
    longest first, for ``redact(..., secrets=...)``."""
    if not url or "://" not in url:
        return ()
    out: set[str] = set()
    rest = url.partition("://")[2]
    cut = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0], default=len(rest))
    authority = rest[:cut]
    if "@" in authority:
        userinfo = authority[:authority.rindex("@")]
        if ":" in userinfo:
            pw = userinfo.split(":", 1)[1]
            out.add(pw)
            out.update(p for p in pw.split("@") if len(p) >= 3)
    try:
        from sqlalchemy.engine import make_url

        u = make_url(url)
        if u.password:
            out.add(str(u.password))
        for k, v in u.query.items():
            if _is_secret_key(k):
                out.update([v] if isinstance(v, str) else list(v))
    except Exception:  # unparseable: the userinfo pieces above are all we can know
        pass
    return tuple(sorted((s for s in out if s), key=len, reverse=True))


def redact(text: Any, *, secrets: Iterable[str] = ()) -> str:
    """``text`` (a string, exception or SQLAlchemy URL) with every credential replaced by ``***``.

    Parameters
    ----------
    text : str, Exception or sqlalchemy.engine.URL
        What is about to be shown or written.
    secrets : iterable of str, default=()
        Literal secrets (see :func:`url_secrets`) also hidden wherever they appear, even without a key or
        URL around them.

    Returns
    -------
    str
    """
    if text is None:
        return ""
    if hasattr(text, "render_as_string"):
        return str(text.render_as_string(hide_password=True))
    s = str(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            s = s.replace(secret, MASK)
    s = _URL_RE.sub(lambda m: _redact_url(m.group(0)), s)
    return _KV_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", s)


__all__ = ["redact", "url_secrets", "MASK"]
