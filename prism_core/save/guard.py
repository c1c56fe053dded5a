"""The restart guarantee: an instance prism stopped is started again, whatever happens.

The instance is started as soon as the image lists its snapshots (not when the image
is available). On any failure, Ctrl-C included, the guard waits (bounded) for the
snapshots of an image already requested, then starts the instance; a second Ctrl-C
cannot interrupt that restart.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import describe_image, describe_instance, image_snapshot_ids
from prism_core.aws.waiting import wait_for
from prism_core.exceptions import OperationFailed
from prism_core.save.context import SaveContext

SHIELDED = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def sigint_shield(progress: Any) -> Iterator[None]:
    """Defer Ctrl-C and SIGTERM while the instance is being brought back (main thread).

    A signal that arrives inside is delivered again as soon as the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def deferred(signum: int, frame: Any) -> None:
        caught.append(signum)
        progress.line("warn", "Bringing the instance back first; prism stops when it is done.")

    previous = {signum: signal.signal(signum, deferred) for signum in SHIELDED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        signal.raise_signal(caught[0])


class InstanceGuard:
    """Stops the instance for imaging and guarantees it is started again."""

    def __init__(self, ctx: SaveContext) -> None:
        self.ctx = ctx
        self.ec2 = ctx.aws.ec2(ctx.source_region)
        self._watcher: threading.Thread | None = None
        self.start_error: str | None = None

    @property
    def will_stop(self) -> bool:
        """Whether this save stops the instance (not with --no-reboot or if already stopped)."""
        return (
            not self.ctx.request.no_reboot and self.ctx.state.instance_original_state != "stopped"
        )

    def stop(self) -> None:
        """Stop the instance and wait until it is ``stopped`` (journaled first)."""
        ctx, state = self.ctx, self.ctx.state
        if not self.will_stop or state.instance_restarted:
            return
        instance_id = ctx.request.instance_id
        if not state.stopped_by_prism:
            ctx.record(stopped_by_prism=True, downtime_started=time.time())
        ctx.progress.line("stop", "Stopping instance for consistent AMI creation...")
        current = describe_instance(self.ec2, instance_id, ctx.source_region).state
        if current in ("pending", "running"):
            self.ec2.stop_instances(InstanceIds=[instance_id])
        elif current not in ("stopping", "stopped"):
            raise OperationFailed(f"instance {instance_id} is {current} and cannot be stopped")

        def stopped() -> bool | None:
            now = describe_instance(self.ec2, instance_id, ctx.source_region).state
            if now == "stopped":
                return True
            if now not in ("stopping", "pending", "running"):
                raise OperationFailed(f"instance {instance_id} became {now} while stopping")
            return None

        ctx.wait(stopped, what=f"instance {instance_id} to stop", limit="stop", critical=True)
        ctx.progress.line("ok", "Instance stopped", since="stop")

    def restart(self) -> None:
        """Start the instance now if prism stopped it; confirm ``running`` in the background."""
        ctx, state = self.ctx, self.ctx.state
        if not state.stopped_by_prism or state.instance_restarted:
            return
        instance_id = ctx.request.instance_id
        ctx.progress.line("start", f"Restarting instance {instance_id}...")
        with sigint_shield(ctx.progress):
            current = describe_instance(self.ec2, instance_id, ctx.source_region).state
            if current == "stopping":  # EC2 refuses to start an instance still stopping

                def stopped() -> bool | None:
                    now = describe_instance(self.ec2, instance_id, ctx.source_region).state
                    return True if now != "stopping" else None

                wait_for(
                    stopped,
                    what=f"instance {instance_id} to finish stopping before its restart",
                    timeout=ctx.settings.timeouts["stop"],
                    poll=ctx.settings.poll_delay,
                )
                current = describe_instance(self.ec2, instance_id, ctx.source_region).state
            if current == "stopped":
                self.ec2.start_instances(InstanceIds=[instance_id])
            ctx.record(instance_restarted=True)
        self._watcher = threading.Thread(
            target=self._confirm_running, daemon=True, name="prism-start"
        )
        self._watcher.start()

    def _confirm_running(self) -> None:
        ctx, instance_id = self.ctx, self.ctx.request.instance_id

        def running() -> bool | None:
            now = describe_instance(self.ec2, instance_id, ctx.source_region).state
            if now == "running":
                return True
            if now in ("stopped", "terminated", "shutting-down"):
                raise OperationFailed(f"instance {instance_id} is {now} after the restart request")
            return None

        try:
            wait_for(
                running,
                what=f"instance {instance_id} to run",
                timeout=ctx.settings.timeouts["start"],
                poll=ctx.settings.critical_poll_delay,
            )
        except Exception as exc:
            self.start_error = error_message(exc)
            return
        ctx.record(downtime_ended=time.time())
        ctx.progress.line("ok", "Instance restarted successfully", since="start")

    def join(self) -> None:
        """Wait for the running confirmation; a failure to start is reported."""
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        if self.start_error:
            self.ctx.record_failure(
                f"instance {self.ctx.request.instance_id} did not come back: {self.start_error}; "
                "start it from the console or with `aws ec2 start-instances`"
            )
            self.start_error = None

    def restart_after_failure(self) -> None:
        """On any failure: let requested snapshots be listed (bounded), then restart."""
        ctx = self.ctx
        if not ctx.state.stopped_by_prism or ctx.state.instance_restarted:
            return
        with sigint_shield(ctx.progress):
            image = ctx.source_image()
            if image is not None and image.image_id and not image.snapshot_ids:
                image_id = image.image_id

                def listed() -> bool | None:
                    data = describe_image(self.ec2, image_id)
                    if data is None:
                        return None
                    return (
                        True if data.get("State") == "failed" or image_snapshot_ids(data) else None
                    )

                try:
                    ctx.progress.line(
                        "wait", f"Letting EC2 list the snapshots of {image_id} first..."
                    )
                    wait_for(
                        listed,
                        what=f"the snapshots of {image_id}",
                        timeout=ctx.settings.timeouts["snapshots"],
                        poll=ctx.settings.poll_delay,
                    )
                except Exception as exc:
                    ctx.progress.line("warn", f"Restarting anyway: {error_message(exc)}")
            try:
                self.restart()
            except Exception as exc:
                ctx.record_failure(
                    f"could not restart instance {ctx.request.instance_id}: {error_message(exc)}; "
                    "run `prism save --resume` or start it from the console"
                )
                ctx.progress.line("fail", f"Could not restart the instance: {error_message(exc)}")
                return
        self.join()
