"""How a save option becomes a field of the :class:`~prism_core.save.request.SaveRequest`.

A row of :data:`prism_core.save.options.SAVE_OPTIONS` that reaches the request
declares each field it ends in, as one of:

- :class:`Checked`: the field is the row's value, checked and normalised by a function
  of this module (``validation.description``, ``validation.positive_days`` with the
  ``prism.deprecate_after_days`` default ...);
  :func:`prism_core.save.options.request_fields` runs these checks;
- :class:`Decided`: ``plan_save`` decides the field itself, because the decision needs
  the cloud or the template's previous version (the instance lookup, the inheritance
  merge, the image mode resolved against the configuration).

A :class:`Checked` field marked :attr:`~Checked.inherited` holds what the command asked
(``None``: not given); ``plan_save`` completes it from the previous version and the
defaults (``version_inheritance.merge``).

The checks run at three points of ``plan_save`` (:attr:`Checked.stage`), in
:attr:`Checked.order` within each: the first refusal wins, and its message and the
order of the refusals are what users and the hostile-input tests see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prism_core import validation
from prism_core.exceptions import InputError

if TYPE_CHECKING:
    from prism_core.settings import Settings

# -- stages: where in plan_save a check runs ------------------------------------------
#: The command's own values, before the cloud or the previous version is read.
ASKED = "asked"
#: After the refusals of a locked image mode or locked copy regions (``--deprecate-after``
#: is refused after them when its own key is locked too).
AFTER_LOCKS = "after-locks"
#: After the save's regions are known to be enabled (``--fast-restore`` zones).
AFTER_REGIONS = "after-regions"
#: The stages in the order ``plan_save`` runs them.
STAGES = (ASKED, AFTER_LOCKS, AFTER_REGIONS)

Check = Callable[[Any, "Given"], Any]


@dataclass
class Given:
    """What a check reads besides the row's value."""

    settings: Settings
    #: The region the save runs in, as the AWS clients have it (the ``--region`` row
    #: checks it).
    region: str
    #: The caller's account id; asked (of STS) only when ``--copy-to-accounts`` names
    #: accounts.
    account: Callable[[], str]
    #: The fields checked so far, by name: a later check reads an earlier one (the copy
    #: regions read the region).
    checked: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    """A request field computed from a row's value by :attr:`check`."""

    field: str
    #: ``check(value, given)``: the field's value, or :class:`InputError`.
    check: Check
    #: Where among the checks of its stage this one runs (lower first; the first
    #: refusal wins). Checks that cannot refuse keep 0.
    order: int = 0
    stage: str = ASKED
    #: The :class:`~prism_core.save.options.SaveOptions` attribute read (``None``: the
    #: row's ``field``, else one of the field's name, e.g. a group's ``secrets_policy``).
    source: str | None = None
    #: The value is what the command asked (``None``: not given); ``plan_save``
    #: completes it from the previous version (``version_inheritance.merge``).
    inherited: bool = False


@dataclass(frozen=True)
class Decided:
    """A request field ``plan_save`` decides itself; :attr:`by` says from what."""

    field: str
    by: str


def by(check: Callable[[Any], Any]) -> Check:
    """A check of the value alone (``validation.template_name``)."""

    def checked(raw: Any, given: Given) -> Any:
        return check(raw)

    checked.__doc__ = f"The value checked by {check.__qualname__}."
    return checked


def asked_by(check: Callable[[Any], Any]) -> Check:
    """``None`` when the option is not given (the previous version or a default then
    decides), else the value checked by ``check``."""

    def checked(raw: Any, given: Given) -> Any:
        return None if raw is None else check(raw)

    checked.__doc__ = f"None, or the value checked by {check.__qualname__}."
    return checked


def as_given(raw: Any, given: Given) -> Any:
    """The value as the options hold it (flags, the secrets policy)."""
    return raw


def region(raw: Any, given: Given) -> str:
    """The region the save runs in (``--region``, else the AWS configuration's)."""
    return validation.region_name(given.region)


def copy_regions(raw: Any, given: Given) -> list[str] | None:
    """``--copy-to-regions`` as asked (``None``: not given), never the save's region."""
    return None if raw is None else validation.copy_regions(raw, given.checked["region"])


def copy_accounts(raw: Any, given: Given) -> list[str]:
    """``--copy-to-accounts`` as ``ACCOUNT:ROLE`` (role default ``prism.account_role``);
    the caller's own account is refused."""
    accounts = validation.account_targets(raw, given.settings.account_role)
    if accounts:
        own = given.account()
        if any(a.startswith(f"{own}:") for a in accounts):
            raise InputError(
                f"--copy-to-accounts names this account ({own})", "list other accounts only"
            )
    return accounts


def fast_restore_zones(raw: Any, given: Given) -> list[str]:
    """``--fast-restore`` zones, each well formed and once (their regions are checked
    against the save's by ``plan_save``, which knows the copy regions)."""
    from prism_core.aws.fast_restore import parse_zones

    return parse_zones(raw)


#: ``--deprecate-after`` values that mean "not given" (the configured default applies).
NOT_GIVEN_DAYS = (None, "", 0)


def deprecation_days(raw: Any, given: Given) -> int | None:
    """``--deprecate-after`` days (1-3650), refused if ``prism.deprecate_after_days`` is
    locked to another value; not given: the configured default."""
    settings = given.settings
    if raw in NOT_GIVEN_DAYS:
        return settings.deprecate_after_days
    days = validation.positive_days(raw, "--deprecate-after")
    settings.refuse_override(
        "deprecate_after_days", "--deprecate-after", days != settings.deprecate_after_days
    )
    return days


def plugin_values(raw: Any, given: Given) -> dict[str, Any]:
    """The plugins' options by dest (``ctx.options``), as argparse or the batch entry
    gave them (a plugin checks its own)."""
    return dict(raw or {})


#: The request field every plugin option ends in (:func:`options.from_plugin` rows).
PLUGIN_OPTIONS = Checked("options", plugin_values, source="plugin_options")
