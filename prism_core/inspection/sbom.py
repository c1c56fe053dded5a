"""The inventory as a CycloneDX JSON SBOM (``cyclonedx-python-lib``), and back.

Each package is a component with a package URL (``pkg:deb``, ``pkg:rpm``, ``pkg:pypi``,
``pkg:conda``, ``pkg:cran``) and the properties ``prism:kind`` and ``prism:environment``;
the metadata component is the template version, and each secret found is a metadata
property ``prism:secret`` = ``KIND PATH`` (paths and kinds only, as the plan shows them).
"""

from __future__ import annotations

import json
from typing import Any

from prism_core.exceptions import OperationFailed
from prism_core.inspection.findings import KINDS, PACKAGE_KINDS, Finding, Package, Report

_PURL_TYPES = {"deb": "deb", "rpm": "rpm", "pip": "pypi", "conda": "conda", "r": "cran"}
MEDIA_TYPE = "application/vnd.cyclonedx+json"


def to_cyclonedx(report: Report, template: str, version: int) -> str:
    """The SBOM of one template version (JSON, CycloneDX 1.5)."""
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output import OutputFormat, make_outputter
    from cyclonedx.schema import SchemaVersion
    from packageurl import PackageURL

    bom = Bom()
    root = Component(
        name=template,
        version=str(version),
        type=ComponentType.OPERATING_SYSTEM,
        bom_ref=f"prism-template:{template}@{version}",
        description=report.os.get("name") or None,
    )
    bom.metadata.component = root
    bom.metadata.properties.add(Property(name="prism:complete", value=str(report.complete).lower()))
    for finding in report.findings:
        bom.metadata.properties.add(
            Property(name="prism:secret", value=f"{finding.kind} {finding.path}")
        )
    seen: set[str] = set()
    components = []
    for package in report.packages:
        ref = f"{package.kind}:{package.environment}:{package.name}@{package.version}"
        if ref in seen:
            continue
        seen.add(ref)
        namespace = report.os.get("id") or None if package.kind in ("deb", "rpm") else None
        component = Component(
            name=package.name,
            version=package.version or None,
            type=ComponentType.LIBRARY,
            bom_ref=ref,
            purl=PackageURL(
                type=_PURL_TYPES[package.kind],
                namespace=namespace,
                name=package.name,
                version=package.version or None,
            ),
            properties=[
                Property(name="prism:kind", value=package.kind),
                Property(name="prism:environment", value=package.environment),
            ],
        )
        components.append(component)
        bom.components.add(component)
    bom.register_dependency(root, components)
    return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_5).output_as_string(indent=None)


def from_cyclonedx(text: str) -> Report:
    """The packages and secrets an SBOM of :func:`to_cyclonedx` holds (untrusted input)."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise OperationFailed("the stored inventory is not JSON") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise OperationFailed("the stored inventory is not a CycloneDX SBOM")
    packages = []
    for item in doc.get("components") or []:
        if not isinstance(item, dict):
            continue
        props = _properties(item)
        kind = props.get("prism:kind", "")
        if kind in PACKAGE_KINDS and isinstance(item.get("name"), str):
            packages.append(
                Package(
                    kind,
                    props.get("prism:environment", "system")[:300],
                    item["name"][:200],
                    str(item.get("version") or "")[:200],
                )
            )
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    findings = []
    complete = True
    for prop in meta.get("properties") or []:
        if not isinstance(prop, dict) or not isinstance(prop.get("value"), str):
            continue
        if prop.get("name") == "prism:secret":
            kind, _, path = prop["value"].partition(" ")
            if kind in KINDS:
                findings.append(Finding(kind, path[:1024]))
        elif prop.get("name") == "prism:complete":
            complete = prop["value"] == "true"
    return Report(available=True, findings=findings, packages=packages, complete=complete)


def _properties(item: dict[str, Any]) -> dict[str, str]:
    return {
        p["name"]: p["value"]
        for p in item.get("properties") or []
        if isinstance(p, dict)
        and isinstance(p.get("name"), str)
        and isinstance(p.get("value"), str)
    }
