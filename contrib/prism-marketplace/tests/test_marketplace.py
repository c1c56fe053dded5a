"""prism-marketplace against moto's S3 (through prism's sandbox), via the real CLI."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import yaml
from keyring.backend import KeyringBackend
from keyring.backends import fail

BUCKET = "lab-templates"  # as in conftest.py


def _saved(prism_sandbox, run_prism, *extra):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "seismic-env", "--yes", *extra)
    assert result.exit_code == 0, result.stderr
    return result


def _templates(prism_sandbox) -> Path:
    return prism_sandbox.prism_home / "templates"


def _index(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key="catalog.json")["Body"].read())


def test_publish_search_show_install(prism_sandbox, run_prism, marketplace):
    _saved(prism_sandbox, run_prism)
    local = (_templates(prism_sandbox) / "seismic-env.yaml").read_bytes()
    result = run_prism("marketplace", "publish", "seismic-env", "-o", "json")
    assert result.exit_code == 0, result.stderr
    entry = result.json()
    assert entry["sha256"] == hashlib.sha256(local).hexdigest()
    stored = marketplace.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
    assert stored == local
    assert _index(marketplace)["templates"]["seismic-env"]["regions"] == ["us-east-1"]

    found = run_prism("marketplace", "search", "SEISMIC", "-o", "json").json()["templates"]
    assert [e["name"] for e in found] == ["seismic-env"]
    assert "no template matches" in run_prism("marketplace", "search", "genomics").stdout
    shown = run_prism("marketplace", "show", "seismic-env")
    assert shown.exit_code == 0 and "sha256:" in shown.stdout

    (_templates(prism_sandbox) / "seismic-env.yaml").unlink()
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 0, result.stderr
    installed = yaml.safe_load((_templates(prism_sandbox) / "seismic-env.yaml").read_text())
    assert installed["name"] == "seismic-env"


def test_save_with_publish_publishes_the_rendered_template(prism_sandbox, run_prism, marketplace):
    result = _saved(prism_sandbox, run_prism, "--publish", "-o", "json")
    assert any("Published to marketplace" in n for n in result.json()["notes"])
    entry = _index(marketplace)["templates"]["seismic-env"]
    stored = marketplace.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
    assert stored == (_templates(prism_sandbox) / "seismic-env.yaml").read_bytes()


def test_publish_without_bucket_refuses_before_stopping(prism_sandbox, run_prism, memory_keyring):
    instance = prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "tpl", "--yes", "--publish")
    assert result.exit_code == 2
    assert "no marketplace bucket configured" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    instance_id = getattr(instance, "instance_id", instance)
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_failed_publish_keeps_the_save(prism_sandbox, run_prism, marketplace, monkeypatch):
    from prism_marketplace import catalog

    def broken(self, *a, **k):
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(catalog.Catalog, "publish", broken)
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "seismic-env", "--yes", "--publish", "-o", "json")
    assert result.exit_code == 3
    assert (_templates(prism_sandbox) / "seismic-env.yaml").exists()
    assert any("marketplace publish failed" in f for f in result.json()["failures"])


def test_install_refuses_a_tampered_file(prism_sandbox, run_prism, marketplace):
    _saved(prism_sandbox, run_prism)
    entry = run_prism("marketplace", "publish", "seismic-env", "-o", "json").json()
    marketplace.put_object(Bucket=BUCKET, Key=entry["key"], Body=b"name: evil\n")
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 2 and "sha256" in result.stderr


def test_install_refuses_amis_this_account_cannot_launch(prism_sandbox, run_prism, marketplace):
    _saved(prism_sandbox, run_prism)
    path = _templates(prism_sandbox) / "seismic-env.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["ami_config"]["amis"]["us-east-1"]["x86_64"] = "ami-0123456789abcdef0"
    doc["version"] = 7
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert run_prism("marketplace", "publish", "seismic-env").exit_code == 0
    path.unlink()
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 2
    assert "ami-0123456789abcdef0" in result.stderr and "cannot launch" in result.stderr


def test_republishing_a_version_with_other_content_is_refused(
    prism_sandbox, run_prism, marketplace
):
    _saved(prism_sandbox, run_prism)
    assert run_prism("marketplace", "publish", "seismic-env").exit_code == 0
    assert run_prism("marketplace", "publish", "seismic-env").exit_code == 0  # same bytes
    path = _templates(prism_sandbox) / "seismic-env.yaml"
    path.write_text(path.read_text().replace("description:", "description: changed", 1))
    result = run_prism("marketplace", "publish", "seismic-env")
    assert result.exit_code == 2 and "already in the marketplace" in result.stderr


def test_login_stores_credentials_in_the_keyring(
    prism_sandbox, run_prism, marketplace, memory_keyring
):
    result = run_prism(
        "marketplace", "login", "--access-key-id", "AKIDEXAMPLE", input="secret-key\n"
    )
    assert result.exit_code == 0, result.stderr
    assert "MemoryKeyring" in result.stdout  # the backend actually used is reported
    stored = json.loads(memory_keyring.secrets[("prism-marketplace", BUCKET)])
    assert stored == {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret-key"}
    home = prism_sandbox.prism_home
    assert not any("secret-key" in p.read_text() for p in home.rglob("*") if p.is_file())

    from prism_marketplace.catalog import MarketplaceConfig, s3_client

    client = s3_client(MarketplaceConfig(BUCKET))
    assert client._request_signer._credentials.access_key == "AKIDEXAMPLE"


def test_login_without_keyring_says_how_to_fix(prism_sandbox, run_prism, marketplace):
    import keyring

    keyring.set_keyring(fail.Keyring())
    result = run_prism("marketplace", "login", "--access-key-id", "AKID", input="s\n")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no secure keyring" in lines[0]
    assert "PYTHON_KEYRING_BACKEND" in lines[0]


def test_bad_marketplace_config_is_refused(prism_sandbox, run_prism, memory_keyring):
    prism_sandbox.write_config("marketplace:\n  bucket: Not_A_Bucket\n")
    result = run_prism("marketplace", "search", "x")
    assert result.exit_code == 2 and "config marketplace.bucket" in result.stderr


# -- image provenance ------------------------------------------------------------------
STRANGER = "999988887777"


def _publish_with_ami(prism_sandbox, run_prism, image_id, name="seismic-env", version=5):
    """Save, point the template at ``image_id``, publish it; the local file is removed."""
    _saved(prism_sandbox, run_prism)
    path = _templates(prism_sandbox) / "seismic-env.yaml"
    doc = yaml.safe_load(path.read_text())
    if image_id:
        doc["ami_config"]["amis"]["us-east-1"]["x86_64"] = image_id
    doc["version"], doc["name"], doc["slug"] = version, name, name
    path.unlink()
    target = _templates(prism_sandbox) / f"{name}.yaml"
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_prism("marketplace", "publish", name)
    assert result.exit_code == 0, result.stderr
    target.unlink()
    return doc


def test_install_refuses_a_public_ami_of_an_untrusted_owner(prism_sandbox, run_prism, marketplace):
    image = prism_sandbox.create_foreign_image(STRANGER)
    _publish_with_ami(prism_sandbox, run_prism, image)
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert STRANGER in line and image in line and "--trust-owner" in line
    assert not (_templates(prism_sandbox) / "seismic-env.yaml").exists()  # nothing written

    shown = run_prism("marketplace", "show", "seismic-env")
    assert shown.exit_code == 0 and STRANGER in shown.stdout and "NOT trusted" in shown.stdout

    trusted = run_prism("marketplace", "install", "seismic-env", "--trust-owner", STRANGER)
    assert trusted.exit_code == 0, trusted.stderr
    assert STRANGER in trusted.stdout and "--trust-owner" in trusted.stdout
    assert (_templates(prism_sandbox) / "seismic-env.yaml").exists()


def test_trusted_owners_from_config(prism_sandbox, run_prism, marketplace):
    image = prism_sandbox.create_foreign_image(STRANGER)
    _publish_with_ami(prism_sandbox, run_prism, image)
    config = prism_sandbox.prism_home / "config.yml"
    trusted = f"prism:\n  trusted_image_owners: ['{STRANGER}']\n"
    prism_sandbox.write_config(config.read_text() + trusted)
    result = run_prism("marketplace", "install", "seismic-env", "-o", "json")
    assert result.exit_code == 0, result.stderr
    images = result.json()["images"]
    assert images[0]["owner_id"] == STRANGER
    assert images[0]["trusted_as"] == "prism.trusted_image_owners"


def test_an_account_of_the_organization_is_trusted(prism_sandbox, run_prism, marketplace):
    org = prism_sandbox.client("organizations")
    org.create_organization(FeatureSet="ALL")
    created = org.create_account(Email="lab@example.org", AccountName="lab")
    member = created["CreateAccountStatus"]["AccountId"]
    image = prism_sandbox.create_foreign_image(member)
    _publish_with_ami(prism_sandbox, run_prism, image)
    result = run_prism("marketplace", "install", "seismic-env", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["images"][0]["trusted_as"] == "organization"


def test_launch_refuses_an_untrusted_owner_unless_trusted(prism_sandbox, run_prism, marketplace):
    image = prism_sandbox.create_foreign_image(STRANGER)
    doc = _publish_with_ami(prism_sandbox, run_prism, image)
    path = _templates(prism_sandbox) / "seismic-env.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_prism("launch", "seismic-env", "box2", "--yes")
    assert result.exit_code == 2
    assert STRANGER in result.stderr and "--trust-owner" in result.stderr
    ec2 = prism_sandbox.ec2()
    running = [
        i
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["ImageId"] == image
    ]
    assert running == []
    ok = run_prism("launch", "seismic-env", "box2", "--yes", "--trust-owner", STRANGER)
    assert ok.exit_code == 0, ok.stderr


def test_install_never_shadows_a_builtin_or_local_template_without_replace(
    prism_sandbox, run_prism, marketplace
):
    _publish_with_ami(prism_sandbox, run_prism, None, name="python-ml", version=1)
    refused = run_prism("marketplace", "install", "python-ml")
    assert refused.exit_code == 2 and "built-in template python-ml" in refused.stderr
    assert "--replace" in refused.stderr
    assert not (_templates(prism_sandbox) / "python-ml.yaml").exists()
    done = run_prism("marketplace", "install", "python-ml", "--replace")
    assert done.exit_code == 0, done.stderr
    assert "shadows the built-in template python-ml" in done.stdout

    # a locally edited v7 is neither overwritten nor downgraded without --replace
    local = _templates(prism_sandbox) / "python-ml.yaml"
    edited = yaml.safe_load(local.read_text())
    edited["version"], edited["description"] = 7, "my own edits"
    local.write_text(yaml.safe_dump(edited, sort_keys=False))
    before = local.read_text()
    refused = run_prism("marketplace", "install", "python-ml")
    assert refused.exit_code == 2 and "v7" in refused.stderr and "downgrade" in refused.stderr
    assert local.read_text() == before
    replaced = run_prism("marketplace", "install", "python-ml", "--replace", "-o", "json")
    assert replaced.exit_code == 0, replaced.stderr
    archived = Path(replaced.json()["archived"])
    assert archived.read_text() == before
    assert yaml.safe_load(local.read_text())["version"] == 1


# -- the catalog is untrusted input -----------------------------------------------------
BOMB = """name: seismic-env
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _tamper(s3, name: str, body: bytes, **entry) -> None:
    """Put ``body`` as ``name``'s file and an index entry with its valid checksum."""
    key = f"templates/{name}/v1.yaml"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    record = {
        "name": name,
        "version": 1,
        "key": key,
        "sha256": hashlib.sha256(body).hexdigest(),
        "description": "x",
        **entry,
    }
    index = {"format": 1, "templates": {entry.get("_as", name): record}}
    record.pop("_as", None)
    s3.put_object(Bucket=BUCKET, Key="catalog.json", Body=json.dumps(index).encode())


