"""What a name may look like, for every name the admin YAML puts into PBX configuration.

One place for the character rules, because each of them exists for a reason on the PBX
side: an entry point id becomes an Asterisk extension name (where `-` is silently
ignored and single letters such as `h` or `t` are special), an endpoint becomes a pjsip
section name and a FreeSWITCH directory user id, a value in a `UserEvent(...)` must not
contain `,`. Free text (labels, agent names) is never restricted here; the renderers
neutralise it where it is written.
"""

from __future__ import annotations

import re

#: Router-side names: services, agents, PBXs, skills (same rule as router.strategy).
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
NAME_HINT = "letters, digits, '_', '.', '-'; starts with a letter or digit; at most 64"

#: Names that become extension names in generated contexts (entry points, trunks).
#: No '-' (Asterisk drops it when matching) and no '.' (a wildcard in patterns).
SLUG = r"^[A-Za-z][A-Za-z0-9_]{0,39}$"
SLUG_HINT = "a letter, then letters, digits or '_'; at most 40"

#: Asterisk's special extensions; an entry point or trunk named like one would hijack it.
RESERVED_EXTENSIONS = frozenset({"a", "e", "fax", "h", "i", "o", "s", "t", "T", "talk"})

#: SIP user / endpoint: a pjsip section name, a FreeSWITCH directory user id, a SIP URI user.
ENDPOINT = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
ENDPOINT_HINT = "letters, digits, '_', '.', '+', '-'; at most 64"

#: Environment variable names that hold secrets.
ENV = r"^[A-Z_][A-Z0-9_]{0,127}$"
ENV_HINT = "an environment variable NAME such as IMPLUS_AMI_SECRET (capitals, digits, '_')"

#: Dialplan context names (Asterisk contexts, FreeSWITCH contexts and profiles).
CONTEXT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

#: A literal extension (what a caller dials) or an Asterisk pattern starting with '_'.
LITERAL_EXTENSION = r"^[0-9A-Za-z+*#][0-9A-Za-z+*#_]{0,79}$"
PATTERN_EXTENSION = r"^_[0-9A-Za-z+*#XZNxzn\[\]\-.!]{1,79}$"
EXTENSION_HINT = "digits/letters/'+*#' such as 800 or +4930123, or an Asterisk pattern such as _8XX"

#: Dial prefixes and voicemail boxes.
DIGITS = r"^[0-9*#+]{0,20}$"
MAILBOX = r"^[0-9A-Za-z_]{1,40}$"

LANGUAGE = r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})?$"
LANGUAGE_HINT = "a language code such as en, de or pt_BR"

#: Hosts: DNS names and IPv4 literals (IPv6 literals are not supported yet).
HOST = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$"
IPV4 = r"^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$"

#: A FreeSWITCH global variable reference, which its pre-processor replaces when it reads
#: the file (`$${hold_music}`, `$${domain}`). Never `${...}`: that is expanded when the
#: dialplan runs, and `${api(args)}` calls an API command (`system` runs a shell).
FS_GLOBAL = r"\$\$\{[A-Za-z0-9_]{1,64}\}"

#: Asterisk music-on-hold class names; FreeSWITCH hold music is a playable path, which may
#: start with a global variable (`$${hold_music}`, `$${sounds_dir}/music/8000`).
MOH_CLASS = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$"
FS_MUSIC = rf"^({FS_GLOBAL}|[A-Za-z0-9/_])[A-Za-z0-9_.:/@+-]{{0,199}}$"

#: A FreeSWITCH directory domain: a host name, or a global variable (`$${domain}`).
FS_DOMAIN = rf"^({FS_GLOBAL}|[A-Za-z0-9][A-Za-z0-9_.-]{{0,127}})$"

#: A static SIP contact for a phone that does not register (e.g. a test UAS).
SIP_URI = r"^sips?:([A-Za-z0-9_.+-]+@)?[A-Za-z0-9.-]+(:[0-9]{1,5})?(;[A-Za-z0-9=_.-]+)*$"

#: A permit/deny network for the AMI user, e.g. 127.0.0.1/255.255.255.255 or 10.0.0.0/8.
NETWORK = r"^[0-9.]+(/([0-9]{1,2}|[0-9.]+))?$"


def matches(pattern: str, value: str) -> bool:
    """True when `value` matches one of the patterns above."""
    return re.match(pattern, value) is not None


def is_pattern(extension: str) -> bool:
    """An Asterisk extension pattern (``_8XX``) rather than a literal extension."""
    return extension.startswith("_")
