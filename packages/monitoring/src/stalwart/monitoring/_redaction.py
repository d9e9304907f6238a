"""Masking secrets in log records: by key name and by the shape of the value."""

from __future__ import annotations

import copy
import logging
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stalwart.monitoring._errors import MonitoringConfigError
from stalwart.monitoring._fields import (
    STANDARD_ATTRIBUTES,
    TEMPLATE_ATTRIBUTE,
    exception_text,
    record_message,
    to_level,
)

__all__ = ["MASK", "EnvironmentFilter", "RedactionFilter", "Redactor"]

#: What every secret is replaced by.
MASK = "***"

# Key names are compared lowercased with every non-alphanumeric character removed.
_KEY_PARTS = (
    "password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "accesskey",
    "privatekey", "authorization", "credential", "cookie", "sessionid", "jwt", "signature",
    "cvv", "cardnumber", "ccnumber", "creditcard", "ssn",
)  # fmt: skip
_KEY_EXACT = frozenset({"auth", "pass", "pw", "pin", "otp", "key", "sig"})
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_TOKENIZER = re.compile(r"tokeni[sz]")
_NOT_WORD = re.compile(r"[\W_]+")

# A key=value / key: value / "key": "value" pair (also escaped, \"key\": \"value\", in double-encoded JSON):
# _KV_HEAD finds any name with its separator; only for a name that names a secret is the value read
# (_KV_VALUE), so an ordinary run like ab:ab:ab... costs one short match per name. A name is one whole
# run of name characters (a lookbehind and a lookahead pin both ends) and no two branches of a value
# can match the same character, so the time is linear in the text (a lazy name prefix and `(\\.|.)*`
# values took seconds to minutes on long runs and on unterminated quotes with backslashes).
# (A bracketed name, user[password]=x, also URL-encoded or as an array, [password] => x in PHP's print_r, or
# "user[password]": x quoted, ends with "]" right before "=", "=>" or a quote and ":"; `cache[token] = x` and
# `cache[token]: Entry` are code. `::` is no separator.)
_KV_HEAD = re.compile(
    r"(?<![\w.-])(?P<key>[\w.-]+)(?![\w.-])"
    r"(?P<sep>(?:\](?:\[\])?|%5[Dd](?:%5[Bb]%5[Dd])?)=\s*"
    r"|\](?:\[\])?(?:\\?[\"'])?[ \t]*=>\s*|\](?:\[\])?\\?[\"'][ \t]*:(?!:)\s*"
    r"|\\?[\"']?[ \t]*(?:=>|=|:(?!:))\s*)"
)
_KV_VALUE = re.compile(
    r"\\\"(?P<edq>(?:[^\\]|\\[^\"])*)\\\""
    r"|(?P<prefix>[bB][rR]?|[rR][bB]?|[uU])?(?:\"(?P<dq>(?:\\.|[^\"\\])*)\"|'(?P<sq>(?:\\.|[^'\\])*)')"
    r"|\[(?P<list>[^\[\]\r\n]*|[^\[\]]{0,4096})\]|\{(?P<brace>[^{}\"':\r\n]*)\}"
    r"|(?P<bare>(?:[^\s\"'&,;}\]\\]|\\\\|\\(?![\"\\])|\\\"(?=[^\s\"'&,;}\]\\]))+)"
)
# Words that make a name (a pair's key, a command-line option) name a secret wherever they sit in it.
# (Not passes, passed, passedTests, passenger, passthrough/passthru, passive, passage, passing, bypass, compass,
# surpass, trespass; not tokenizer, tokenise.)
_SECRET_WORDS = (
    r"(?<!by)(?<!com)(?<!sur)(?<!tres)pass(?!enger|es(?-i:[^a-z])|es$|ed(?-i:[^a-z])|ed$|age|ive|through|thru|ing)"
    r"(?:word|wd|phrase)?|pwd|secret|token(?!i[zs])"
    r"|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|credential"
)
# Names that name a secret (db_password, X-Auth-Token, client_secret).
_SECRET_NAME = re.compile(
    rf"(?i){_SECRET_WORDS}|(?<![a-z0-9])pw(?![a-z0-9])|auth(?!or)|session[_-]?id|cookie|jwt|signature$"
)
# Counts and flags whose names hold such a word (prompt_tokens=512, tests passed: 42, authenticated: true).
_COUNT_NAME = re.compile(
    r"(?i)(?:passed|passes|tokens|token[_-]?count|authenticated)"
    r"(?:[_-]?(?:used|count|total|remaining|limit|per[_-]?[a-z]+))?$"
)
_COUNT_VALUE = re.compile(r"(?i)-?\d+(?:\.\d+)?|true|false|null|none")
# A name ending in a key or signature segment: ENCRYPTION_KEY, signing-key, Ocp-Apim-Subscription-Key,
# accountKey, FERNET_KEY ... A missed secret costs more than a masked data key, so every such name is
# secret except the ordinary keys of data structures and storage (primary_key, redis_key, S3's "Key").
_KEY_NAME = re.compile(r"(?:[_.-](?:[Kk]ey|KEY|[Ss]ig|SIG)|(?<=[a-z])(?:Key|Sig))$")
_DATA_KEY_NAME = re.compile(
    r"(?i)(?:^|[_.-])(?:primary|foreign|sort|partition|cache|redis|lookup|index|hash|row|unique|shard|routing|object|s3"
    r"|file|bucket|dict|map|group|idempotency|dedup|message|event|record|cursor|composite|natural|surrogate"
    r"|translation|i18n|public|job|queue|task|table|column|field|order|config|setting|state|sort|range|item"
    r"|entity|resource|document|doc|node|tree|list|set|path|route|url|cdn|blob|attribute|attr|label|tag"
    r"|name|type|kind|model|schema|version|locale|lang|metric|counter|stat|log|join|grouping|hot|page|nav|data"
    r"|dkim|msg)[_.-]?(?:key|sig)$"
)
# An Authorization header's name, alone or after a header prefix (HTTP_AUTHORIZATION in a WSGI environ,
# X-Forwarded-Authorization, Grpc-Metadata-Authorization, Proxy-Authorization); another word before it
# makes it some other authorization (pre_authorization, prior-authorization, work_authorization).
_AUTH_NAME = r"(?<![a-z0-9_-])(?:(?:http|x|grpc)[-_](?:[a-z]+[-_])*?)?(?:proxy[-_])?authorization"
# A mysql*/mariadb* command up to a shell separator (quoted arguments whole: "select 1; select 2"), and
# in it each argument: a quoted one (skipped whole) or -pPASSWORD (not a docker port mapping -p3306:3306,
# -port, -pid, -pthread).
_MYSQL_COMMAND = re.compile(
    r"(?m)\b(?:mysql[a-z_]*|mariadb(?:-[a-z]+)?)(?=[ \t])(?:[^\r\n|;&\"']|\"[^\"\r\n]*\"|'[^'\r\n]*')*"
)
_MYSQL_ARGUMENT = re.compile(
    r"\"[^\"\r\n]*\"|'[^'\r\n]*'|(?P<option>(?<![\w-])-p)(?![ \t]|\d[\d.]*:\d|(?:ort|ool|id|idfile|thread)\b)"
    r"(?:\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\s\"']+)"
)
# A line that runs curl, and on it each user option (-u, -U, --user, --proxy-user; also grouped, -sSu, or
# as list items, '-u', 'x') with its user:password value: quoted (also \"escaped\", spaces allowed) or bare
# (a numeric uid:gid and a URL are no credentials).
_CURL_LINE = re.compile(r"(?i)\bcurl\b[^\r\n]*")
_CURL_USER = re.compile(
    r"(?<![\w-])(?P<head>-[a-tv-zA-TV-Z]*[uU](?:[ \t]+|=|[\"'],[ \t]*)?|--(?:proxy-)?user(?:[ \t]+|=|[\"'],[ \t]*))"
    r"(?:(?P<quote>\\?[\"'])(?P<quser>[^\"'\\:\r\n]{0,256}):(?:(?!(?P=quote))(?:\\.|[^\\\r\n]))*(?P=quote)"
    r"|(?P<bquote>\\?[\"']?)(?!\d+:\d+(?!\S))(?P<user>[^\s:\"'\\]{1,256})(?P<uquote>[\"']?):(?![ \t]|//)"
    r"(?:\"[^\"\r\n]*\"|'[^'\r\n]*'|[\"']?(?:\\[^\r\n]|[^\s\"'\\])+))"
)
# "API key: x", "secret key = x": a key named by the word before it; its value must look like one (8+
# characters with letters and digits, or 16+; not a path or a key file), so "API key: missing" is kept.
_KEY_QUALIFIER = re.compile(r"(?i)(?<![\w-])(?:api|secret|access|private|encryption|signing|master)[ \t]+$")
_CREDENTIAL_LIKE = re.compile(
    r"[\"']?(?![/~.])(?!\S*\.(?:pem|key|crt|der|p12|pfx|json|ya?ml)\b)(?:(?=\S*[A-Za-z])(?=\S*\d)\S{8,}|\S{16,})"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Credentials in URLs: scheme://user:password@host; the user may be empty (redis://:password@host)
    # and the password may hold "@" (userinfo ends at the last "@" before the path; quotes, "?", "#"
    # and "<>" cannot be in it, so it never runs on into the next JSON value or a query).
    (re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)([^/\s:@]*):([^/\s?#\"'<>]+)@"), rf"\1\2:{MASK}@"),
    # ... also holding "?", "#" or "'" (redis://:my#Secret1@cache:6379): before host:port or host/ anything;
    # before a bare host nothing that makes it a query (http://h:8080?email=a@b.com, h:8080#x@y.com).
    (
        re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)([^/\s:@]*):(?!\d+[?#])([^/\s\"<>]+)@(?=[\w.-]+[:/])"),
        rf"\1\2:{MASK}@",
    ),
    (
        re.compile(
            r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)([^/\s:@]*):(?!\d+[?#])([^/\s\"<>=&,]+)@"
            r"(?=[\w.-]+(?:[\s\"'<>]|$))"
        ),
        rf"\1\2:{MASK}@",
    ),
    # A token as the whole userinfo: https://<token>@github.com (long, with a digit: not a user name).
    (re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*://)(?=[a-z_-]*\d)[A-Za-z0-9_-]{16,}@"), rf"\1{MASK}@"),
    # curl's -u user:password and the like, on a line that runs curl (docker's and ps's -u user:group
    # are no secrets).
    (_CURL_LINE, lambda line: _CURL_USER.sub(_mask_curl_user, line.group(0))),
    # mysql's -pPASSWORD (attached; "-p" alone prompts, "-P" is the port) and sshpass -p PASSWORD.
    # The program name must be a command (followed by a blank: not /var/lib/mysql:...), its options end at a
    # shell separator (a quoted argument is stepped over whole), and a docker port mapping (-p3306:3306),
    # -port, -pid or -pthread is no password.
    (_MYSQL_COMMAND, lambda command: _MYSQL_ARGUMENT.sub(_mask_mysql_password, command.group(0))),
    # sshpass's own -p, among its own options (not the -p of the ssh it runs).
    (
        re.compile(
            r"(?m)(\bsshpass(?:[ \t]+(?:-[fdP][ \t]*(?:\"[^\"\r\n]*\"|'[^'\r\n]*'|\S+)|-[ehvV]\S*)){0,8}[ \t]+-p[ \t]*)"
            r"(?:\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\s\"']+)"
        ),
        rf"\1{MASK}",
    ),
    # A Cookie / Set-Cookie header: everything to the end of the line or the closing quote (cookies
    # hold "&", "," and flags; stopping early leaked the later ones).
    (
        re.compile(
            r"(?i)(?<![\w-])((?:set-)?cookie[ \t]*:[ \t]*)(?=\*\*\*|[^\s;=]+=)[^\r\n\"']+"
        ),
        rf"\1{MASK}",
    ),
    # Signed URLs: ?key=... / &sig=... / &signature=... in a query string.
    (re.compile(r"(?i)((?:[?&;]|(?<![\w.-]))(?:key|sig|signature)=)[^&#\s\"']+"), rf"\1{MASK}"),
    # An Authorization header of any scheme (Token, AWS4-HMAC-SHA256, Digest with quoted parameters):
    # a quoted value whole; an unquoted one to the end of the line where it is header-shaped (at the
    # start of a line or a quoted string, or "scheme credential"); authorization=value up to the next
    # key=. ("auth" pairs above leave "author"/"authorization" alone.)
    (re.compile(rf"(?i)({_AUTH_NAME}\]?[\"']?[ \t]*(?:=>|[:=])[ \t]*)\"(?:\\.|[^\"\\])*\""), rf'\1"{MASK}"'),
    (re.compile(rf"(?i)({_AUTH_NAME}\]?[\"']?[ \t]*(?:=>|[:=])[ \t]*)'(?:\\.|[^'\\])*'"), rf"\1'{MASK}'"),
    (
        re.compile(rf"(?i)({_AUTH_NAME}\\\"[ \t]*[:=][ \t]*)\\\"(?:[^\\]|\\[^\"])*\\\""),
        rf'\1\\"{MASK}\\"',
    ),
    (re.compile(r"(?im)(^[ \t]*[<>]?[ \t]*(?:proxy-)?authorization[ \t]*:[ \t]*)(?![\"'\s])[^\r\n]+"), rf"\1{MASK}"),
    # Inside a quoted string (curl -H "Authorization: Token x" ...): up to the closing quote.
    (re.compile(r"(?i)(\"[ \t]*(?:proxy-)?authorization[ \t]*:[ \t]*)(?![\"\s])(?:\\.|[^\"\\\r\n])+"), rf"\1{MASK}"),
    (re.compile(r"(?i)('[ \t]*(?:proxy-)?authorization[ \t]*:[ \t]*)(?!['\s])(?:\\.|[^'\\\r\n])+"), rf"\1{MASK}"),
    (re.compile(rf"(?i)({_AUTH_NAME}\]?[ \t]*(?:=>|:)[ \t]*)[a-z][\w-]*[ \t]+[^\s=*][^\r\n]*"), rf"\1{MASK}"),
    # ... or a bare token after it (curl -v's "> Authorization: abc123..."): 12+ token characters with a digit.
    (
        re.compile(rf"(?i)({_AUTH_NAME}\]?[ \t]*(?:=>|:)[ \t]*)(?=[a-z._~+/-]*\d)[\w.~+/-]{{12,}}(?![\w.~+/=-])"),
        rf"\1{MASK}",
    ),
    (
        re.compile(rf"(?i)({_AUTH_NAME}=)(?![\"'\s])\S+(?:[ \t]+(?![\w.-]+=[^\s=])[^\s]+)*"),
        rf"\1{MASK}",
    ),
    # PEM private keys.
    (
        re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.S),
        MASK,
    ),
    # JSON Web Tokens (header.payload.signature, base64url).
    (re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MASK),
    # Command-line options naming a secret, value after a space: `--password hunter2`, `--api-key x`
    # (`--password=x` is a key=value pair above). The value may not start with "-" (the next option);
    # a count is kept (`--max-tokens 512`).
    (
        re.compile(
            rf"(?i)(?<![\w-])(?P<key>--?(?=[\w-]*?(?:{_SECRET_WORDS}))[\w-]+)(?![\w-])[ \t]+(?!-)"
            r"(?P<value>\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|\S+)"
        ),
        lambda match: match.group(0) if _is_count(match["key"], match["value"]) else f"{match['key']} {MASK}",
    ),
    # Authorization header schemes.
    (re.compile(r"(?i)\b(bearer|basic|digest)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {MASK}"),
    # Provider keys with a recognisable prefix: AWS, GitHub, Slack, Stripe, Google, OpenAI-style.
    (
        re.compile(
            r"\b(?:(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"
            r"|AIza[0-9A-Za-z_-]{30,}|sk-[A-Za-z0-9_-]{20,})"
        ),
        MASK,
    ),
)
# A (name, value) pair in a repr or JSON: [('Authorization', 'Token x')], [["password", "x"]], (b'x-api-key',
# b'...'). Masked when it is an item of a sequence (a list of pairs, dict_items) or its name is a header
# that is always secret; a lone pair of names (exclude = ('password', 'token')) is kept.
_PAIR = re.compile(
    r"[(\[]\s*[bB]?(?P<kq>\\?[\"'])(?P<name>[\w .-]{1,64})(?P=kq)\s*,\s*"
    r"(?:(?P<vp>[bB]?)(?P<vq>\\?[\"'])(?:(?!(?P=vq))(?:\\.|[^\\\r\n]))*(?P=vq)|(?P<num>-?\d+(?:\.\d+)?))(?=\s*[)\]])"
)
_PAIR_IN_SEQUENCE = re.compile(r"(?:[\[(]|[)\]]\s*,|dict_items\()\s*$")
# A lone pair's value that is a secret: a scheme and a credential ("Token abcdefghij"), a cookie
# ("sid=abc"), or a credential-like word.
_LONE_PAIR_SECRET = re.compile(
    r"^[A-Za-z][\w-]*[ \t]+\S{6,}|^[^=\s]+=|(?:^|\s)(?=\S*[A-Za-z])(?=\S*\d)(?![/~.])\S{6,}|\S{16,}"
)
_PAIR_NAME_ALONE = re.compile(r"(?i)authorization|cookie|api[_-]?key|^x-[\w-]*(?:token|key|secret|auth)")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
# One cheap scan decides whether the expensive patterns run at all: no pattern can match a text holding
# none of these (case-folded) words nor a run of digits a card number needs. Substring tests on the
# case-folded text are ~6x faster than one case-insensitive regex alternation (30 us for a 100-character
# line, where every position tried every word).
_HINT_WORDS = (
    "pass", "pw", "secret", "token", "key", "sig", "auth", "credential", "cookie", "session", "jwt", "bearer",
    "basic", "digest", "curl", "mysql", "mariadb", "eyj", "://", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_",
    "ghr_", "github_pat", "xox", "sk_", "rk_", "sk-", "aiza",
)  # fmt: skip
_HINT_DIGITS = re.compile(r"\d{4}[ -]?\d{4}")


# Letters the patterns' case-insensitive matching takes for i that case-folding keeps apart: the dotless i
# (U+0131), and the dotted capital I (U+0130), which folds to i + U+0307.
_HINT_FOLD = str.maketrans({"\u0131": "i", "\u0307": None})


def _hinted(text: str) -> bool:
    """Return True if ``text`` holds anything a masking pattern could match (the cheap pre-scan)."""
    folded = text.casefold()
    if not folded.isascii():
        folded = folded.translate(_HINT_FOLD)
    for word in _HINT_WORDS:
        if word in folded:
            return True
    return _HINT_DIGITS.search(text) is not None


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return MASK if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _user_key(key: str) -> str:
    """Return a user-given key name as compared: case-folded, every non-letter/digit removed (any script)."""
    return _NOT_WORD.sub("", key.casefold())


def _is_count(name: str, value: str) -> bool:
    """Whether ``value`` under ``name`` is a count or flag (``prompt_tokens=512``, ``passed: 42``), not a secret."""
    return bool(_COUNT_NAME.search(name)) and _COUNT_VALUE.fullmatch(value) is not None


def _secret_key_name(key: str) -> bool:
    """Whether a mapping key or attribute name names a secret (``Password``, ``X-Api-Key``, ``accountKey``)."""
    norm = _NON_ALNUM.sub("", key.lower())
    if norm in _KEY_EXACT:
        return True
    if _KEY_NAME.search(key) and not _DATA_KEY_NAME.search(key):
        return True  # encryption_key, Ocp-Apim-Subscription-Key, accountKey
    norm = _TOKENIZER.sub("", norm)  # a tokenizer is no token
    return any(part in norm for part in _KEY_PARTS)


def _mask_mysql_password(match: re.Match[str]) -> str:
    return match.group(0) if match["option"] is None else f"-p{MASK}"


def _mask_curl_user(match: re.Match[str]) -> str:
    if match["quote"] is not None:
        return f"{match['head']}{match['quote']}{match['quser']}:{MASK}{match['quote']}"
    return f"{match['head']}{match['bquote']}{match['user']}{match['uquote']}:{MASK}"


def _names_secret(head: re.Match[str]) -> bool:
    name = head.group("key")
    if _SECRET_NAME.search(name) or (_KEY_NAME.search(name) and not _DATA_KEY_NAME.search(name)):
        return True
    if name in ("key", "sig", "KEY", "SIG"):
        # Alone only as `key=...` or a quoted "key": ... (not "sort key: name"; not S3's "Key").
        start = head.start()
        quoted = start > 0 and head.string[start - 1] in "\"'"
        return quoted or head.group("sep") == "="
    return False


def _qualified_key(head: re.Match[str]) -> bool:
    """Whether the pair's name is a key named by the word before it ("API key: x", "secret key = x")."""
    start = head.start()
    qualifier = _KEY_QUALIFIER.search(head.string, max(0, start - 16), start)
    return qualifier is not None and head.group("key").lower() == "key"


def _mask_pairs(text: str, extra_keys: frozenset[str]) -> str:
    """Mask the value of every pair whose name names a secret (or is one of ``extra_keys``, normalised).

    A pair under an ordinary name is not consumed: the search goes on right
    after its name, so ``error: password=x`` still finds ``password``.
    """
    parts: list[str] = []
    done = position = 0
    while (head := _KV_HEAD.search(text, position)) is not None:
        position = head.end("key")
        by_user = bool(extra_keys) and _user_key(head.group("key")) in extra_keys
        named = by_user or _names_secret(head)
        if not named and not _qualified_key(head):
            continue
        value = _KV_VALUE.match(text, head.end())
        if value is None:
            continue
        bare = value.group("bare")
        if bare is not None and not by_user and _is_count(head.group("key"), bare):
            continue  # prompt_tokens=512, passed=42: a count, not a secret
        if bare is not None and bare[0] == "/" and head.group("key") in ("PWD", "OLDPWD") and not by_user:
            before = text[max(0, head.start() - 3) : head.start()]
            if not (before.endswith(";") or (before.endswith("; ") and not before.startswith(" "))):
                continue  # the shell's working directory (env, sudo's " ; PWD="); ODBC's ";PWD=" is a password
        if not named and not _CREDENTIAL_LIKE.fullmatch(value.group(0)):
            continue  # "API key: missing" says something about a key, and holds none
        if value.group("list") is not None:
            masked = f"[{MASK}]"
        elif value.group("brace") is not None:
            masked = f"{{{MASK}}}"
        elif value.group("edq") is not None:
            masked = f'\\"{MASK}\\"'
        elif value.group("dq") is not None:
            masked = f'{value.group("prefix") or ""}"{MASK}"'
        elif value.group("sq") is not None:
            masked = f"{value.group('prefix') or ''}'{MASK}'"
        else:
            masked = MASK
        parts += (text[done : head.start()], head.group("key"), head.group("sep"), masked)
        done = position = value.end()
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


class Redactor:
    """The masking rules, usable on their own: :meth:`text` for strings, :meth:`value` for data.

    Args:
        keys: Extra key names (any case, punctuation ignored) whose values are always masked.
        patterns: Extra regular expressions whose matches are masked.
    """

    def __init__(self, keys: Iterable[str] = (), patterns: Iterable[str | re.Pattern[str]] = ()) -> None:
        if isinstance(keys, (str, bytes)):
            # A lone string would be taken letter by letter (keys="acct" masking every a=, c=, t=).
            raise MonitoringConfigError("redaction keys", keys, ["a list of key names"])
        names = list(keys)
        self._extra_keys = frozenset(_user_key(key) for key in names)
        if "" in self._extra_keys:
            raise MonitoringConfigError("redaction keys", names, ["key names with a letter or digit"])
        # The pre-scan of the user's keys, however they are spelled (X-Internal, x__internal).
        self._user_hint: re.Pattern[str] | None = None
        if self._extra_keys:
            # Compared case-folded, found case-insensitively: both spellings (Straße folds to strasse).
            folded = {_NOT_WORD.sub("", key.lower()) for key in names} | self._extra_keys
            spellings = (r"[\W_]*".join(map(re.escape, key)) for key in sorted(folded) if key)
            self._user_hint = re.compile("|".join(spellings), re.IGNORECASE)
        extra: list[re.Pattern[str]] = []
        for pattern in patterns:
            try:
                extra.append(re.compile(pattern) if isinstance(pattern, str) else pattern)
            except re.error as exc:
                raise MonitoringConfigError("redaction pattern", pattern, [f"a valid regex ({exc})"]) from exc
        self._extra_patterns = tuple(extra)

    def is_secret_key(self, key: object) -> bool:
        """Return whether a mapping key or attribute name names a secret (``Password``, ``X-Api-Key``)."""
        if not isinstance(key, str):
            return False
        return _secret_key_name(key) or (bool(self._extra_keys) and _user_key(key) in self._extra_keys)

    def hides(self, key: object, value: Any) -> bool:
        """Return whether ``value`` under ``key`` is masked whole, whatever its shape.

        It is when :meth:`is_secret_key` says the key names a secret and the
        value is neither ``None`` nor ``""``, except a count under a count's name
        (``max_tokens: 512``, ``tokens_used: "100"``, ``authenticated: True``)
        that is not one of the ``keys`` given (those are always masked).
        """
        if not self.is_secret_key(key) or value is None or (isinstance(value, str) and not value):
            return False
        if isinstance(value, (int, float)) or (isinstance(value, str) and _COUNT_VALUE.fullmatch(value)):
            return not _COUNT_NAME.search(str(key)) or _user_key(str(key)) in self._extra_keys
        return True

    def _mask_pair(self, match: re.Match[str]) -> str:
        """Mask the value of a (name, value) pair found in text, if the name names a secret (see _PAIR).

        A pair in a sequence of pairs is masked like a mapping item (not empty, not a count). A lone
        pair only under an always-secret header name and with a credential-like value: a pair of
        names (``allow_headers=["Authorization", "Content-Type"]``) is kept.
        """
        name, start, number = match["name"], match.start(), match["num"]
        value = match.string[match.end("vq") : match.end() - len(match["vq"])] if number is None else number
        if not value or not self.hides(name, value):
            return match.group(0)
        if not _PAIR_IN_SEQUENCE.search(match.string, max(0, start - 32), start) and not (
            _PAIR_NAME_ALONE.search(name) and _LONE_PAIR_SECRET.search(value)
        ):
            return match.group(0)
        if number is not None:
            return match.string[start : match.start("num")] + MASK
        return f"{match.string[start : match.start('vp')]}{match['vp']}{match['vq']}{MASK}{match['vq']}"

    def text(self, text: str) -> str:
        """Return ``text`` with every secret it contains masked."""
        if self._extra_patterns:
            for pattern in self._extra_patterns:
                text = pattern.sub(MASK, text)
        if not _hinted(text) and (self._user_hint is None or self._user_hint.search(text) is None):
            return text
        text = _mask_pairs(text, self._extra_keys)
        text = _PAIR.sub(self._mask_pair, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return _CARD.sub(_mask_card, text)

    def value(self, value: Any, _depth: int = 0) -> Any:
        """Return a masked copy of ``value``: mappings by key, sequences by item, text by pattern.

        A two-item tuple or list whose first item names a secret (``("password", pw)``)
        is a key/value pair: its second item is masked whatever its shape.

        The input is never modified. Objects of other types are replaced by their
        masked ``repr`` only if that text held a secret.
        """
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            # A card number given as a number: 13-19 digits, a card network's first digit, Luhn-valid.
            digits = str(abs(value))
            return MASK if 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn_ok(digits) else value
        if _depth > 32:
            return self.text(repr(value))
        if isinstance(value, Mapping):
            return {
                k: (MASK if self.hides(k, v) else self.value(v, _depth + 1))
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)) and len(value) == 2 and self.is_secret_key(value[0]):
            # A (key, value) pair, as in a list of pairs or dict.items(): mask by key like a mapping.
            secret = value[1]
            pair = [value[0], MASK if self.hides(value[0], secret) else secret]
            return pair if isinstance(value, list) else tuple(pair)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [self.value(item, _depth + 1) for item in value]
            if isinstance(value, list):
                return items
            if isinstance(value, (set, frozenset)):
                # Same type, so a set without secrets compares equal and is left alone.
                return type(value)(items) if isinstance(value, frozenset) else set(items)
            return tuple(items)
        if isinstance(value, (bytes, bytearray)):
            text = value.decode("utf-8", "replace")
            masked = self.text(text)
            return value if masked == text else masked
        shown = repr(value)
        masked = self.text(shown)
        return value if masked == shown else masked


class RedactionFilter(logging.Filter):
    """Mask secrets in the message, its arguments, extras (recursively) and traceback text.

    Masks values under secret-looking keys (``password``, ``Api-Key``,
    ``AUTHORIZATION``, ... any case) and secret-looking values anywhere
    (``key=value`` pairs, bearer/basic credentials, JWTs, credentials in URLs,
    provider API keys, PEM private keys, Luhn-valid card numbers). The
    message is formatted first, so a secret passed as an argument is caught
    in context (``"password=%s", pw``). A cheap pre-scan skips records with
    nothing secret-looking.

    The user's objects are never modified. On Python 3.12+ the filter returns
    a masked copy of the record, so handlers without this filter still see
    the original; before 3.12 the stdlib has no such hook and the record's
    attributes are replaced by masked values in place (stalwart handlers
    accept the copy on every version).

    Args:
        keys: Extra key names whose values are always masked.
        patterns: Extra regular expressions whose matches are masked.
    """

    #: Whether :meth:`filter` returns a masked copy rather than masking in place.
    returns_copy = sys.version_info >= (3, 12)

    def __init__(self, keys: Iterable[str] = (), patterns: Iterable[str | re.Pattern[str]] = ()) -> None:
        super().__init__()
        self.redactor = Redactor(keys, patterns)

    def filter(self, record: logging.LogRecord) -> bool | logging.LogRecord:  # type: ignore[override]  # 3.12 contract
        """Return the masked record (a copy on 3.12+), or ``True`` when it needs no masking."""
        changes = self.changes(record)
        if not changes:
            return True
        target = copy.copy(record) if self.returns_copy else record
        target.__dict__.update(changes)
        return target if self.returns_copy else True

    def _masked_args_message(self, record: logging.LogRecord, message: str) -> str:
        """Return the message formatted from masked arguments (``"%(password)s", {"password": pw}``).

        Values under secret keys of a mapping argument carry no secret-looking
        text, so only masking them before formatting hides them.
        """
        args = record.args
        if not args or not isinstance(record.msg, str):
            return message
        redactor = self.redactor
        safe: tuple[Any, ...] | dict[Any, Any]
        if isinstance(args, Mapping):
            safe = redactor.value(args)
            if safe == args:
                return message
        else:
            safe = tuple(redactor.value(arg) for arg in args)
            if all(new is old or new == old for new, old in zip(safe, args, strict=True)):
                return message
        try:
            return record.msg % safe
        except (TypeError, ValueError, KeyError):
            # A masked argument no longer fits its placeholder (``%d`` given ``"***"``): hide the arguments.
            return record.msg

    def changes(self, record: logging.LogRecord) -> dict[str, Any]:
        """Return the masked values of every record attribute that holds a secret.

        Args:
            record: The record to inspect; not modified except that its
                traceback text is cached on ``exc_text`` as formatters do.

        Returns:
            Attribute name -> masked value; empty when nothing needs masking.
        """
        redactor = self.redactor
        out: dict[str, Any] = {}
        message = record_message(record)
        masked = redactor.text(self._masked_args_message(record, message))
        template = record.msg if isinstance(record.msg, str) else message
        masked_template = redactor.text(template)
        if masked != message or masked_template != template:
            out["msg"] = masked
            out["args"] = None
            out[TEMPLATE_ATTRIBUTE] = masked_template
            if "message" in record.__dict__:
                out["message"] = masked
        exc = exception_text(record)
        if exc:
            masked_exc = redactor.text(exc)
            if masked_exc != exc:
                out["exc_text"] = masked_exc
        if record.stack_info:
            masked_stack = redactor.text(record.stack_info)
            if masked_stack != record.stack_info:
                out["stack_info"] = masked_stack
        attrs = record.__dict__
        for key in attrs.keys() - STANDARD_ATTRIBUTES:
            if key[0] == "_":
                continue
            value = attrs[key]
            if redactor.hides(key, value):
                out[key] = MASK
                continue
            masked_value = redactor.value(value)
            if masked_value is not value and masked_value != value:
                out[key] = masked_value
        return out


_ENVIRONMENT_FLOORS = {
    "development": logging.NOTSET,
    "testing": logging.NOTSET,
    "staging": logging.DEBUG,
    "production": logging.INFO,
}


class EnvironmentFilter(RedactionFilter):
    """Masking (as :class:`RedactionFilter`) plus the environment's level floor and an ``environment`` field.

    Production drops DEBUG records, staging keeps DEBUG, development and
    testing keep everything; masking is on in every environment.

    Args:
        environment: ``"development"``, ``"staging"``, ``"production"`` or ``"testing"``.
        min_level: Overrides the environment's level floor.
        keys: Extra key names whose values are always masked.
        patterns: Extra regular expressions whose matches are masked.

    Raises:
        MonitoringConfigError: On an unknown environment or level.
    """

    def __init__(
        self,
        environment: str = "production",
        min_level: int | str | None = None,
        keys: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str]] = (),
    ) -> None:
        super().__init__(keys, patterns)
        if environment not in _ENVIRONMENT_FLOORS:
            raise MonitoringConfigError("environment", environment, _ENVIRONMENT_FLOORS)
        self.environment = environment
        floor = (
            _ENVIRONMENT_FLOORS[environment] if min_level is None else to_level(min_level, key="min_level")
        )
        self.min_level = floor

    def filter(self, record: logging.LogRecord) -> bool | logging.LogRecord:  # type: ignore[override]  # 3.12 contract
        """Drop records below the floor; return the masked record otherwise."""
        if record.levelno < self.min_level:
            return False
        result = super().filter(record)
        target = result if isinstance(result, logging.LogRecord) else record
        target.__dict__.setdefault("environment", self.environment)
        return result
