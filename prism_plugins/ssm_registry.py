"""Built-in ``prism_register``: the shared registry in SSM Parameter Store.

Writes the rendered template document (``ctx.template_document()``: the result of
every ``prism_template_render`` implementation and wrapper, exactly what the template
file will hold) in the source region and in every copy region that succeeded, all
regions at once, two parameters per region (its version, then the current entry;
the layout is :mod:`prism_core.templates.registry`'s), so a teammate in the same
account with an empty PRISM_HOME can list and launch it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prism_core import hookimpl
from prism_core.aws.clients import error_message

if TYPE_CHECKING:
    from prism_core.save.context import SaveContext

__all__ = ["prism_register"]


@hookimpl
def prism_register(ctx: SaveContext) -> list[str]:
    """Write the rendered template in every region that has the image."""
    images = ctx.images()
    if not images:
        return []
    from prism_core.templates import registry
    from prism_core.templates.compat import version_number

    ctx.progress.line("register", "Registering AMI in template registry...")
    document = ctx.template_document()
    if document is None:
        return []
    prefix = ctx.settings.registry_prefix
    registry.encode(document)  # too large for SSM: refuse before writing anywhere
    version = version_number(document)

    def write(region: str) -> list[str]:
        written: list[str] = []
        try:
            ssm = ctx.aws.client("ssm", region)
            # replaces this save's claim (issue 11) at versions/<N>
            written.append(registry.write_version(ssm, prefix, document))
            # The current entry follows the newest registered version, ours or that of a
            # concurrent save: write, then look again; a newer version registered meanwhile
            # is written over ours (its own writer may have read the registry before ours).
            newest = registry.newest_registered(ssm, prefix, document["name"])
            for _ in range(3):
                number, value = newest if newest and newest[0] > version else (version, document)
                name = registry.write_current(ssm, prefix, value)
                if name not in written:
                    written.append(name)
                newest = registry.newest_registered(ssm, prefix, document["name"])
                if newest is None or newest[0] <= number:
                    break
        except Exception as exc:
            ctx.record_failure(f"registry write in {region} failed: {error_message(exc)}")
            ctx.progress.line("fail", f"Registry write in {region} failed: {error_message(exc)}")
        return [f"{region}:{name}" for name in written]

    # Regions are independent: every one at once (one or two small requests each).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(images), thread_name_prefix="prism-register") as pool:
        results = list(pool.map(write, images))
    written = [name for names in results for name in names]
    if written:
        ctx.progress.line(
            "ok",
            f"AMI registered in template registry "
            f"({registry.current_parameter(prefix, document['name'])}, {len(images)} region(s))",
            since="register",
        )
    return written
