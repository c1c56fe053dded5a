"""Input checks that need no cloud access: names, regions, tags, accounts.

Each function raises :class:`InputError` with a one-line message that says what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from prism_core.aws.tags import TAG_PREFIX
from prism_core.exceptions import InputError

TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
#: The owner aliases of Amazon's own images (``ImageOwnerAlias``).
AMAZON_ALIASES = frozenset({"amazon", "aws-marketplace"})
ORG_ARN = re.compile(r"^arn:aws[a-z-]*:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$")
OU_ARN = re.compile(
    r"^arn:aws[a-z-]*:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$"
)
PROJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
#: C0 and C1 control characters but tab and newline (C1 holds the 8-bit CSI, \x9b).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Terminal escape sequences (CSI, OSC, other ESC forms), C0/C1 controls but tab/newline,
#: and bidi overrides: never printed from untrusted text.
_TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clears
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    r"|\x1b[@-_]?"  # other escapes, or a lone ESC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)

MAX_DESCRIPTION = 255  # EC2's limit for an AMI description
MAX_TAGS = 50  # EC2's limit per resource
PRISM_TAG_COUNT = 8  # tags prism itself puts on an image (see save.images.image_tags)


def comma_list(text: str) -> list[str]:
    """The entries of a comma-separated list (``"a, b,,c"`` -> ``["a", "b", "c"]``):
    stripped, empty ones dropped, in order."""
    return [item.strip() for item in text.split(",") if item.strip()]


def is_number(text: str) -> bool:
    """Whether ``text`` is 1 to 7 ASCII digits (a version number as written in a file
    name, tag, registry key or template; ``str.isdigit`` alone also takes "²")."""
    return 1 <= len(text) <= 7 and text.isascii() and text.isdigit()


def printable(text: Any, limit: int | None = None) -> str:
    """``text`` with terminal escape sequences, control characters (but newlines and tabs)
    and bidi overrides removed: for anything prism prints that came from a file, the
    registry, a catalog or AWS. With ``limit``, also folded to one line and cut at
    ``limit`` characters."""
    clean = _TERMINAL_ESCAPES.sub("", str(text))
    return clean if limit is None else one_line(clean, limit)


def one_line(text: str, limit: int = 400) -> str:
    """``text`` with whitespace runs folded to one space, cut at ``limit`` characters."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 3] + "..."


#: Characters shown as escapes in :func:`quoted`: terminal controls and bidi overrides.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def quoted(text: str | None, limit: int = 60) -> str:
    """``text`` in single quotes for an error message: letters of any script as they are
    (``'répertoire'``), control characters and bidi overrides as visible escapes
    (``\\x1b``), cut at ``limit`` characters with ``...``."""
    text = text or ""
    cut = text if len(text) <= limit else text[: limit - 3] + "..."
    return "'" + _INVISIBLE.sub(lambda m: m.group().encode("unicode_escape").decode(), cut) + "'"


#: Longest template name: it names a file, SSM parameter paths and AMI names.
MAX_TEMPLATE_NAME = 64


def template_name(name: str) -> str:
    """A template name is a slug: it names a file and an SSM path, never a directory."""
    if not name:
        raise InputError("the template name is empty", "give a name such as seismic-env")
    if len(name) > MAX_TEMPLATE_NAME:
        raise InputError(
            f"template name {quoted(name, 40)} is too long ({len(name)} characters)",
            f"use at most {MAX_TEMPLATE_NAME}",
        )
    if not TEMPLATE_NAME.fullmatch(name) or ".." in name:
        raise InputError(
            f"invalid template name {quoted(name, 80)}",
            "use 1-64 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    return name


def description(text: str) -> str:
    """At most 255 characters; newlines and tabs allowed, other control characters not."""
    if len(text) > MAX_DESCRIPTION:
        raise InputError(
            f"the description has {len(text)} characters", f"EC2 allows at most {MAX_DESCRIPTION}"
        )
    if CONTROL.search(text):
        raise InputError(
            "the description contains control characters", "remove them (newlines are fine)"
        )
    return text


@lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """Every EC2 region in botocore's own endpoint data, all partitions (no network)."""
    from prism_core.aws.botocore_data import botocore_session

    session = botocore_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("ec2", partition))
    return frozenset(regions)


@lru_cache(maxsize=8)
def partition_regions(region: str) -> frozenset[str]:
    """The EC2 regions of ``region``'s partition (aws, aws-cn, aws-us-gov, ...): the only
    ones an image can be copied to from there (botocore's endpoint data, no network)."""
    from prism_core.aws.botocore_data import botocore_session

    session = botocore_session()
    for partition in session.get_available_partitions():
        regions = frozenset(session.get_available_regions("ec2", partition))
        if region in regions:
            return regions
    return frozenset()


