"""prism's read-only look inside an instance (shipped to it through SSM Run Command).

Self-contained (Python 3.6+, standard library only). Reads the tree under
``PRISM_INSPECT_ROOT`` (default ``/``) and prints one JSON document: the secrets it
found (kind and path, never contents), a package inventory and what bounded it.

It never writes, never follows a symbolic link, reads at most a few KiB of any file
(only files of known secret locations and small files under home directories), and
stops after ``PRISM_INSPECT_MAX_FILES`` files, ``PRISM_INSPECT_SECONDS`` seconds or
``PRISM_INSPECT_MAX_PACKAGES`` packages. Output: ``PRISM_INSPECT_FORMAT=json`` prints
the document; by default it is gzipped, base64-encoded and cut in parts that fit Run
Command's 24,000-character output (``PRISM_INSPECT_PART=N`` prints part N).
"""

import base64
import gzip
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import time

VERSION = 1
ROOT = os.environ.get("PRISM_INSPECT_ROOT") or "/"
MAX_FILES = int(os.environ.get("PRISM_INSPECT_MAX_FILES") or 50000)
SECONDS = float(os.environ.get("PRISM_INSPECT_SECONDS") or 60)
MAX_PACKAGES = int(os.environ.get("PRISM_INSPECT_MAX_PACKAGES") or 50000)
MAX_FINDINGS = 1000
MAX_DEPTH = 16
SNIFF_BYTES = 4096
SNIFF_MAX_SIZE = 64 * 1024
CONFIG_MAX_BYTES = 256 * 1024
PART_CHARS = 20000
SKIP_DIRS = {"site-packages", "dist-packages", "node_modules", ".git", "__pycache__", ".hg"}
HISTORY_FILES = (
    ".bash_history",
    ".zsh_history",
    ".sh_history",
    ".ash_history",
    ".history",
    ".local/share/fish/fish_history",
    ".python_history",
    ".Rhistory",
    ".psql_history",
    ".mysql_history",
    ".sqlite_history",
    ".node_repl_history",
    ".julia/logs/repl_history.jl",
    ".ipython/profile_default/history.sqlite",
    ".local/share/jupyter/nbsignatures.db",
)
CLOUD_DIRS = {
    ".config/gcloud": (
        "credentials.db",
        "access_tokens.db",
        "application_default_credentials.json",
        "legacy_credentials",
    ),
    ".azure": (
        "accessTokens.json",
        "msal_token_cache.json",
        "msal_token_cache.bin",
        "service_principal_entries.json",
        "service_principal_entries.bin",
    ),
}
AWS_KEY = re.compile(
    rb"^\s*(aws_access_key_id|aws_secret_access_key|aws_session_token)\s*=\s*\S", re.I | re.M
)
SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSW|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH)", re.I)
ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")
JUPYTER_PY = re.compile(
    rb"^\s*c\.\w+\.(password|token|hashed_password|identity_provider_class)\s*=\s*[ur]?(['\"])(.+?)\2",
    re.M,
)
KEY_HEADER = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-")