def test_an_alias_bomb_with_a_valid_checksum_is_refused_quickly(
    prism_sandbox, run_prism, marketplace
):
    assert len(BOMB) < 600
    _tamper(marketplace, "seismic-env", BOMB.encode())
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 2
    assert "aliases" in result.stderr and len(result.stderr) < 500


def test_deeply_nested_and_non_utf8_templates_are_refused(prism_sandbox, run_prism, marketplace):
    _tamper(marketplace, "seismic-env", b"name: " + b"[" * 5000 + b"]" * 5000)
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 2 and "nested" in result.stderr
    _tamper(marketplace, "seismic-env", b"name: \xff\xfe bad")
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 2 and "UTF-8" in result.stderr


def test_an_oversized_index_is_refused(prism_sandbox, run_prism, marketplace):
    marketplace.put_object(Bucket=BUCKET, Key="catalog.json", Body=b" " * (3 * 1024 * 1024))
    result = run_prism("marketplace", "search", "x")
    assert result.exit_code == 2 and "larger than" in result.stderr


def test_an_entry_under_another_name_is_refused(prism_sandbox, run_prism, marketplace):
    _tamper(marketplace, "evil", b"name: evil\n", _as="python-ml")
    result = run_prism("marketplace", "install", "python-ml")
    assert result.exit_code == 2 and "key must be its name" in result.stderr


