"""The decisions of ``templates delete`` and ``templates prune``, without a cloud.

An :class:`Inventory` is built as plain data; the cloud's answers (which instances use
which images, which images are provably ours) are functions that record their calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prism_core.aws.tags import SAVE_ID_TAG, TEMPLATE_TAG, VERSION_TAG
from prism_core.exceptions import InputError
from prism_core.templates.cleanup import Inventory
from prism_core.templates.delete_plan import kept_for_life, plan_delete
from prism_core.templates.prune_plan import plan_prune, result_document

REGION = "us-east-1"


def ami(version: int) -> str:
    return f"ami-{version:08x}"


def inventory(*versions: int, name: str = "lab") -> Inventory:
    """Versions saved by prism: a file, a registry entry and a proven image each."""
    found = Inventory(name, regions=[REGION])
    for version in versions:
        parts = found.version(version)
        save_id = f"save-{version}"
        parts.files.append(Path(f"/home/archive/{name}/v{version}.yaml"))
        parts.registry[REGION] = [f"/prism/templates/{name}/versions/{version}"]
        parts.images[REGION] = {ami(version)}
        parts.save_ids.add(save_id)
        parts.document = {"name": name, "version": str(version), "save_id": save_id}
        parts.image_records[ami(version)] = {
            "ImageId": ami(version),
            "State": "available",
            "Tags": [
                {"Key": TEMPLATE_TAG, "Value": name},
                {"Key": VERSION_TAG, "Value": str(version)},
                {"Key": SAVE_ID_TAG, "Value": save_id},
            ],
        }
    return found


class Cloud:
    """Canned answers of the cloud, and the questions asked."""

    def __init__(
        self, users: dict[int, str] | None = None, strangers: frozenset[str] = frozenset()
    ) -> None:
        self.users = users or {}
        self.strangers = strangers
        self.asked_users: list[list[int]] = []
        self.asked_owned: list[tuple[list[int], frozenset[str]]] = []

    def using(self, found: Inventory, versions: list[int]) -> dict[int, str]:
        self.asked_users.append(list(versions))
        return {v: why for v, why in self.users.items() if v in versions}

    def owned(
        self, found: Inventory, versions: list[int], protected: frozenset[str]
    ) -> tuple[dict[str, set[str]], list[str]]:
        self.asked_owned.append((list(versions), protected))
        owned: dict[str, set[str]] = {}
        kept: list[str] = []
        for version in versions:
            for region, ids in found.versions[version].images.items():
                for image_id in sorted(ids - protected):
                    if image_id in self.strangers:
                        kept.append(f"{region}:{image_id} (not ours, kept: stranger)")
                    else:
                        owned.setdefault(region, set()).add(image_id)
        return owned, kept


def prune(found: Inventory, keep: int, cloud: Cloud, force: bool = False):
    return plan_prune(found, keep=keep, force=force, users=cloud.using, owned=cloud.owned)


# -- prune --------------------------------------------------------------------------------
def test_prune_keeps_the_newest_and_removes_the_rest_with_their_images() -> None:
    cloud = Cloud()
    plan = prune(inventory(1, 2, 3, 4), 2, cloud)
    assert plan.kept == (4, 3)
    assert plan.removed == (2, 1)
    assert plan.images == {REGION: frozenset({ami(1), ami(2)})}
    assert [p.name for p in plan.files] == ["v2.yaml", "v1.yaml"]
    assert plan.registry_entries[REGION] == (
        "/prism/templates/lab/versions/2",
        "/prism/templates/lab/versions/1",
    )
    # the kept versions' images are never candidates for removal
    assert cloud.asked_owned == [([2, 1], frozenset({ami(3), ami(4)}))]
    assert plan.headline == "Prune lab: keep version(s) 4, 3; remove 2, 1 with 2 AMI(s)"
    assert plan.question == "Remove 2 old version(s) of lab and their AMIs?"
    assert plan.done_headline == "Pruned lab: kept 4, 3, removed 2, 1"


def test_channel_targets_and_protected_versions_are_held() -> None:
    found = inventory(1, 2, 3, 4)
    found.channels = {"stable": {REGION: 1}}
    found.versions[2].image_records[ami(2)]["DeregistrationProtection"] = "enabled"
    plan = prune(found, 1, Cloud())
    assert plan.removed == (3,)
    assert plan.kept == (4, 2, 1)
    assert plan.held == {1: "channel stable", 2: "protected (1 AMI(s))"}
    assert plan.notes == ("v1 kept: channel stable", "v2 kept: protected (1 AMI(s))")


def test_versions_instances_run_from_are_held_unless_forced() -> None:
    cloud = Cloud(users={1: "1 instance(s) run from it (i-1)"})
    plan = prune(inventory(1, 2, 3), 1, cloud)
    assert plan.removed == (2,)
    assert plan.held == {1: "1 instance(s) run from it (i-1)"}
    assert plan.notes[-1] == "pass --force to remove versions that instances run from"
    forced = prune(inventory(1, 2, 3), 1, cloud, force=True)
    assert forced.removed == (2, 1)
    assert forced.held == {}
    assert "pass --force" not in " ".join(forced.notes)


def test_instances_are_asked_about_only_versions_not_held_otherwise() -> None:
    found = inventory(1, 2, 3)
    found.channels = {"stable": {REGION: 1}}
    cloud = Cloud()
    prune(found, 1, cloud)
    assert cloud.asked_users == [[2]]


def test_a_claimed_number_is_neither_counted_nor_removed() -> None:
    found = inventory(1, 2)
    claimed = found.version(3)  # a running save holds number 3, nothing registered yet
    claimed.claims[REGION] = {"save_id": "save-9", "host": "lab-pc"}
    plan = prune(found, 1, Cloud())
    assert plan.removed == (1,)
    assert plan.kept == (3, 2)
    assert plan.held[3].startswith("claimed by save save-9 on lab-pc")


def test_an_unproven_version_is_not_counted_and_is_pruned() -> None:
    found = inventory(1, 2)
    forged = found.version(5)  # a registry entry pointing at a stranger's image
    forged.registry[REGION] = ["/prism/templates/lab/versions/5"]
    forged.images[REGION] = {"ami-0badbadbad"}
    forged.document = {"name": "lab", "version": "5"}
    cloud = Cloud(strangers=frozenset({"ami-0badbadbad"}))
    plan = prune(found, 1, cloud)
    assert plan.kept == (2,)
    assert plan.removed == (5, 1)
    assert plan.not_ours == (f"{REGION}:ami-0badbadbad (not ours, kept: stranger)",)
    assert any(n.startswith("v5 is not proven by the cloud") for n in plan.notes)
    assert plan.dry_run_lines()[-1] == plan.not_ours[0]


def sbom(version: int) -> str:
    return f"s3://prism-inventory-1-{REGION}/inventory/lab/{version}.cdx.json"


def test_the_removed_versions_sboms_go_and_one_a_kept_version_names_stays() -> None:
    found = inventory(1, 2, 3, 4)
    for version in (1, 3, 4):  # v2 was saved without an inventory
        found.versions[version].document["inventory"] = {"sbom": sbom(version)}
    forged = found.version(5)  # an unproven entry naming the kept v4's SBOM and save
    forged.registry[REGION] = ["/prism/templates/lab/versions/5"]
    forged.document = {"name": "lab", "version": "5", "save_id": "save-4",
                       "inventory": {"sbom": sbom(4)}}
    plan = prune(found, 2, Cloud())
    assert plan.removed == (5, 2, 1)
    assert plan.inventories == (({"sbom": sbom(1)}, "save-1"),)
    assert plan.headline.endswith("with 2 AMI(s) and 1 inventory SBOM(s)")
    assert f"inventory SBOM {sbom(1)} (save save-1)" in plan.dry_run_lines()
    assert plan.question == "Remove 3 old version(s) of lab and their AMIs and inventory SBOMs?"
    deleted = plan_delete(found, templates_dir=Path("/t"), purge=True, owned=Cloud().owned)
    assert [ref["sbom"] for ref, _ in deleted.inventories] == [sbom(1), sbom(3), sbom(4)]
    assert deleted.question == "Delete template lab and its AMIs and inventory SBOMs?"
    kept = plan_delete(found, templates_dir=Path("/t"), purge=False, owned=Cloud().owned)
    assert kept.inventories == ()
    assert kept.question == "Delete template lab?"


def test_nothing_to_prune_asks_no_ownership_and_says_why() -> None:
    cloud = Cloud()
    plan = prune(inventory(1, 2), 5, cloud)
    assert plan.nothing_to_do
    assert cloud.asked_owned == []
    assert plan.nothing_text == "Nothing to prune: lab has 2 version(s)."
    assert result_document(plan) == {
        "template": "lab", "kept": [2, 1], "held": {}, "removed_versions": [], "removed": {},
    }


@pytest.mark.parametrize("keep", [0, -1])
def test_keep_below_one_is_refused(keep: int) -> None:
    with pytest.raises(InputError, match="--keep must be at least 1"):
        prune(inventory(1), keep, Cloud())


def test_prune_refuses_a_missing_template_and_one_with_nothing_proven() -> None:
    with pytest.raises(InputError, match="no template 'lab'"):
        prune(Inventory("lab"), 1, Cloud())
    found = inventory(1)
    found.versions[1].save_ids = {"someone-else"}
    with pytest.raises(InputError, match="no version of lab is proven by the cloud"):
        prune(found, 1, Cloud())


# -- delete -------------------------------------------------------------------------------
def test_delete_lists_files_entries_and_with_purge_the_images(tmp_path: Path) -> None:
    found = inventory(1, 2)
    found.shared_registry[REGION] = ["/prism/templates/lab/current"]
    malformed = tmp_path / "lab.yml"
    malformed.write_text("not: [a template")
    cloud = Cloud(strangers=frozenset({ami(1)}))
    plan = plan_delete(found, templates_dir=tmp_path, purge=True, owned=cloud.owned)
    assert plan.files[-1] == malformed  # a malformed current file goes too
    assert len(plan.files) == 3
    assert plan.registry_entries[REGION][0] == "/prism/templates/lab/current"
    assert plan.images == {REGION: frozenset({ami(2)})}
    assert plan.kept == (f"{REGION}:{ami(1)} (not ours, kept: stranger)",)
    assert cloud.asked_owned == [([1, 2], frozenset())]
    assert plan.headline == (
        "Delete template lab: 3 file(s), 3 registry entries in us-east-1 and its AMI "
        "parameters, and deregister 1 AMI(s) with their snapshots"
    )
    assert plan.question == "Delete template lab and its AMIs?"


def test_delete_without_purge_asks_nothing_of_the_cloud(tmp_path: Path) -> None:
    cloud = Cloud()
    plan = plan_delete(inventory(1), templates_dir=tmp_path, purge=False, owned=cloud.owned)
    assert cloud.asked_owned == []
    assert plan.images == {}
    assert plan.question == "Delete template lab?"
    assert plan.headline.endswith("and its AMI parameters")


def test_delete_refuses_versions_that_are_never_deleted(tmp_path: Path) -> None:
    found = inventory(1, 2)
    found.channels = {"stable": {REGION: 2}}
    found.versions[1].claims[REGION] = {"save_id": "s-1", "host": "pc"}
    assert kept_for_life(found, 2) == "channel stable"
    with pytest.raises(InputError, match=r"never deleted \(v1: claimed by save s-1 on pc"):
        plan_delete(found, templates_dir=tmp_path, purge=False, owned=Cloud().owned)


def test_delete_refuses_nothing_and_built_ins(tmp_path: Path) -> None:
    empty = Inventory("python-ml", regions=[REGION, "eu-west-1"])
    with pytest.raises(InputError, match="registry of us-east-1, eu-west-1"):
        plan_delete(empty, templates_dir=tmp_path, purge=False, owned=Cloud().owned)
    with pytest.raises(InputError, match="python-ml is a built-in template"):
        plan_delete(empty, templates_dir=tmp_path, purge=False, owned=Cloud().owned,
                    builtin=True)