class Scan:
    """Bounded state of one inspection."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.started = time.monotonic()
        self.files = 0
        self.dirs = 0
        self.findings = []
        self.found = set()
        self.packages = []
        self.environments = []
        self.truncated = []
        self.errors = 0
        self.venvs = []

    # paths ------------------------------------------------------------------
    def real(self, path):
        """The path on this machine of ``path`` (absolute on the instance)."""
        return os.path.join(self.root, path.lstrip("/"))

    def shown(self, real):
        """The instance path of a local path, printable whatever its bytes."""
        rel = os.path.relpath(real, self.root)
        path = "/" if rel == "." else "/" + rel
        return os.fsencode(path).decode("utf-8", "backslashreplace")[:4096]

    def out_of_time(self):
        return time.monotonic() - self.started > SECONDS

    def finding(self, kind, real, what):
        path = self.shown(real)
        if (kind, path) in self.found:
            return
        if len(self.findings) >= MAX_FINDINGS:
            self.note(f"findings: only the first {MAX_FINDINGS} are listed")
            return
        self.found.add((kind, path))
        self.findings.append({"kind": kind, "path": path, "what": what})

    def note(self, text):
        if text not in self.truncated:
            self.truncated.append(text)

    def package(self, kind, environment, name, version):
        if len(self.packages) >= MAX_PACKAGES:
            self.note(f"packages: only the first {MAX_PACKAGES} are listed")
            return
        self.packages.append(
            {
                "kind": kind,
                "environment": environment,
                "name": str(name)[:200],
                "version": str(version)[:200],
            }
        )


def lstat(path):
    try:
        return os.lstat(path)
    except OSError:
        return None


def regular(path):
    """The size of a non-empty regular file (not a link), else 0."""
    st = lstat(path)
    if st is None or not stat.S_ISREG(st.st_mode):
        return 0
    return st.st_size


def head(path, limit=SNIFF_BYTES):
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        chunks, left = [], limit
        while left > 0:
            data = os.read(fd, min(left, 65536))
            if not data:
                break
            chunks.append(data)
            left -= len(data)
        return b"".join(chunks)
    except OSError:
        return b""
    finally:
        os.close(fd)


def listdir(scan, path):
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError:
        scan.errors += 1
        return []


def meaningful_lines(data):
    return [
        line for line in data.splitlines() if line.strip() and not line.lstrip().startswith(b"#")
    ]


# --------------------------------------------------------------------------- secrets
def is_private_key(path, size):
    return 0 < size <= SNIFF_MAX_SIZE and KEY_HEADER.search(head(path)) is not None


def env_secrets(data):
    """Names of secret-looking KEY=VALUE assignments of a .env file (never values)."""
    names = []
    for raw in data.decode("utf-8", "replace").splitlines():
        if raw.lstrip().startswith("#"):
            continue
        match = ENV_LINE.match(raw)
        if not match:
            continue
        key, value = match.group(1), match.group(2).strip().strip("'\"")
        if SECRET_NAME.search(key) and value and not value.startswith("${"):
            names.append(key)
    return names


def json_has(data, keys):
    try:
        doc = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return False
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in keys and isinstance(value, str) and value.strip():
                    return True
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return False


def check_home_files(scan, home):
    """The known secret locations of one home directory (looked up by name)."""
    ssh = os.path.join(home, ".ssh")
    for entry in listdir(scan, ssh):
        size = regular(entry.path)
        if (
            not size
            or entry.name.endswith(".pub")
            or entry.name in ("known_hosts", "authorized_keys")
        ):
            continue
        if entry.name.startswith("id_") or is_private_key(entry.path, size):
            scan.finding("private-key", entry.path, "SSH private key")
    for name, what in (("credentials", "AWS credentials"), ("config", "AWS keys in config")):
        path = os.path.join(home, ".aws", name)
        if regular(path) and AWS_KEY.search(head(path, CONFIG_MAX_BYTES)):
            scan.finding("cloud-credentials", path, what)
    for sub in ("sso/cache", "cli/cache"):
        for entry in listdir(scan, os.path.join(home, ".aws", sub)):
            if regular(entry.path):
                scan.finding("cloud-credentials", entry.path, "cached AWS credentials")
    for folder, names in CLOUD_DIRS.items():
        base = os.path.join(home, folder)
        for name in names:
            path = os.path.join(base, name)
            st = lstat(path)
            if st is None:
                continue
            if stat.S_ISDIR(st.st_mode):
                if any(regular(e.path) for e in listdir(scan, path)):
                    scan.finding("cloud-credentials", path, "cloud credentials")
            elif st.st_size and stat.S_ISREG(st.st_mode):
                scan.finding("cloud-credentials", path, "cloud credentials")
    check_tokens(scan, home)
    for name in HISTORY_FILES:
        path = os.path.join(home, name)
        if regular(path):
            scan.finding("history", path, "history")


def check_tokens(scan, home):
    def at(name):
        return os.path.join(home, name)

    def text(name):
        path = at(name)
        return head(path, CONFIG_MAX_BYTES) if regular(path) else b""

    if re.search(rb"(^|\s)password\s+\S", text(".netrc")):
        scan.finding("token", at(".netrc"), ".netrc password")
    if any(b"@" in line for line in meaningful_lines(text(".git-credentials"))):
        scan.finding("token", at(".git-credentials"), "git credentials")
    if json_has(text(".docker/config.json"), {"auth", "identitytoken", "registrytoken"}):
        scan.finding("token", at(".docker/config.json"), "Docker registry auth")
    for name in (
        ".cache/huggingface/token",
        ".huggingface/token",
        ".cache/huggingface/stored_tokens",
    ):
        if text(name).strip():
            scan.finding("token", at(name), "Hugging Face token")
    if json_has(text(".kaggle/kaggle.json"), {"key"}):
        scan.finding("token", at(".kaggle/kaggle.json"), "Kaggle API key")
    if re.search(rb"^\s*oauth_token:\s*\S", text(".config/gh/hosts.yml"), re.M):
        scan.finding("token", at(".config/gh/hosts.yml"), "GitHub CLI token")
    if re.search(rb"^\s*password\s*[=:]\s*\S", text(".pypirc"), re.M):
        scan.finding("token", at(".pypirc"), "PyPI password")
    if re.search(rb"_authToken\s*=\s*\S|_auth\s*=\s*\S|_password\s*=\s*\S", text(".npmrc")):
        scan.finding("token", at(".npmrc"), "npm token")
    if meaningful_lines(text(".pgpass")):
        scan.finding("token", at(".pgpass"), "PostgreSQL passwords")
    if re.search(rb"^\s*password\s*=\s*\S", text(".my.cnf"), re.M):
        scan.finding("token", at(".my.cnf"), "MySQL password")
    for entry in listdir(scan, at(".jupyter")):
        check_jupyter(scan, entry.path, entry.name)


def check_jupyter(scan, path, name):
    if not (name.startswith("jupyter_") and regular(path)):
        return
    data = head(path, CONFIG_MAX_BYTES)
    if name.endswith(".py"):
        hit = any(
            m.group(3).strip()
            for m in JUPYTER_PY.finditer(data)
            if m.group(1) != b"identity_provider_class"
        )
    elif name.endswith(".json"):
        hit = json_has(data, {"password", "token", "hashed_password"})
    else:
        return
    if hit:
        scan.finding("token", path, "Jupyter password or token")


def check_walked_file(scan, entry, size):
    """Secrets recognised anywhere under a home directory."""
    name = entry.name
    if name == ".env" or (
        name.startswith(".env.")
        and not name.endswith((".example", ".sample", ".template", ".dist", ".defaults"))
    ):
        keys = env_secrets(head(entry.path, CONFIG_MAX_BYTES))
        if keys:
            scan.finding("token", entry.path, ".env secrets: " + ", ".join(sorted(set(keys))[:10]))
        return
    if name == ".Rhistory" or (name.startswith(".") and name.endswith("_history")):
        scan.finding("history", entry.path, "history")
        return
    if not name.endswith((".pub", ".crt", ".pem.pub")) and is_private_key(entry.path, size):
        scan.finding("private-key", entry.path, "private key")


def walk_home(scan, home):
    """Every file under ``home``, depth-first, bounded; venvs and conda trees are
    left to the inventory (their packages ship test keys)."""
    stack = [(home, 0)]
    while stack:
        path, depth = stack.pop()
        if scan.out_of_time():
            scan.note(f"time: the scan of home directories stopped after {SECONDS:g} s")
            return False
        entries = listdir(scan, path)
        scan.dirs += 1
        names = {e.name for e in entries}
        if "pyvenv.cfg" in names:
            scan.venvs.append(path)
            continue
        if "conda-meta" in names:
            scan.venvs.append(path)
            continue
        subdirs = []
        for entry in entries:
            if scan.files >= MAX_FILES:
                scan.note(f"files: the scan of home directories stopped after {MAX_FILES} files")
                return False
            scan.files += 1
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                scan.errors += 1
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.name not in SKIP_DIRS and depth < MAX_DEPTH:
                    subdirs.append((entry.path, depth + 1))
            elif stat.S_ISREG(st.st_mode) and st.st_size:
                check_walked_file(scan, entry, st.st_size)
        stack.extend(reversed(subdirs))
    return True


def homes(scan):
    """Home directories: /root, everything in /home, and /etc/passwd's login users."""
    found = [scan.real("/root")]
    found += [e.path for e in listdir(scan, scan.real("/home"))]
    for line in (
        head(scan.real("/etc/passwd"), CONFIG_MAX_BYTES).decode("utf-8", "replace").splitlines()
    ):
        fields = line.split(":")
        if len(fields) < 7 or fields[5] in ("", "/") or fields[6].endswith(("nologin", "false")):
            continue
        found.append(scan.real(fields[5]))
    result = []
    for path in found:
        st = lstat(path)
        if st is not None and stat.S_ISDIR(st.st_mode) and path not in result:
            real = os.path.realpath(path)
            if real == scan.root or real.startswith(scan.root.rstrip("/") + "/"):
                result.append(path)
    return result


