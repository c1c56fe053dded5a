"""Built-in ``prism_register``: the shared registry in SSM Parameter Store.

Writes the rendered template document (``ctx.template_document()``: the result of
every ``prism_template_render`` implementation and wrapper, exactly what the template
file will hold) in the source region and in every copy region that succeeded, all
regions at once, two parameters per region (its version, then the current entry;
the layout is :mod:`prism_core.templates.registry`'s), so a teammate in the same
account with an empty PRISM_HOME can list and launch it. Then the AMI parameters
(``<prefix>images/<name>/latest`` and ``/<N>``, ``DataType: aws:ec2:image``) of each
region follow (:mod:`prism_core.templates.image_parameters`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prism_core import plugin_api as api

if TYPE_CHECKING:
    from prism_core.plugin_api import SaveContext

__all__ = ["prism_register"]


@api.hookimpl
def prism_register(ctx: SaveContext) -> list[str]:
    """Write the rendered template in every region that has the image."""
    from prism_core import toolkit

    images = ctx.images()
    if not images:
        return []
    ctx.progress.line("register", "Registering AMI in template registry...")
    document = ctx.template_document()
    if document is None:
        return []
    prefix = ctx.settings.registry_prefix
    toolkit.registry_value(document)  # too large for SSM: refuse before writing anywhere

    def write(region: str) -> list[str]:
        written: list[str] = []
        try:
            ssm = ctx.aws.client("ssm", region)
            # versions/<N> (replacing this save's claim), then the current entry
            for name in toolkit.registry_publish(ssm, prefix, document):
                written.append(name)
            # <prefix>images/<name>/latest and /<N>: AMI ids `resolve:ssm:` understands
            # (derived from the registry and images: not journaled; an abort re-derives them)
            synced = toolkit.sync_image_parameters(ctx.aws, prefix, document["name"], [region])
            for failure in synced.failures:
                ctx.record_failure(failure)
                ctx.progress.line("fail", failure)
        except Exception as exc:
            reason = api.error_message(exc)
            ctx.record_failure(f"registry write in {region} failed: {reason}")
            ctx.progress.line("fail", f"Registry write in {region} failed: {reason}")
        return [f"{region}:{name}" for name in written]

    # Regions are independent: every one at once (one or two small requests each).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(images), thread_name_prefix="prism-register") as pool:
        results = list(pool.map(write, images))
    written = [name for names in results for name in names]
    if written:
        current = toolkit.registry_current_parameter(prefix, document["name"])
        ctx.progress.line(
            "ok",
            f"AMI registered in template registry ({current}, {len(images)} region(s))",
            since="register",
        )
    return written
