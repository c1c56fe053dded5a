"""Unit layer: prism's own config section is checked by the schema mechanism plugin
sections use (prism_core.config_schema.validate_section), with the same one-line errors."""

from __future__ import annotations

import math

import pytest

from prism_core import config_schema
from prism_core.exceptions import InputError
from prism_core.settings import PRISM_KEYS, Settings


def _refusal(section: dict, schema=config_schema.PRISM_SCHEMA, plugin=None) -> InputError:
    with pytest.raises(InputError) as caught:
        config_schema.validate_section("prism", section, schema, plugin)
    return caught.value


@pytest.mark.parametrize(
    ("section", "message", "hint"),
    [
        ({"copy_concurency": 5}, "unknown key 'copy_concurency' in config prism",
         "did you mean copy_concurrency?"),
        ({"timeouts": {"imgae": 5}}, "unknown key 'imgae' in config prism.timeouts",
         "did you mean image?"),
        ({"timeouts": [1, 2]}, "config prism.timeouts must be a mapping, not [1, 2]", "timeouts:"),
        ({"max_attempts": 0}, "config prism.max_attempts must be from 1 to 20, not 0",
         "attempts per AWS call"),
        ({"max_attempts": math.nan}, "config prism.max_attempts must be a whole number", ""),
        ({"batch_concurrency": True}, "must be a whole number, not True", ""),
        ({"copy_concurrency": 2.5}, "config prism.copy_concurrency cannot be 2.5",
         "or unlimited"),
        ({"image_mode": "\x1b[2Jhalt"}, "config prism.image_mode is '\\x1b[2Jhalt'",
         "use one of reboot, stop, no-reboot"),
        ({"kms_keys": {"us-east-2": ["alias/x"]}}, "config prism.kms_keys.us-east-2 must be text",
         ""),
        ({"imds_v1": "yes"}, "config prism.imds_v1 must be true or false, not 'yes'", ""),
    ],
)
def test_a_bad_prism_section_is_one_line_naming_the_key(section, message, hint):
    refusal = _refusal(section)
    assert message in str(refusal) and hint in (refusal.hint or "")
    assert "\n" not in str(refusal)


def test_every_documented_key_passes_and_the_schema_lists_exactly_them():
    assert set(PRISM_KEYS) == set(config_schema.PRISM_SCHEMA["properties"])
    good = {
        "poll_delay_seconds": 2,
        "timeouts": {"image": 600, "copy": 1200.5},
        "registry_prefix": "/lab/prism/",
        "copy_concurrency": "unlimited",
        "max_attempts": 5,
        "kms_keys": {"eu-west-1": "alias/images"},
        "default_copy_regions": ["eu-west-1"],
        "checkip_url": "https://checkip.example.org",
        "image_mode": "stop",
        "trusted_image_owners": ["111122223333"],
        "deprecate_after_days": 30,
        "batch_concurrency": 4,
        "account_role": "Admin",
        "account_kms_keys": {"111122223333": {"eu-west-1": "alias/images"}},
        "instance_profiles": ["/research/"],
        "imds_v1": False,
    }
    config_schema.validate_section("prism", good, config_schema.PRISM_SCHEMA)
    settings = Settings.load(good)
    assert settings.image_mode == "stop" and settings.timeouts["copy"] == 1200.5


def test_settings_load_goes_through_the_schema(monkeypatch):
    seen = []
    real = config_schema.validate_section

    def spy(section, values, schema, plugin=None):  # type: ignore[no-untyped-def]
        seen.append((section, dict(values), schema is config_schema.PRISM_SCHEMA, plugin))
        return real(section, values, schema, plugin)

    monkeypatch.setattr(config_schema, "validate_section", spy)
    with pytest.raises(InputError, match="unknown key 'Poll_Delay'".lower()):
        Settings.load({"Poll_Delay": 5})  # keys compared in lower case, as stored
    assert seen == [("prism", {"poll_delay": 5}, True, None)]
    seen.clear()
    Settings.load({})  # nothing to check: jsonschema is not even imported
    assert seen == []


def test_a_plugin_section_gets_the_same_errors_and_names_its_plugin():
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"bucket": {"type": "string", "description": "an S3 bucket name"},
                       "mode": {"enum": ["a", "b"]}},
    }
    with pytest.raises(InputError) as caught:
        config_schema.validate_section("market", {"bucket": 5}, schema, "marketplace")
    assert str(caught.value).startswith("config market.bucket must be text, not 5")
    assert "settings of plugin marketplace" in caught.value.hint
    assert "an S3 bucket name" in caught.value.hint
    with pytest.raises(InputError) as caught:
        config_schema.validate_section("market", {"buket": "x"}, schema, "marketplace")
    assert "unknown key 'buket' in config market" in str(caught.value)
    assert caught.value.hint == "did you mean bucket? (settings of plugin marketplace)"
    with pytest.raises(InputError, match="use one of a, b"):
        config_schema.validate_section("market", {"mode": "c"}, schema, "marketplace")
