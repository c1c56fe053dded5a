"""Built-in ``prism_register``: the shared registry in SSM Parameter Store.

Written in the source region and in every copy region that succeeded, under the
configured prefix (default ``/prism/``)::

    /prism/templates/<name>/template         the newest template document (JSON)
    /prism/templates/<name>/versions/<N>     every version's document (JSON), kept
    /prism/templates/<name>/ami/<arch>       this region's AMI id (newest version)

so a teammate in the same account with an empty PRISM_HOME can launch it.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from prism_core import hookimpl
from prism_core.aws.clients import error_message
from prism_core.save.context import SaveContext
from prism_core.save.state import RegionImage
from prism_core.templates.compat import version_number
from prism_core.templates.document import build_document
from prism_core.templates.registry import newest_document, parameter_base

__all__ = ["parameter_base", "prism_register"]


@hookimpl
def prism_register(ctx: SaveContext) -> list[str]:
    """Write the template and its AMI ids in every region that has the image."""
    images = ctx.images()
    if not images:
        return []
    ctx.progress.line("register", "Registering AMI in template registry...")
    prefix, template = ctx.settings.registry_prefix, ctx.request.template_name
    base = parameter_base(prefix, template)
    doc = build_document(ctx)
    document = json.dumps(doc, sort_keys=True)
    version = version_number(doc)

    def write(region: str, image: RegionImage) -> list[str]:
        ssm = ctx.aws.client("ssm", region)
        arch = image.architecture or ctx.instance.architecture
        done: list[str] = []

        def put(name: str, value: str) -> None:
            ssm.put_parameter(
                Name=name,
                Value=value,
                Type="String",
                Overwrite=True,
                Tier="Intelligent-Tiering",
                Description=f"prism template {ctx.request.template_name}",
            )
            done.append(f"{region}:{name}")

        try:
            put(f"{base}/versions/{version}", document)  # replaces this save's claim
            # The current entries follow the newest registered version, ours or that of a
            # concurrent save: write, then look again; a newer version registered meanwhile
            # is written over ours (its own writer may have read the registry before ours).
            newest, newest_doc = newest_document(ssm, prefix, template) or (version, doc)
            for _ in range(3):
                if newest <= version:
                    amis, value = {arch: image.image_id or ""}, document
                else:
                    config = newest_doc.get("ami_config") or {}
                    amis = dict((config.get("amis") or {}).get(region) or {})
                    value = json.dumps(newest_doc, sort_keys=True)
                for each, ami in amis.items():
                    put(f"{base}/ami/{each}", str(ami))
                put(f"{base}/template", value)
                written = max(newest, version)
                newest, newest_doc = newest_document(ssm, prefix, template) or (version, doc)
                if newest <= written:
                    break
        except Exception as exc:
            ctx.record_failure(f"registry write in {region} failed: {error_message(exc)}")
            ctx.progress.line("fail", f"Registry write in {region} failed: {error_message(exc)}")
        return done

    # Regions are independent: write them at once (bounded like the copies).
    workers = max(1, min(ctx.settings.copy_concurrency, len(images)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prism-register") as pool:
        results = list(pool.map(write, images.keys(), images.values()))
    written = [name for names in results for name in names]
    if written:
        ctx.progress.line(
            "ok",
            f"AMI registered in template registry ({base}, {len(images)} region(s))",
            since="register",
        )
    return written