def test_control_characters_are_never_printed(prism_sandbox, run_prism, marketplace):
    _tamper(marketplace, "nice", b"name: nice\n", description="ok\x1b[2J\x1b]0;pwned\x07 text")
    result = run_prism("marketplace", "search", "")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "nice" in result.stdout


# -- secrets ---------------------------------------------------------------------------
class PlaintextKeyring(KeyringBackend):
    """Like keyrings.alt's PlaintextKeyring: base64 in a file (selected by the test)."""

    priority = 0.5  # type: ignore[assignment]

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.file_path = str(path or "keyring_pass.cfg")

    def get_password(self, service, username):
        return None

    def set_password(self, service, username, password):
        Path(self.file_path).write_text(base64.b64encode(password.encode()).decode())

    def delete_password(self, service, username):
        pass


def test_login_refuses_a_plaintext_backend(prism_sandbox, run_prism, marketplace, tmp_path):
    import keyring

    keyring.set_keyring(PlaintextKeyring(tmp_path / "keyring_pass.cfg"))
    result = run_prism("marketplace", "login", "--access-key-id", "AKID", input="secret\n")
    assert result.exit_code == 2
    assert "PlaintextKeyring" in result.stderr and "Secret Service" in result.stderr
    assert not (tmp_path / "keyring_pass.cfg").exists()