def check_system(scan):
    for entry in listdir(scan, scan.real("/etc/ssh")):
        if (
            entry.name.startswith("ssh_host_")
            and entry.name.endswith("_key")
            and regular(entry.path)
        ):
            scan.finding("host-key", entry.path, "SSH host key")
    for entry in listdir(scan, scan.real("/var/lib/cloud/instances")):
        if entry.is_dir(follow_symlinks=False):
            scan.finding("cloud-init", entry.path, "cloud-init instance state and user data")
    if regular(scan.real("/var/lib/cloud/seed/nocloud/user-data")):
        scan.finding(
            "cloud-init", scan.real("/var/lib/cloud/seed/nocloud/user-data"), "cloud-init user data"
        )


# --------------------------------------------------------------------------- inventory
def parse_dpkg_status(text):
    """(name, version, arch) of installed packages in a dpkg status file."""
    result = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            result.append(
                (fields["Package"], fields.get("Version", ""), fields.get("Architecture", ""))
            )
    return result


def parse_rpm_qa(text):
    """(name, version) of ``rpm -qa --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'``."""
    result = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] and not parts[0].startswith("gpg-pubkey"):
            version = parts[1][2:] if parts[1].startswith("0:") else parts[1]
            result.append((parts[0], version))
    return result


def parse_metadata(text):
    """Name and version of a Python distribution's METADATA / PKG-INFO."""
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line.startswith("Name:") and name is None:
            name = line[5:].strip()
        elif line.startswith("Version:") and version is None:
            version = line[8:].strip()
    return name, version


