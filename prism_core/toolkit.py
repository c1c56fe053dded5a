"""The provisional toolkit: the helpers prism's own plugins use to implement the save
phases on EC2, SSM and YAML, for a third-party plugin that replaces one of them.

**Provisional**: unlike :mod:`prism_core.plugin_api` (the stable API), these names may
change or go in any release, with a note in the changelog. They are here, not private,
so that a plugin can implement a phase the way the built-in one does (``prism_plugins``
imports only the API and this module) and read templates as prism does.

Importing this module loads prism's engine (the EC2, template, registry and inspection
modules: tens of milliseconds). Import it where it is used, inside a hook or a command
handler, not at the top of a plugin module: plugin modules are imported by every
``prism`` command, ``prism --help`` included (``tests/test_startup.py`` checks that it
does not import this module). The names are listed with what they do in docs/plugins.md
("The provisional toolkit"); the docstrings of their modules have the details. Names
defined under another name in their module (``load_file``) are imported here under the
name plugins know (``load_template_file``), the name they had in the API before.
"""

from __future__ import annotations

from prism_core.aws.ec2 import (
    describe_image,
    find_image_by_name,
    find_saved_image,
    image_snapshot_ids,
    settled_image,
    state_reason,
)
from prism_core.aws.estimate import completion_estimate
from prism_core.aws.snapshot_progress import progress_finished, progress_report
from prism_core.aws.tags import LOCK_TAG, PROJECT_TAG, SAVE_ID_TAG, TEMPLATE_TAG
from prism_core.inspection.findings import INSPECTION_CHECKLIST, InspectionReport
from prism_core.inspection.runner import inspect_instance
from prism_core.inspection.sbom import from_cyclonedx, to_cyclonedx
from prism_core.inspection.store import InventoryStore
from prism_core.save.account_copies import check_account_copies, copy_to_accounts
from prism_core.save.images import (
    deprecate_in_region,
    discard_own_image,
    encrypted_sharing_notes,
    image_tags,
    require_imds_v2,
    share_in_region,
)
from prism_core.save.restart import image_named
from prism_core.save.state import AVAILABLE, FAILED, PENDING, REQUESTED
from prism_core.save.template_doc import build_document as build_template_document
from prism_core.templates.document import (
    MAX_TEMPLATE_BYTES,
    parse_document,
    template_path,
    validate_document,
)
from prism_core.templates.document import archive_current as archive_template
from prism_core.templates.document import dump as dump_template
from prism_core.templates.document import load_file as load_template_file
from prism_core.templates.document import write as write_template
from prism_core.templates.image_parameters import sync as sync_image_parameters
from prism_core.templates.launch import boot_check
from prism_core.templates.provenance import check as check_owners
from prism_core.templates.provenance import describe_owners, trusted_owners
from prism_core.templates.registry import current_parameter as registry_current_parameter
from prism_core.templates.registry import encode as registry_value
from prism_core.templates.registry import publish as registry_publish
from prism_core.templates.store import builtin as builtin_template
from prism_core.templates.store import find as find_template
from prism_core.validation import MAX_TAGS, PRISM_TAG_COUNT, project_id, region_name, template_name

__all__ = [
    # tags and validation
    "TEMPLATE_TAG",
    "PROJECT_TAG",
    "LOCK_TAG",
    "SAVE_ID_TAG",
    "template_name",
    "region_name",
    "project_id",
    "MAX_TAGS",
    "PRISM_TAG_COUNT",
    # template documents
    "validate_document",
    "parse_document",
    "load_template_file",
    "dump_template",
    "template_path",
    "write_template",
    "archive_template",
    "find_template",
    "builtin_template",
    "MAX_TEMPLATE_BYTES",
    # image provenance
    "trusted_owners",
    "describe_owners",
    "check_owners",
    # inspection of the instance before its image leaves the account
    "inspect_instance",
    "InspectionReport",
    "INSPECTION_CHECKLIST",
    "InventoryStore",
    "to_cyclonedx",
    "from_cyclonedx",
    # the values of RegionImage.state
    "REQUESTED",
    "PENDING",
    "AVAILABLE",
    "FAILED",
    # implementing a save phase on EC2
    "describe_image",
    "settled_image",
    "find_image_by_name",
    "find_saved_image",
    "image_named",
    "image_snapshot_ids",
    "state_reason",
    "image_tags",
    "share_in_region",
    "encrypted_sharing_notes",
    "copy_to_accounts",
    "check_account_copies",
    "deprecate_in_region",
    "require_imds_v2",
    "discard_own_image",
    "completion_estimate",
    "progress_report",
    "progress_finished",
    "boot_check",
    "build_template_document",
    "registry_publish",
    "registry_value",
    "registry_current_parameter",
    "sync_image_parameters",
]
