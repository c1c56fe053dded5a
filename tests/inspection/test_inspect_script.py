"""The inspection program against fixture trees: every secret kind, no false positives,
hostile trees within the bounds, and every inventory source parsed."""

from __future__ import annotations

import importlib.util
import os
import time

import pytest
from inspect_fixtures import (
    DPKG_STATUS,
    PRIVATE_KEY,
    PROGRAM,
    PUBLIC_KEY,
    conda_meta,
    dist_info,
    paths,
    report,
    run_commands,
    run_json,
    write,
)

from prism_core.inspection import script
from prism_core.inspection.findings import Report


def load_program():
    spec = importlib.util.spec_from_file_location("inspect_instance_under_test", PROGRAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def secrets_tree(root):
    """One file of every secret kind, in two users' homes and /root."""
    write(
        root,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n"
        "ubuntu:x:1000:1000::/home/ubuntu:/bin/bash\n"
        "svc:x:998:998::/srv/svc:/bin/sh\n"
        "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n",
    )
    h = "/home/ubuntu"
    write(root, f"{h}/.ssh/id_ed25519", PRIVATE_KEY)
    write(
        root,
        f"{h}/.aws/credentials",
        "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = abc\n",
    )
    write(root, "/root/.aws/config", "[profile x]\nregion = us-east-1\naws_secret_access_key=zz\n")
    write(root, f"{h}/.config/gcloud/application_default_credentials.json", '{"type": "x"}')
    write(root, f"{h}/.azure/msal_token_cache.json", '{"AccessToken": {}}')
    write(root, f"{h}/.netrc", "machine github.com login me password hunter2\n")
    write(root, f"{h}/.git-credentials", "https://me:tok@github.com\n")
    write(root, f"{h}/.docker/config.json", '{"auths": {"ghcr.io": {"auth": "bWU6dG9r"}}}')
    write(root, f"{h}/.cache/huggingface/token", "hf_abcdef\n")
    write(root, "/root/.huggingface/token", "hf_old\n")
    write(root, f"{h}/.kaggle/kaggle.json", '{"username": "me", "key": "abc"}')
    write(root, f"{h}/.config/gh/hosts.yml", "github.com:\n    oauth_token: gho_abc\n")
    write(root, f"{h}/project/.env", "# comment\nDEBUG=1\nOPENAI_API_KEY='sk-abc'\n")
    write(
        root,
        f"{h}/.jupyter/jupyter_server_config.py",
        "# c.ServerApp.password = 'old'\nc.ServerApp.token = 'abc123'\n",
    )
    write(
        root,
        f"{h}/.jupyter/jupyter_notebook_config.json",
        '{"NotebookApp": {"password": "argon2:$abc"}}',
    )
    write(root, f"{h}/.bash_history", "aws s3 ls\n")
    write(root, f"{h}/.python_history", "import os\n")
    write(root, f"{h}/analysis/.Rhistory", "library(x)\n")
    write(root, f"{h}/keys/deploy.pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n")
    write(root, "/srv/svc/.ssh/id_rsa", PRIVATE_KEY)
    write(root, "/etc/ssh/ssh_host_ed25519_key", PRIVATE_KEY)
    write(root, "/etc/ssh/ssh_host_ed25519_key.pub", PUBLIC_KEY)
    write(root, "/var/lib/cloud/instances/i-0abc/user-data.txt", "#!/bin/sh\necho secret\n")


def test_every_secret_kind_is_found_with_its_path(tmp_path):
    secrets_tree(tmp_path)
    rep = report(tmp_path)
    h = "/home/ubuntu"
    assert paths(rep, "private-key") == {
        f"{h}/.ssh/id_ed25519",
        f"{h}/keys/deploy.pem",
        "/srv/svc/.ssh/id_rsa",
    }
    assert paths(rep, "cloud-credentials") == {
        f"{h}/.aws/credentials",
        "/root/.aws/config",
        f"{h}/.config/gcloud/application_default_credentials.json",
        f"{h}/.azure/msal_token_cache.json",
    }
    assert paths(rep, "token") == {
        f"{h}/.netrc",
        f"{h}/.git-credentials",
        f"{h}/.docker/config.json",
        f"{h}/.cache/huggingface/token",
        "/root/.huggingface/token",
        f"{h}/.kaggle/kaggle.json",
        f"{h}/.config/gh/hosts.yml",
        f"{h}/project/.env",
        f"{h}/.jupyter/jupyter_server_config.py",
        f"{h}/.jupyter/jupyter_notebook_config.json",
    }
    assert paths(rep, "history") == {
        f"{h}/.bash_history",
        f"{h}/.python_history",
        f"{h}/analysis/.Rhistory",
    }
    assert paths(rep, "host-key") == {"/etc/ssh/ssh_host_ed25519_key"}
    assert paths(rep, "cloud-init") == {"/var/lib/cloud/instances/i-0abc"}
    env = next(f for f in rep.findings if f.path.endswith(".env"))
    assert "OPENAI_API_KEY" in env.what and "DEBUG" not in env.what


def test_contents_are_never_printed(tmp_path):
    secrets_tree(tmp_path)
    out = str(run_json(tmp_path))
    for secret in (
        "hunter2",
        "AKIAEXAMPLE",
        "hf_abcdef",
        "sk-abc",
        "abc123",
        "b3BlbnNzaC1r",
        "gho_abc",
        "echo secret",
    ):
        assert secret not in out


def test_no_false_positives(tmp_path):
    h = "/home/ubuntu"
    write(tmp_path, f"{h}/.ssh/id_ed25519.pub", PUBLIC_KEY)
    write(tmp_path, f"{h}/.ssh/known_hosts", "github.com ssh-ed25519 AAAA\n")
    write(tmp_path, f"{h}/.ssh/authorized_keys", PUBLIC_KEY)
    write(tmp_path, f"{h}/.ssh/id_rsa", "")  # empty
    write(tmp_path, f"{h}/.ssh/config", "Host x\n  IdentityFile ~/.ssh/id_rsa\n")
    write(tmp_path, f"{h}/.bash_history", "")
    write(
        tmp_path, f"{h}/.aws/config", "[default]\nregion = us-east-1\n# aws_secret_access_key=x\n"
    )
    write(tmp_path, f"{h}/.aws/credentials", "# nothing here\n")
    write(tmp_path, f"{h}/.cache/huggingface/token", "\n")
    write(tmp_path, f"{h}/.netrc", "machine example.com login me\n")
    write(tmp_path, f"{h}/.docker/config.json", '{"auths": {}, "credsStore": "pass"}')
    write(
        tmp_path,
        f"{h}/project/.env",
        "# SECRET_KEY=abc\n#API_TOKEN=x\nDEBUG=true\nTOKEN=\nPASSWORD=${FROM_VAULT}\n",
    )
    write(tmp_path, f"{h}/project/.env.example", "API_KEY=changeme\n")
    write(
        tmp_path,
        f"{h}/.jupyter/jupyter_server_config.py",
        "# c.ServerApp.token = 'x'\nc.ServerApp.token = ''\n",
    )
    write(tmp_path, f"{h}/notes.txt", "how to make a PRIVATE KEY: ssh-keygen\n")
    write(tmp_path, f"{h}/cert.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n")
    # packaged test keys inside a virtualenv and a conda tree are not the user's secrets
    write(tmp_path, f"{h}/venv/pyvenv.cfg", "home = /usr/bin\n")
    write(
        tmp_path,
        f"{h}/venv/lib/python3.11/site-packages/tornado/test/test.key",
        "-----BEGIN PRIVATE KEY-----\n",
    )
    write(tmp_path, f"{h}/miniconda3/conda-meta/history", "")
    write(tmp_path, f"{h}/miniconda3/pkgs/x/test.key", "-----BEGIN PRIVATE KEY-----\n")
    write(tmp_path, "/etc/ssh/ssh_host_rsa_key.pub", PUBLIC_KEY)
    rep = report(tmp_path)
    assert rep.findings == [], rep.findings


def test_symlinks_are_never_followed_and_loops_end(tmp_path):
    h = tmp_path / "home" / "ubuntu"
    write(tmp_path, "/outside/creds", "[default]\naws_secret_access_key = x\n")
    write(tmp_path, "/home/ubuntu/data/readme", "x")
    (h / "loop").symlink_to(h)
    (h / "data" / "up").symlink_to("../..")
    (h / ".aws").mkdir()
    (h / ".aws" / "credentials").symlink_to(tmp_path / "outside" / "creds")
    (h / "escape").symlink_to("/etc")
    rep = report(tmp_path)
    assert rep.findings == []
    assert rep.complete


def test_unreadable_directories_are_counted_and_skipped(tmp_path, monkeypatch):
    write(tmp_path, "/home/a/private/.bash_history", "x")
    write(tmp_path, "/home/b/.bash_history", "x")
    program = load_program()
    real = os.scandir

    def scandir(path="."):
        if str(path).endswith("/home/a/private"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(program.os, "scandir", scandir)
    document = program.inspect(str(tmp_path))
    assert [f["path"] for f in document["findings"]] == ["/home/b/.bash_history"]
    assert document["stats"]["unreadable"] == 1


def test_a_huge_home_stops_at_the_file_bound(tmp_path):
    """200,000 files in one home: the walk stops at its bound; the known locations of every
    home are still checked (they are looked up first, by name)."""
    big = tmp_path / "home" / "aaa-big" / "data"
    big.mkdir(parents=True)
    for d in range(200):
        sub = big / f"d{d:03}"
        sub.mkdir()
        for i in range(1000):
            os.close(os.open(sub / f"f{i}", os.O_CREAT | os.O_WRONLY, 0o644))
    write(tmp_path, "/home/zzz/.ssh/id_rsa", PRIVATE_KEY)
    started = time.monotonic()
    rep = report(tmp_path, PRISM_INSPECT_MAX_FILES=20000)
    assert time.monotonic() - started < 30
    assert paths(rep) == {"/home/zzz/.ssh/id_rsa"}
    assert not rep.complete
    assert any("20000 files" in t for t in rep.truncated)
    assert rep.stats["files"] == 20000


def test_the_time_bound_ends_the_walk(tmp_path):
    for i in range(300):
        write(tmp_path, f"/home/u/d{i}/f", "x")
    rep = report(tmp_path, PRISM_INSPECT_SECONDS=0.000001)
    assert not rep.complete and any(t.startswith("time") for t in rep.truncated)


def test_huge_and_binary_files_are_not_read(tmp_path):
    huge = write(tmp_path, "/home/u/huge.bin", b"")
    with open(huge, "r+b") as fh:
        fh.truncate(8 * 1024**3)  # sparse: 8 GiB
    write(tmp_path, "/home/u/blob", os.urandom(50000))
    write(tmp_path, "/home/u/big-key", b"-----BEGIN RSA PRIVATE KEY-----\n" + b"A" * 200000)
    started = time.monotonic()
    rep = report(tmp_path)
    assert time.monotonic() - started < 10
    assert rep.findings == []


def test_odd_names_are_reported_printably(tmp_path):
    write(tmp_path, "/home/u/my keys/id with space", PRIVATE_KEY)
    write(tmp_path, "/home/u/new\nline/.env", "API_TOKEN=abc\n")
    bad = os.fsencode(str(tmp_path / "home" / "u")) + b"/caf\xe9.key"
    with open(bad, "wb") as fh:
        fh.write(PRIVATE_KEY.encode())
    rep = report(tmp_path)
    assert paths(rep) == {
        "/home/u/my keys/id with space",
        "/home/u/new\nline/.env",
        "/home/u/caf\\xe9.key",
    }
    lines = "\n".join(rep.plan_lines())
    assert "/home/u/new\\nline/.env" in lines


def test_dpkg_pip_conda_and_r_inventory(tmp_path):
    write(
        tmp_path, "/etc/os-release", 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04"\n'
    )
    write(tmp_path, "/var/lib/dpkg/status", DPKG_STATUS)
    dist_info(tmp_path, "/usr/lib/python3/dist-packages", "requests", "2.25.1")
    dist_info(tmp_path, "/usr/local/lib/python3.10/dist-packages", "numpy", "1.26.4")
    conda_meta(tmp_path, "/opt/conda", "python", "3.11.5", "h955ad1f_0")
    conda_meta(tmp_path, "/opt/conda/envs/bio", "samtools", "1.19", "h50ea8bc_0")
    conda_meta(tmp_path, "/opt/conda/envs/bio", "r-base", "4.3.2", "hb8ee39d_2")
    dist_info(tmp_path, "/opt/conda/envs/bio/lib/python3.11/site-packages", "pysam", "0.22.0")
    write(
        tmp_path,
        "/opt/conda/envs/bio/lib/R/library/ggplot2/DESCRIPTION",
        "Package: ggplot2\nVersion: 3.4.4\nTitle: x\n",
    )
    write(tmp_path, "/home/u/project/.venv/pyvenv.cfg", "home = /usr/bin\n")
    dist_info(tmp_path, "/home/u/project/.venv/lib/python3.11/site-packages", "torch", "2.1.0")
    write(
        tmp_path,
        "/home/u/project/.venv/lib/python3.11/site-packages/old.egg-info",
        "Metadata-Version: 1.0\nName: old-thing\nVersion: 0.1\n",
    )
    dist_info(tmp_path, "/home/u/.local/lib/python3.10/site-packages", "black", "24.1.0")
    write(
        tmp_path,
        "/usr/lib/R/site-library/data.table/DESCRIPTION",
        "Package: data.table\nVersion: 1.14.10\n",
    )
    write(
        tmp_path,
        "/home/u/R/x86_64-pc-linux-gnu-library/4.3/Seurat/DESCRIPTION",
        "Package: Seurat\nVersion: 5.0.1\n",
    )
    rep = report(tmp_path)
    got = {(p.kind, p.environment, p.name, p.version) for p in rep.packages}
    assert got == {
        ("deb", "system", "bash", "5.1-6ubuntu1"),
        ("deb", "system", "libc6:i386", "2.35-0ubuntu3"),
        ("pip", "system", "requests", "2.25.1"),
        ("pip", "/usr/local/lib/python3.10/dist-packages", "numpy", "1.26.4"),
        ("conda", "/opt/conda", "python", "3.11.5"),
        ("conda", "/opt/conda/envs/bio", "samtools", "1.19"),
        ("conda", "/opt/conda/envs/bio", "r-base", "4.3.2"),
        ("pip", "/opt/conda/envs/bio", "pysam", "0.22.0"),
        ("r", "/opt/conda/envs/bio/lib/R/library", "ggplot2", "3.4.4"),
        ("pip", "/home/u/project/.venv", "torch", "2.1.0"),
        ("pip", "/home/u/project/.venv", "old-thing", "0.1"),
        ("pip", "/home/u/.local", "black", "24.1.0"),
        ("r", "/usr/lib/R/site-library", "data.table", "1.14.10"),
        ("r", "/home/u/R/x86_64-pc-linux-gnu-library/4.3", "Seurat", "5.0.1"),
    }
    assert rep.os["id"] == "ubuntu" and rep.os["version"] == "22.04"
    assert rep.package_counts() == {"deb": 2, "pip": 6, "conda": 3, "r": 3}


def test_rpm_output_is_parsed(tmp_path, monkeypatch):
    (tmp_path / "var" / "lib" / "rpm").mkdir(parents=True)
    fake = tmp_path / "bin" / "rpm"
    write(
        tmp_path,
        "/bin/rpm",
        "#!/bin/sh\n"
        f'[ "$1 $2" = "--root {tmp_path}" ] || exit 3\n'
        "printf 'bash\\t0:5.2.15-1.amzn2023\\nkernel\\t1:6.1.0-1\\ngpg-pubkey\\t0:x-y\\n'\n",
        mode=0o755,
    )
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    rep = report(tmp_path)
    assert {(p.kind, p.name, p.version) for p in rep.packages} == {
        ("rpm", "bash", "5.2.15-1.amzn2023"),
        ("rpm", "kernel", "1:6.1.0-1"),
    }


def test_parsers_directly():
    program = load_program()
    assert program.parse_dpkg_status(DPKG_STATUS) == [
        ("bash", "5.1-6ubuntu1", "amd64"),
        ("libc6", "2.35-0ubuntu3", "i386"),
    ]
    assert program.parse_conda_meta_name("ca-certificates-2024.2.2-h06a4308_0.json") == (
        "ca-certificates",
        "2024.2.2",
    )
    assert program.parse_metadata("Name: a\nVersion: 1\n\nName: b\n") == ("a", "1")
    assert program.env_secrets(b"export AWS_SECRET_ACCESS_KEY=abc\n# TOKEN=x\n") == [
        "AWS_SECRET_ACCESS_KEY"
    ]


def test_the_shell_commands_run_it_and_parts_join(tmp_path):
    """Through the real sh wrapper; an inventory too big for one Run Command output is cut
    in parts that prism joins and checks."""
    secrets_tree(tmp_path)
    for i in range(4000):
        conda_meta(tmp_path, "/opt/conda", f"pkg-{i:05d}-{os.urandom(6).hex()}", f"1.{i}")
    first = run_commands(tmp_path)
    assert len(first) <= script.OUTPUT_LIMIT
    parts = script.Parts()
    total = parts.add(first)
    assert total > 1
    for n in parts.missing():
        out = run_commands(tmp_path, part=n)
        assert len(out) <= script.OUTPUT_LIMIT
        parts.add(out)
    rep = Report.from_document(parts.document())
    assert rep.package_counts() == {"conda": 4000}
    assert "/home/ubuntu/.ssh/id_ed25519" in paths(rep)


def test_damaged_or_foreign_output_is_refused():
    parts = script.Parts()
    with pytest.raises(Exception, match="cannot read"):
        parts.add("hello")
    with pytest.raises(Exception, match="no-python3"):
        parts.add("PRISM-INSPECT-ERROR no-python3")
    parts.add("PRISM-INSPECT 1 1/1 " + "0" * 64 + "\nAAAA")
    with pytest.raises(Exception, match="damaged"):
        parts.document()
