"""Built-in ``prism_post_image``: ``prism save --validate`` boots the new image once.

Runs after the built-in ``prism_post_image`` (which is ``tryfirst`` and waits until
the image is available), and only when the request asks for it. It boots a
throwaway instance of the smallest type of the image's architecture, waits for it to
run and pass its status checks, and terminates it. A failure raises, so the save
stops before the image is copied, registered or written as a template.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prism_core import plugin_api as api

if TYPE_CHECKING:
    from prism_core.plugin_api import SaveContext

DONE_KEY = "boot-check"


@api.hookimpl
def prism_post_image(ctx: SaveContext) -> None:
    """Boot-check the source image when ``ctx.request.validate`` is set."""
    from prism_core import toolkit

    if not getattr(ctx.request, "validate", False):
        return
    image = ctx.source_image()
    if image is None or image.image_id is None or not image.ok:
        raise api.ValidationFailed("boot check: the source image is not available")
    if ctx.plugin_data.get(DONE_KEY) == image.image_id:
        return
    arch = image.architecture or ctx.instance.architecture

    def launched(instance_id: str) -> None:
        with ctx.journal.lock:
            entry = f"{image.region}:{instance_id}"
            if entry not in ctx.state.boot_instances:
                ctx.record(boot_instances=[*ctx.state.boot_instances, entry])

    def terminated(instance_id: str) -> None:
        with ctx.journal.lock:
            entry = f"{image.region}:{instance_id}"
            ctx.record(boot_instances=[e for e in ctx.state.boot_instances if e != entry])

    toolkit.boot_check(
        ctx.aws.ec2(image.region),
        image.image_id,
        arch,
        ctx.settings,
        ctx.progress,
        label=ctx.request.template_name,
        cancel=ctx.cancel,
        on_launched=launched,
        on_terminated=terminated,
    )
    ctx.plugin_data[DONE_KEY] = image.image_id