def test_login_picks_the_secure_member_of_a_chain(
    prism_sandbox, run_prism, marketplace, memory_keyring, tmp_path
):
    import keyring
    from keyring.backends.chainer import ChainerBackend

    class Chain(ChainerBackend):
        """keyring's chain of every installed backend, here a plaintext one and ours."""

        members: list = []

        @property
        def backends(self):
            return self.members

    Chain.members = [PlaintextKeyring(tmp_path / "keyring_pass.cfg"), memory_keyring]
    keyring.set_keyring(Chain())
    result = run_prism(
        "marketplace",
        "login",
        "--access-key-id",
        "AKID",
        "--session-token",
        "-o",
        "json",
        input="secret\ntoken\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "MemoryKeyring" in result.json()["stored_in"]
    stored = json.loads(memory_keyring.secrets[("prism-marketplace", BUCKET)])
    assert stored["aws_session_token"] == "token"
    assert not (tmp_path / "keyring_pass.cfg").exists()


def test_session_token_is_never_taken_from_the_command_line(
    prism_sandbox, run_prism, marketplace, memory_keyring
):
    result = run_prism(
        "marketplace",
        "login",
        "--access-key-id",
        "AKID",
        "--session-token",
        "TOKEN",
        input="secret\n",
    )
    assert result.exit_code == 2
    assert memory_keyring.secrets == {}


def test_publish_refuses_an_image_with_secrets(prism_sandbox, run_prism, marketplace):
    """The rule of --public: a save --publish of an instance with secrets is refused before
    anything changes; a saved template whose inspection found secrets is not published
    unless --allow-secrets."""
    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    refused = run_prism("save", "genomics-box", "gen-env", "--publish", "--yes")
    assert refused.exit_code == 2, refused.stderr
    assert "cannot be published: the inspection found 4 secret(s)" in refused.stderr
    assert prism_sandbox.own_images() == []

    saved = run_prism("save", "genomics-box", "gen-env", "--yes")
    assert saved.exit_code == 0, saved.stderr
    again = run_prism("marketplace", "publish", "gen-env")
    assert again.exit_code == 2
    assert "its inspection found 4 secret(s)" in again.stderr
    assert "templates" not in _index_or_empty(marketplace)
    allowed = run_prism("marketplace", "publish", "gen-env", "--allow-secrets")
    assert allowed.exit_code == 0, allowed.stderr
    with_flag = run_prism(
        "save", "genomics-box", "gen-env", "--publish", "--allow-secrets", "--yes"
    )
    assert with_flag.exit_code == 0, with_flag.stderr


def test_a_scrubbed_save_publishes_its_derivative(prism_sandbox, run_prism, marketplace):
    """`save --public --scrub --publish` of an instance with secrets: the published
    template names the scrubbed derivative's image, never the team's; publishing the saved
    template again needs no --allow-secrets either."""

    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    saved = run_prism(
        "save", "genomics-box", "gen-env", "--public", "--scrub", "--publish", "--yes",
        "-o", "json",
    )
    assert saved.exit_code == 0, saved.stderr
    team = saved.json()["amis"]["us-east-1"]
    derivative = saved.json()["shared_images"]["us-east-1"]["image_id"]
    assert derivative != team
    entry = _index(marketplace)["templates"]["gen-env"]
    published = yaml.safe_load(
        marketplace.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
    )
    assert list(published["ami_config"]["amis"]["us-east-1"].values()) == [derivative]
    assert "shared_image" not in published and team not in json.dumps(published)
    again = run_prism("marketplace", "publish", "gen-env", "-o", "json")
    assert again.exit_code == 0, again.stderr
    stored = marketplace.get_object(Bucket=BUCKET, Key=again.json()["key"])["Body"].read()
    assert derivative in stored.decode() and team not in stored.decode()


def _index_or_empty(s3) -> dict:
    try:
        return _index(s3)
    except s3.exceptions.NoSuchKey:
        return {}
def test_iam_policy_includes_the_marketplace_statements(prism_sandbox, run_prism, marketplace):
    """`prism iam-policy` grants S3 on the configured bucket only; `--for marketplace`
    prints the plugin command's own statements; the calls it makes are allowed (checked
    after every test of this suite, S3 included)."""
    everything = run_prism("iam-policy").json()["Statement"]
    sids = {s["Sid"] for s in everything}
    assert {"MarketplaceBucket", "MarketplacePublish", "PrismRegistry"} <= sids
    own = run_prism("iam-policy", "--for", "marketplace")
    assert own.exit_code == 0, own.stderr
    statements = own.json()["Statement"]
    assert {s["Sid"] for s in statements} == {
        "MarketplaceBucket",
        "MarketplaceCatalogRead",
        "MarketplacePublish",
        "MarketplaceImageOwners",
    }
    publish = next(s for s in statements if s["Sid"] == "MarketplacePublish")
    assert publish["Resource"] == f"arn:aws:s3:::{BUCKET}/*"
    for_save = {s["Sid"] for s in run_prism("iam-policy", "--for", "save").json()["Statement"]}
    assert "MarketplacePublish" in for_save  # prism save --publish
    _saved(prism_sandbox, run_prism)
    prism_sandbox.faults.clear_calls()
    assert run_prism("marketplace", "publish", "seismic-env").exit_code == 0
    s3 = {a.action for a in prism_sandbox.faults.authorizations() if a.action.startswith("s3:")}
    assert {"s3:PutObject", "s3:GetObject"} <= s3


def test_iam_policy_without_a_bucket_has_no_marketplace_statements(prism_sandbox, run_prism):
    result = run_prism("iam-policy", "--for", "marketplace")
    assert result.exit_code == 2 and "marketplace" in result.stderr