def parse_description(text):
    """Package and version of an R package's DESCRIPTION."""
    fields = {}
    for line in text.splitlines():
        if ":" in line and line[:1] not in (" ", "\t"):
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields.get("Package"), fields.get("Version")


def parse_conda_meta_name(filename):
    """Name and version from a conda-meta file name, ``name-version-build.json``."""
    parts = filename[:-5].rsplit("-", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else (None, None)


def os_packages(scan):
    status = scan.real("/var/lib/dpkg/status")
    if regular(status):
        text = head(status, 64 * 1024 * 1024).decode("utf-8", "replace")
        scan.environments.append({"kind": "deb", "environment": "system"})
        for name, version, arch in parse_dpkg_status(text):
            scan.package(
                "deb",
                "system",
                name + (":" + arch if arch not in ("", "all", "amd64", "arm64") else ""),
                version,
            )
    if os.path.isdir(scan.real("/var/lib/rpm")) or os.path.isdir(
        scan.real("/usr/lib/sysimage/rpm")
    ):
        cmd = ["rpm", "-qa", "--qf", "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n"]
        if scan.root != "/":
            cmd[1:1] = ["--root", scan.root]
        try:
            out = subprocess.run(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                timeout=max(5.0, SECONDS / 2),
            ).stdout
        except (OSError, subprocess.SubprocessError):
            scan.note("rpm: the rpm database could not be read")
            return
        scan.environments.append({"kind": "rpm", "environment": "system"})
        for name, version in parse_rpm_qa(out.decode("utf-8", "replace")):
            scan.package("rpm", "system", name, version)


def site_dirs(prefix):
    """site-packages / dist-packages folders of a Python prefix."""
    found = []
    for lib in ("lib", "lib64"):
        for entry in (
            sorted(os.listdir(os.path.join(prefix, lib)))
            if os.path.isdir(os.path.join(prefix, lib))
            else []
        ):
            if entry.startswith("python"):
                for sub in ("site-packages", "dist-packages"):
                    path = os.path.join(prefix, lib, entry, sub)
                    if os.path.isdir(path) and not os.path.islink(path):
                        found.append(path)
    if os.path.isdir(os.path.join(prefix, "lib", "python3", "dist-packages")):
        found.append(os.path.join(prefix, "lib", "python3", "dist-packages"))
    return sorted(set(found))


def python_packages(scan, site, environment):
    seen = False
    for entry in listdir(scan, site):
        if entry.name.endswith(".dist-info"):
            meta = os.path.join(entry.path, "METADATA")
        elif entry.name.endswith(".egg-info"):
            meta = (
                os.path.join(entry.path, "PKG-INFO")
                if entry.is_dir(follow_symlinks=False)
                else entry.path
            )
        else:
            continue
        name, version = parse_metadata(head(meta, 16384).decode("utf-8", "replace"))
        if not name:
            stem = entry.name.rsplit(".", 1)[0]
            name, _, version = stem.partition("-")
        if name:
            seen = True
            scan.package("pip", environment, name, version or "")
    if seen:
        scan.environments.append({"kind": "pip", "environment": environment})


def conda_prefixes(scan, home_list):
    candidates = []
    for base in ("/opt", "/usr/local"):
        for entry in listdir(scan, scan.real(base)):
            candidates.append(entry.path)
    for home in home_list:
        for entry in listdir(scan, home):
            candidates.append(entry.path)
        candidates.append(os.path.join(home, ".conda"))
    prefixes = []
    for path in candidates:
        if os.path.isdir(os.path.join(path, "conda-meta")) and not os.path.islink(path):
            prefixes.append(path)
        for entry in (
            listdir(scan, os.path.join(path, "envs"))
            if os.path.isdir(os.path.join(path, "envs"))
            else []
        ):
            if os.path.isdir(os.path.join(entry.path, "conda-meta")):
                prefixes.append(entry.path)
    return prefixes


def conda_packages(scan, prefix):
    environment = scan.shown(prefix)
    names = [
        e.name
        for e in listdir(scan, os.path.join(prefix, "conda-meta"))
        if e.name.endswith(".json")
    ]
    if names:
        scan.environments.append({"kind": "conda", "environment": environment})
    for filename in names:
        name, version = parse_conda_meta_name(filename)
        if name:
            scan.package("conda", environment, name, version)


def r_libraries(scan, home_list, prefixes):
    libs = [
        "/usr/lib/R/library",
        "/usr/lib/R/site-library",
        "/usr/local/lib/R/site-library",
        "/usr/lib64/R/library",
        "/usr/local/lib/R/library",
        "/usr/share/R/library",
    ]
    libs = [scan.real(p) for p in libs]
    for entry in listdir(scan, scan.real("/opt/R")):
        libs.append(os.path.join(entry.path, "lib", "R", "library"))
    for prefix in prefixes:
        libs.append(os.path.join(prefix, "lib", "R", "library"))
    for home in home_list:
        for platform in listdir(scan, os.path.join(home, "R")):
            for version in listdir(scan, platform.path):
                libs.append(version.path)
    for lib in libs:
        if not os.path.isdir(lib) or os.path.islink(lib):
            continue
        environment = scan.shown(lib)
        seen = False
        for entry in listdir(scan, lib):
            name, version = parse_description(
                head(os.path.join(entry.path, "DESCRIPTION"), 16384).decode("utf-8", "replace")
            )
            if name:
                seen = True
                scan.package("r", environment, name, version or "")
        if seen:
            scan.environments.append({"kind": "r", "environment": environment})


def inventory(scan, home_list):
    os_packages(scan)
    systems = [scan.real(p) for p in ("/usr", "/usr/local")]
    for prefix in systems:
        for site in site_dirs(prefix):
            python_packages(scan, site, "system" if prefix == systems[0] else scan.shown(site))
    prefixes = conda_prefixes(scan, home_list)
    for prefix in prefixes:
        conda_packages(scan, prefix)
        for site in site_dirs(prefix):
            python_packages(scan, site, scan.shown(prefix))
    for home in home_list:
        for site in site_dirs(os.path.join(home, ".local")):
            python_packages(scan, site, scan.shown(os.path.join(home, ".local")))
    for venv in scan.venvs:
        if venv in prefixes:
            continue
        if os.path.isdir(os.path.join(venv, "conda-meta")):
            conda_packages(scan, venv)
        for site in site_dirs(venv):
            python_packages(scan, site, scan.shown(venv))
    r_libraries(scan, home_list, prefixes)


def os_release(scan):
    fields = {}
    for line in head(scan.real("/etc/os-release"), 16384).decode("utf-8", "replace").splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip().strip("'\"")
    return {
        "id": fields.get("ID", ""),
        "version": fields.get("VERSION_ID", ""),
        "name": fields.get("PRETTY_NAME", ""),
    }


def inspect(root):
    scan = Scan(root)
    home_list = homes(scan)
    check_system(scan)
    for home in home_list:
        check_home_files(scan, home)
    complete = True
    for home in home_list:
        if not walk_home(scan, home):
            complete = False
            break
    inventory(scan, home_list)
    return {
        "prism_inspect": VERSION,
        "complete": complete and not scan.truncated,
        "os": os_release(scan),
        "findings": scan.findings,
        "environments": scan.environments,
        "packages": scan.packages,
        "truncated": scan.truncated,
        "stats": {
            "files": scan.files,
            "dirs": scan.dirs,
            "unreadable": scan.errors,
            "homes": [scan.shown(h) for h in home_list],
        },
    }


def gzipped(raw):
    """gzip without a timestamp (``gzip.compress(mtime=)`` needs Python 3.8)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as fh:
        fh.write(raw)
    return buffer.getvalue()


def encode(document, part):
    """Part ``part`` of the gzipped, base64-encoded document, with a header line."""
    raw = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    data = base64.b64encode(gzipped(raw)).decode()
    parts = max(1, -(-len(data) // PART_CHARS))
    digest = hashlib.sha256(data.encode()).hexdigest()
    part = min(max(part, 1), parts)
    chunk = data[(part - 1) * PART_CHARS : part * PART_CHARS]
    return f"PRISM-INSPECT {VERSION} {part}/{parts} {digest}\n{chunk}\n"


def main():
    document = inspect(ROOT)
    if os.environ.get("PRISM_INSPECT_FORMAT") == "json":
        sys.stdout.write(json.dumps(document, sort_keys=True) + "\n")
    else:
        sys.stdout.write(encode(document, int(os.environ.get("PRISM_INSPECT_PART") or 1)))


if __name__ == "__main__":
    main()
