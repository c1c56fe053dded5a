"""The inspection's report as prism reads it: secrets by kind, inventory, completeness."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from prism_core.validation import printable

#: Finding kinds, in the order the plan lists them, with their headings.
KINDS: dict[str, str] = {
    "private-key": "private keys",
    "cloud-credentials": "cloud credentials",
    "token": "tokens and passwords",
    "history": "shell and interpreter histories",
    "host-key": "SSH host keys",
    "cloud-init": "cloud-init user data and instance state",
}
PACKAGE_KINDS = ("deb", "rpm", "pip", "conda", "r")
MAX_PATH = 1024

#: What a person must remove by hand when the instance cannot be inspected.
INSPECTION_CHECKLIST = CHECKLIST = (
    "~/.aws/credentials and keys in ~/.aws/config, ~/.config/gcloud, ~/.azure "
    "(in every home, /root too)",
    "SSH private keys (~/.ssh/id_*, any file with a PRIVATE KEY header)",
    "tokens: ~/.netrc, ~/.git-credentials, ~/.docker/config.json, ~/.cache/huggingface/token, "
    "~/.kaggle/kaggle.json, ~/.config/gh/hosts.yml, .env files, Jupyter passwords and tokens",
    "shell, Python and R histories (~/.bash_history, ~/.zsh_history, ~/.python_history, .Rhistory)",
    "SSH host keys (/etc/ssh/ssh_host_*_key) and cloud-init state (/var/lib/cloud/instances)",
)


@dataclass(frozen=True)
class Finding:
    """One secret: its kind and path on the instance (never its contents)."""

    kind: str
    path: str
    what: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "what": self.what}


@dataclass(frozen=True)
class Package:
    kind: str
    environment: str
    name: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "environment": self.environment,
            "name": self.name,
            "version": self.version,
        }


@dataclass
class Report:
    """What an inspection found; ``available`` is False when it could not run (``reason``)."""

    available: bool
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)
    packages: list[Package] = field(default_factory=list)
    complete: bool = True
    truncated: list[str] = field(default_factory=list)
    os: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    #: Package counts by kind when the package list itself is not at hand (journal).
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def unavailable(cls, reason: str) -> Report:
        return cls(available=False, reason=reason, complete=False)

    @classmethod
    def not_inspected(cls) -> Report:
        return cls(
            available=False, reason="not inspected (--no-inspect)", complete=False, skipped=True
        )

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Report:
        """A report from the program's JSON document (untrusted: every field checked)."""
        findings = []
        for item in _dicts(document.get("findings")):
            kind = str(item.get("kind", ""))
            if kind in KINDS:
                findings.append(Finding(kind, _text(item.get("path")), _text(item.get("what"))))
        packages = []
        for item in _dicts(document.get("packages")):
            kind = str(item.get("kind", ""))
            name = _text(item.get("name"), 200)
            if kind in PACKAGE_KINDS and name:
                packages.append(
                    Package(
                        kind,
                        _text(item.get("environment"), 300) or "system",
                        name,
                        _text(item.get("version"), 200),
                    )
                )
        os_info = document.get("os") if isinstance(document.get("os"), dict) else {}
        stats = document.get("stats") if isinstance(document.get("stats"), dict) else {}
        return cls(
            available=True,
            findings=findings,
            packages=packages,
            complete=document.get("complete") is True,
            truncated=[
                _text(t, 200) for t in document.get("truncated") or [] if isinstance(t, str)
            ],
            os={k: _text(os_info.get(k), 100) for k in ("id", "version", "name")},
            stats={k: v for k, v in stats.items() if isinstance(v, int) and k != "homes"},
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Report | None:
        """A report rebuilt from :meth:`to_dict` (the journal's copy; no package list)."""
        if not isinstance(data, dict):
            return None
        if not data.get("available"):
            reason = _text(data.get("reason"), 300)
            return cls(
                available=False, reason=reason, complete=False, skipped="--no-inspect" in reason
            )
        findings = [
            Finding(str(i.get("kind")), _text(i.get("path")), _text(i.get("what")))
            for i in _dicts(data.get("secrets"))
            if i.get("kind") in KINDS
        ]
        counts = data.get("packages") if isinstance(data.get("packages"), dict) else {}
        return cls(
            available=True,
            findings=findings,
            complete=data.get("complete") is True,
            truncated=[_text(t, 200) for t in data.get("truncated") or [] if isinstance(t, str)],
            counts={
                k: int(v) for k, v in counts.items() if k in PACKAGE_KINDS and isinstance(v, int)
            },
        )

    # views -------------------------------------------------------------------
    def by_kind(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for kind in KINDS:
            hits = sorted((f for f in self.findings if f.kind == kind), key=lambda f: f.path)
            if hits:
                grouped[kind] = hits
        return grouped

    def package_counts(self) -> dict[str, int]:
        if not self.packages and self.counts:
            return dict(self.counts)
        counts = Counter(p.kind for p in self.packages)
        return {k: counts[k] for k in PACKAGE_KINDS if counts[k]}

    def finding_counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.by_kind().items()}

    def summary(self) -> dict[str, Any]:
        """What the registry entry and template record (small: counts only)."""
        if not self.available:
            return {"available": False, "reason": self.reason}
        return {
            "available": True,
            "complete": self.complete,
            "findings": self.finding_counts(),
            "packages": self.package_counts(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "secrets": [f.to_dict() for f in self.findings],
            "truncated": list(self.truncated),
            "os": dict(self.os),
        }

    def plan_lines(self) -> list[str]:
        """The plan's lines about the inspection."""
        if not self.available:
            return [f"Inspection: not done - {self.reason}; package inventory unavailable"]
        counts = self.package_counts()
        size = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no packages found"
        total = sum(counts.values())
        lines = [f"Inspection: {total} packages ({size})"]
        grouped = self.by_kind()
        if not grouped:
            lines.append("   no secrets found")
        for kind, hits in grouped.items():
            lines.append(f"   {KINDS[kind]} ({len(hits)}):")
            lines += [f"      {shown_path(h.path)}" for h in hits[:20]]
            if len(hits) > 20:
                lines.append(f"      ... and {len(hits) - 20} more")
        for note in self.truncated:
            lines.append(f"   incomplete: {printable(note)}")
        return lines


#: The name plugins know it by (``prism_core.toolkit.InspectionReport``).
InspectionReport = Report


def shown_path(path: str) -> str:
    """A path as one printable line (newlines and tabs in names shown escaped)."""
    return printable(path.replace("\n", "\\n").replace("\t", "\\t"))


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _text(value: Any, limit: int = MAX_PATH) -> str:
    return str(value)[:limit] if isinstance(value, str) else ""
