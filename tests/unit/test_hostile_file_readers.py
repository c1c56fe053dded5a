"""Unit layer: hostile file contents (alias bombs, deep nesting, non-UTF-8, oversized,
Python tags, malformed YAML, impossible dates, huge integers) through each reader prism
uses -- the template listing, the config reader (user and system files), the batch
reader -- each a one-line error naming the file, or for the listing a problem while the
good template is still listed.

Special files (FIFOs, /dev/zero, directories, symlink loops, dangling links), which
could hang or exhaust a process, and every kind through ``templates validate`` stay end
to end in ``tests/test_hostile_files.py``: there each prism run is a child process under
a memory limit. The contents here are ones the bounded loader refuses by reading
(``tests/unit/test_safe_yaml_limits.py`` builds an alias bomb in-process too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_hostile_files import GOOD, HOSTILE

from prism_core.exceptions import InputError
from prism_core.save import batch
from prism_core.settings import read_config_file
from prism_core.templates.store import Listing, local_templates

SPECIAL = {"dev-zero", "fifo", "directory", "symlink-loop", "dangling-symlink"}
CONTENTS = [c for c in HOSTILE if c[0] not in SPECIAL]
IDS = [c[0] for c in CONTENTS]
#: Contents the batch reader refuses as the others do (the rest parse as YAML data and
#: are refused as a batch that is not a list of saves)
BATCH = [c for c in CONTENTS if c[0] not in ("huge-integer", "impossible-date", "malformed")]


def _one_line(message: str, *expected: str) -> None:
    assert "\n" not in message, message
    for text in expected:
        assert text in message, message


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CONTENTS], ids=IDS)
def test_a_bad_template_file_is_a_problem_and_the_rest_listed(
    tmp_path: Path, make, expected: str
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "good-env.yaml").write_text(GOOD)
    make(templates / "evil.yaml")
    listing = Listing()
    local_templates(templates, listing)
    assert [t.name for t in listing.templates] == ["good-env"]
    (problem,) = listing.problems
    _one_line(problem, "evil.yaml", expected)


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CONTENTS], ids=IDS)
@pytest.mark.parametrize("name", ["config.yml", "prism.yml"])
def test_a_bad_config_file_is_refused_naming_it(
    tmp_path: Path, make, expected: str, name: str
) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError) as refused:
        read_config_file(path)
    _one_line(str(refused.value), str(path), expected)


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in BATCH], ids=[c[0] for c in BATCH])
def test_a_bad_batch_file_is_refused_naming_it(tmp_path: Path, make, expected: str) -> None:
    path = tmp_path / "batch.yaml"
    make(path)
    with pytest.raises(InputError) as refused:
        batch.load(path)
    _one_line(str(refused.value), "batch.yaml", expected)