def _edits(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


def closest_region(region: str) -> str | None:
    """The known region a typo most likely meant (fewest edits, then difflib's ratio)."""
    import difflib

    known = sorted(known_regions())
    scored = [(_edits(region, name), name) for name in known]
    best = min((score for score, _ in scored), default=99)
    if best > 3:
        close = difflib.get_close_matches(region, known, n=1, cutoff=0.75)
        return close[0] if close else None
    ties = [name for score, name in scored if score == best]
    return max(ties, key=lambda name: difflib.SequenceMatcher(None, region, name).ratio())


def region_name(region: str, flag: str = "--region") -> str:
    """A region name that botocore's endpoint data knows, such as ``eu-west-1``.

    Checked offline, before any call: a typo gets "did you mean ...?".
    """
    shown = quoted(region, 40)
    if not REGION.fullmatch(region or ""):
        raise InputError(f"{flag}: {shown} is not a region name", "use a name such as eu-west-1")
    known = known_regions()
    if region not in known:
        close = closest_region(region)
        hint = f"did you mean {close}?" if close else "use a name such as eu-west-1"
        import botocore

        raise InputError(
            f"{flag}: region {shown} does not exist (botocore {botocore.__version__}'s "
            "endpoint data)",
            hint + " (a region newer than botocore needs `pip install -U botocore`)",
        )
    return region


def copy_regions(value: str | Iterable[str] | None, source: str) -> list[str]:
    """Parse ``--copy-to-regions``: comma-separated, no duplicates, not the source;
    ``none`` means no copies (a new version then drops the previous one's)."""
    if value is None or (isinstance(value, str) and value.strip() == "none"):
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    regions: list[str] = []
    for item in items:
        region = item.strip()
        if not region:
            raise InputError("--copy-to-regions has an empty entry", "use R1,R2 with no spaces")
        region_name(region, "--copy-to-regions")
        if region in regions:
            raise InputError(f"--copy-to-regions names {region} twice", "list each region once")
        if region == source:
            raise InputError(
                f"--copy-to-regions includes the source region {region}",
                "the image is saved there anyway; list only other regions",
            )
        regions.append(region)
    return regions


def reserved_tag_key(key: str, prefix: str) -> bool:
    """Whether ``key`` starts with ``prefix`` (``"prism:"``, ``"aws:"``) in any case or
    Unicode look-alike form: compatibility forms (fullwidth letters), case folding
    ("\u017f" folds to "s") and combining marks ("I\u0307") are all taken off first."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", key.strip())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return unicodedata.normalize("NFKC", folded).startswith(prefix)


def tags(pairs: Iterable[str] | None) -> dict[str, str]:
    """Parse repeated ``--tag KEY=VALUE``; keys unique, EC2's limits, no ``aws:`` prefix."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise InputError(f"--tag {pair!r} is not KEY=VALUE", "write --tag team=seismology")
        key, value = pair.split("=", 1)
        key = key.strip()
        if CONTROL.search(key) or CONTROL.search(value) or "\n" in key + value:
            raise InputError(f"--tag {quoted(key, 60)} contains control characters")
        if not key or len(key) > 128:
            raise InputError(f"--tag key {quoted(key, 40)} must have 1-128 characters")
        if len(value) > 256:
            raise InputError(f"--tag {key}: the value has {len(value)} characters (at most 256)")
        if reserved_tag_key(key, "aws:"):
            raise InputError(
                f"--tag {key}: the 'aws:' prefix is reserved by AWS", "pick another key"
            )
        if reserved_tag_key(key, TAG_PREFIX):
            raise InputError(
                f"--tag {key}: the '{TAG_PREFIX}' prefix is reserved for prism's own tags "
                "(they prove which save made an image)",
                "pick another key",
            )
        if key in result:
            raise InputError(f"--tag {key} is given twice", "give each key once")
        result[key] = value
    if len(result) + PRISM_TAG_COUNT > MAX_TAGS:
        raise InputError(
            f"{len(result)} tags is too many",
            f"EC2 allows {MAX_TAGS} per image and prism uses {PRISM_TAG_COUNT}",
        )
    return result


def share_targets(value: str | Iterable[str] | None) -> list[str]:
    """Parse ``--share-with``: 12-digit account ids, organization or OU ARNs."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    targets: list[str] = []
    for item in items:
        target = item.strip()
        if not (
            ACCOUNT_ID.fullmatch(target) or ORG_ARN.fullmatch(target) or OU_ARN.fullmatch(target)
        ):
            raise InputError(
                f"--share-with: {quoted(target, 80)} is not an account id or organization/OU ARN",
                "use 12-digit account ids or arn:aws:organizations::... ARNs, comma-separated",
            )
        if target in targets:
            raise InputError(f"--share-with names {target} twice", "list each once")
        targets.append(target)
    return targets


def owner_ids(values: Iterable[Any], what: str) -> list[str]:
    """12-digit account ids (``amazon``/``aws-marketplace`` allowed); one-line error if not."""
    found: list[str] = []
    for value in values:
        text = str(value).strip()
        if not (ACCOUNT_ID.fullmatch(text) or text in AMAZON_ALIASES):
            raise InputError(
                f"{what}: {printable(text, 40)!r} is not a 12-digit AWS account id",
                "list account ids (or amazon / aws-marketplace)",
            )
        found.append(text)
    return found


#: An IAM role name (its path is not part of it here): letters, digits and ``+=,.@_-``.
ROLE_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
#: Accounts one save copies into (each a copy per region; bounded like the regions).
MAX_COPY_ACCOUNTS = 20


def account_targets(value: str | Iterable[str] | None, default_role: str) -> list[str]:
    """Parse ``--copy-to-accounts ACCOUNT[:ROLE],...`` into ``ACCOUNT:ROLE`` entries;
    an account without a role gets ``default_role`` (``prism.account_role``)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    targets: list[str] = []
    for item in items:
        account, _, role = item.strip().partition(":")
        role = role or default_role
        if not ACCOUNT_ID.fullmatch(account) or not ROLE_NAME.fullmatch(role):
            shown = item.strip().encode("unicode_escape").decode("ascii")[:80]
            raise InputError(
                f"--copy-to-accounts: {shown!r} is not ACCOUNT or ACCOUNT:ROLE",
                "use 12-digit account ids, each optionally with :ROLE-NAME, comma-separated",
            )
        if any(t.split(":")[0] == account for t in targets):
            raise InputError(f"--copy-to-accounts names {account} twice", "list each once")
        targets.append(f"{account}:{role}")
    if len(targets) > MAX_COPY_ACCOUNTS:
        raise InputError(
            f"--copy-to-accounts lists {len(targets)} accounts; at most {MAX_COPY_ACCOUNTS}",
            "copy to fewer accounts per save",
        )
    return targets


def project_id(value: str | None) -> str | None:
    """A project id: 1-64 letters, digits, ``-_.:``."""
    if value is None:
        return None
    if not PROJECT_ID.fullmatch(value):
        raise InputError(
            f"invalid --project {quoted(value, 40)}",
            "use 1-64 letters, digits, '-', '_', '.' or ':'",
        )
    return value


CHANNEL = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
#: The implicit channel: the newest version that is not revoked. It cannot be promoted.
LATEST = "latest"
MAX_REASON = 500


def channel_name(name: str) -> str:
    """A channel name (``stable``, ``course-2026``): lower case, starting with a letter."""
    if not CHANNEL.fullmatch(name or ""):
        raise InputError(
            f"invalid channel name {quoted(name, 40)}",
            "use 1-40 lower-case letters, digits, '-', '_' or '.', starting with a letter",
        )
    return name


def reason(text: str) -> str:
    """A revocation reason: 1-500 characters, no control characters."""
    text = (text or "").strip()
    if not text:
        raise InputError("the revocation reason is empty", 'give one with --reason "..."')
    if len(text) > MAX_REASON:
        raise InputError(f"the reason has {len(text)} characters", f"use at most {MAX_REASON}")
    if CONTROL.search(text) or "\n" in text:
        raise InputError("the reason contains control characters", "write it on one line")
    return text


def positive_days(value: object, what: str) -> int:
    """A whole number of days, 1 to 3650 (EC2 deprecates at most ten years ahead)."""
    try:
        days = int(str(value))
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number of days, not {value!r}") from None
    if not 1 <= days <= 3650:
        raise InputError(f"{what} must be between 1 and 3650 days, not {days}")
    return days


#: EBS Provisioned Rate for Volume Initialization: MiB/s a volume restored from a
#: snapshot downloads its blocks at (RunInstances' ``VolumeInitializationRate``).
INIT_RATE_RANGE = (100, 300)


def init_rate(value: str | None) -> int | None:
    """``prism launch --init-rate MiBps``: a whole number from 100 to 300, or ``None``."""
    if value is None:
        return None
    low, high = INIT_RATE_RANGE
    text = str(value).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise InputError(
            f"--init-rate {printable(text, 20)!r} is not a rate from {low} to {high} MiB/s",
            f"give a whole number of MiB/s from {low} to {high} (EBS's range)",
        )
    return int(text)
