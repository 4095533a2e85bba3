"""Throwaway OpenLDAP ``slapd`` servers with a private ``cn=config``.

Two schema variants:

- ``"compact"``: core + cosine + inetorgperson + the project's own
  ``src/dcm_exporter/config/schema/dcm-exporter.ldif``;
- ``"upstream"``: core + cosine + inetorgperson + the upstream ``dicom.ldif``, ``dcm4che.ldif`` and
  ``dcm4chee-archive.ldif`` from ``../shared/dcm4che/ldap/slapd/``.

Content (the ``dc=dcm4che,dc=org`` database) is built once per session into a *template* (for upstream:
``init-config.ldif`` and ``default-config.ldif`` loaded with ``ldapadd`` into a server started for that) and
every server gets a fresh copy of the template's ``data.mdb``: a new server costs one ``slapadd -n0`` and a
process start.

slapd runs in the foreground with ``-d stats``: its access log (one ``conn=N op=M SRCH ...`` line per
operation) goes to ``server.log_path``; :meth:`SlapdServer.operations` parses it so tests can count
round trips.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import itertools
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .ports import LOOPBACK, Process, ServerError, free_port, require_binary, run, tail

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPACT_SCHEMA = REPO_ROOT / "src" / "dcm_exporter" / "config" / "schema" / "dcm-exporter.ldif"
UPSTREAM_DIR = Path(os.environ.get("DCM_EXPORTER_UPSTREAM_DIR") or REPO_ROOT.parent / "shared" / "dcm4che")
UPSTREAM_SCHEMAS = ("dicom.ldif", "dcm4che.ldif", "dcm4chee-archive.ldif")
SYSTEM_SCHEMAS = ("core.ldif", "cosine.ldif", "inetorgperson.ldif")
SYSTEM_SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

BASE_DN = "dc=dcm4che,dc=org"
BIND_DN = "cn=admin,dc=dcm4che,dc=org"
PASSWORD = "secret"  # a throwaway server on loopback

#: the base entry and the DICOM configuration root tree (PS3.15 Annex H + dcm4che registries)
INIT_TREE_LDIF = f"""\
dn: {BASE_DN}
objectClass: top
objectClass: dcObject
objectClass: organization
o: dcm4che.org
dc: dcm4che

dn: cn=DICOM Configuration,{BASE_DN}
objectClass: dicomConfigurationRoot
cn: DICOM Configuration

dn: cn=Devices,cn=DICOM Configuration,{BASE_DN}
objectClass: dicomDevicesRoot
cn: Devices

dn: cn=Unique AE Titles Registry,cn=DICOM Configuration,{BASE_DN}
objectClass: dicomUniqueAETitlesRegistryRoot
cn: Unique AE Titles Registry

dn: cn=Unique HL7 Application Names Registry,cn=DICOM Configuration,{BASE_DN}
objectClass: hl7UniqueApplicationNamesRegistryRoot
cn: Unique HL7 Application Names Registry

dn: cn=Unique Web Application Names Registry,cn=DICOM Configuration,{BASE_DN}
objectClass: dcmUniqueWebAppNamesRegistryRoot
cn: Unique Web Application Names Registry
"""

BASE_ONLY_LDIF = INIT_TREE_LDIF.split("\n\n", 1)[0] + "\n"

_OP_LINE = re.compile(r"\bconn=(\d+) op=(\d+) (BIND|SRCH|ADD|MOD|MODRDN|DEL|CMP|EXT|UNBIND|ABANDON)\b(.*)")
_counter = itertools.count(1)


@dataclass(frozen=True)
class Operation:
    """One LDAP request seen in slapd's ``stats`` log."""

    conn: int
    op: int
    kind: str  # BIND, SRCH, ADD, MOD, MODRDN, DEL, CMP, EXT, UNBIND, ABANDON
    detail: str  # the rest of the line, e.g. ' base="..." scope=2 deref=0 filter="..."'


@dataclass
class SlapdServer:
    """A running slapd.

    Attributes:
        url: ``ldap://127.0.0.1:PORT``.
        port: its plain LDAP port.
        base_dn / bind_dn / password: suffix ``dc=dcm4che,dc=org``, root DN ``cn=admin,dc=dcm4che,dc=org``.
        config_root_dn: ``cn=DICOM Configuration,dc=dcm4che,dc=org``.
        schema: ``"compact"`` or ``"upstream"``.
        ldaps_url / ldaps_port: ``ldaps://127.0.0.1:PORT2`` when started with TLS, else ``None``.
        ca_file: PEM file of the throwaway CA that signed the server certificate (TLS only).
        log_path: the ``-d stats`` access log (see :meth:`operations`).
        workdir: cn=config (``slapd.d``), database (``db``), log, certificates.
    """

    url: str
    port: int
    base_dn: str
    bind_dn: str
    password: str
    schema: str
    workdir: Path
    log_path: Path
    ldaps_url: str | None = None
    ldaps_port: int | None = None
    ca_file: Path | None = None
    process: Process | None = field(default=None, repr=False)

    @property
    def config_root_dn(self) -> str:
        return f"cn=DICOM Configuration,{self.base_dn}"

    @property
    def devices_dn(self) -> str:
        return f"cn=Devices,cn=DICOM Configuration,{self.base_dn}"

    # --- client tools ---------------------------------------------------------------------------

    def _client_env(self) -> dict[str, str]:
        # no LDAPNOINIT: it would also disable the LDAPTLS_* variables
        env = {"LDAPRC": "/dev/null"}
        if self.ca_file is not None:
            env["LDAPTLS_CACERT"] = str(self.ca_file)
            env["LDAPTLS_REQCERT"] = "demand"
        return env

    def ldapsearch(
        self,
        filter: str = "(objectClass=*)",
        *attributes: str,
        base: str | None = None,
        scope: str = "sub",
        ldaps: bool = False,
    ) -> str:
        """Run ``ldapsearch -LLL`` as the root DN and return its LDIF output (unwrapped lines)."""
        binary = require_binary("ldapsearch", "ldap-utils")
        url = self.ldaps_url if ldaps else self.url
        if url is None:
            raise ValueError("this slapd was started without LDAPS")
        argv = [
            binary,
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            url,
            "-D",
            self.bind_dn,
            "-w",
            self.password,
        ]
        argv += ["-b", base or self.base_dn, "-s", scope, filter, *attributes]
        return run(argv, env=self._client_env()).stdout.decode()

    def count(self, filter: str = "(objectClass=*)", *, base: str | None = None, scope: str = "sub") -> int:
        """Number of entries matching ``filter`` (via ldapsearch)."""
        return sum(
            1
            for line in self.ldapsearch(filter, "1.1", base=base, scope=scope).splitlines()
            if line[:4] == "dn: "
        )

    def ldapadd(self, ldif: str | Path, *, continue_on_error: bool = False) -> None:
        """Add the entries of an LDIF text or file (``ldapadd``) as the root DN."""
        self._modify(ldif, add=True, continue_on_error=continue_on_error)

    def ldapmodify(self, ldif: str | Path) -> None:
        """Apply LDIF change records (``ldapmodify``) as the root DN."""
        self._modify(ldif, add=False, continue_on_error=False)

    def _modify(self, ldif: str | Path, *, add: bool, continue_on_error: bool) -> None:
        binary = require_binary("ldapmodify", "ldap-utils")
        data = Path(ldif).read_bytes() if isinstance(ldif, Path) else ldif.encode()
        argv = [binary, "-x", "-H", self.url, "-D", self.bind_dn, "-w", self.password]
        if add:
            argv.append("-a")
        if continue_on_error:
            argv.append("-c")
        run(argv, input=data, env=self._client_env(), timeout=300)

    # --- access log -------------------------------------------------------------------------------

    def operations(self, kind: str | None = None, *, since: int = 0) -> list[Operation]:
        """LDAP requests slapd logged, oldest first; ``kind`` filters (``"SRCH"``, ``"ADD"``, ...).

        ``since`` is a value from :meth:`log_mark`: only requests logged after it are returned.
        Request lines are written before slapd answers, so once a client call returned, its request is logged.
        """
        with self.log_path.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
        ops = []
        seen: set[tuple[int, int]] = set()
        for line in text.splitlines():
            m = _OP_LINE.search(line)
            if m is None:
                continue
            key = (int(m.group(1)), int(m.group(2)))
            if key in seen:  # follow-up lines of the same request (SRCH attr=..., BIND mech=...)
                continue
            seen.add(key)
            if kind is None or m.group(3) == kind:
                ops.append(Operation(key[0], key[1], m.group(3), m.group(4)))
        return ops

    def log_mark(self) -> int:
        """A position in the access log; pass it as ``since=`` to :meth:`operations`."""
        return self.log_path.stat().st_size

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


# --- config building ------------------------------------------------------------------------------


def ssha(password: str) -> str:
    """``{SSHA}`` hash as ``slappasswd -s`` makes it."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def schema_files(schema: str) -> list[Path]:
    """The schema LDIFs (olcSchemaConfig entries) a variant loads, in order."""
    files = [SYSTEM_SCHEMA_DIR / name for name in SYSTEM_SCHEMAS]
    if schema == "compact":
        files.append(COMPACT_SCHEMA)
    elif schema == "upstream":
        files += [UPSTREAM_DIR / "ldap" / "slapd" / name for name in UPSTREAM_SCHEMAS]
    else:
        raise ValueError(f"unknown slapd schema variant {schema!r}: use 'compact' or 'upstream'")
    return files


def config_ldif(workdir: Path, schema: str, *, tls: tuple[Path, Path] | None = None, syncprov: bool = False) -> str:
    """The cn=config LDIF for ``slapadd -n0`` (services.md); ``syncprov``: with the sync provider overlay (as
    replicated set-ups have), which keeps the suffix's ``contextCSN``."""
    overlay = ""
    if syncprov:
        overlay = ("\ndn: olcOverlay=syncprov,olcDatabase={1}mdb,cn=config\nobjectClass: olcOverlayConfig\n"
                   "objectClass: olcSyncProvConfig\nolcOverlay: syncprov\n")
    tls_lines = ""
    if tls is not None:
        tls_lines = f"olcTLSCertificateFile: {tls[0]}\nolcTLSCertificateKeyFile: {tls[1]}\n"
    includes = "".join(f"include: file://{p}\n" for p in schema_files(schema))
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {workdir}/slapd.pid
olcArgsFile: {workdir}/slapd.args
{tls_lines}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_DIR}
olcModuleLoad: back_mdb
{"olcModuleLoad: syncprov" + chr(10) if syncprov else ""}
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: unlimited

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {workdir}/db
olcSuffix: {BASE_DN}
olcRootDN: {BIND_DN}
olcRootPW: {ssha(PASSWORD)}
olcDbNoSync: TRUE
olcDbMaxSize: 1073741824
olcSizeLimit: unlimited
olcDbIndex: objectClass eq
olcDbIndex: dicomAETitle eq
olcDbIndex: dicomDeviceName eq
olcAccess: {{0}}to * by * read
{overlay}"""


def _build_config(workdir: Path, schema: str, tls: tuple[Path, Path] | None, syncprov: bool = False) -> None:
    slapadd = require_binary("slapadd", "slapd")
    (workdir / "slapd.d").mkdir(parents=True)
    (workdir / "db").mkdir()
    config = workdir / "config.ldif"
    config.write_text(config_ldif(workdir, schema, tls=tls, syncprov=syncprov))
    run([slapadd, "-n0", "-F", str(workdir / "slapd.d"), "-l", str(config)])


def _start(workdir: Path, *, port: int, ldaps_port: int | None, log: Path) -> Process:
    binary = require_binary("slapd", "slapd")
    urls = f"ldap://{LOOPBACK}:{port}/"
    if ldaps_port is not None:
        urls += f" ldaps://{LOOPBACK}:{ldaps_port}/"
    proc = Process(
        [binary, "-d", "stats", "-h", urls, "-F", str(workdir / "slapd.d")], log_path=log, stop_timeout=5.0
    )
    proc.wait_port(port, timeout=15)
    if ldaps_port is not None:
        proc.wait_port(ldaps_port, timeout=15)
    return proc


# --- TLS material ---------------------------------------------------------------------------------


def make_tls(directory: Path, *, client_auth: bool = False) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost: (ca, cert, key) PEM paths.

    ``client_auth``: the certificate may also authenticate a TLS client (a peer that presents it to a server
    requiring client certificates)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dcm_exporter test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, *([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


# --- templates and the factory --------------------------------------------------------------------


def _content_key(schema: str, content: str, ldifs: Sequence[str | Path]) -> str:
    h = hashlib.sha1(f"{schema}|{content}".encode())
    for item in ldifs:
        h.update(b"\0")
        h.update(item.read_bytes() if isinstance(item, Path) else item.encode())
    return h.hexdigest()[:16]


class SlapdFactory:
    """Builds content templates once and starts fresh servers from them.

    ``factory.start(schema="compact", content="init", ldifs=(), ldaps=False)``:

    - ``content="init"``: base entry + DICOM configuration root tree (``INIT_TREE_LDIF``);
      ``"base"``: only ``dc=dcm4che,dc=org``; ``"default"`` (upstream only): upstream ``init-config.ldif``
      + ``default-config.ldif`` (six devices, ``storescp`` / AE ``STORESCP`` among them).
    - ``ldifs``: more LDIF texts or files loaded on top (into the template, so repeated starts are cheap).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._templates: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._started: list[SlapdServer] = []

    def _template(self, schema: str, content: str, ldifs: Sequence[str | Path]) -> Path:
        key = _content_key(schema, content, ldifs)
        with self._lock:
            cached = self._templates.get(key)
            if cached is not None:
                return cached
            workdir = self.root / f"template-{schema}-{content}-{key}"
            if workdir.exists():  # left over from an earlier attempt that failed
                shutil.rmtree(workdir)
            _build_config(workdir, schema, None)
            texts: list[str | Path] = []
            if content == "init":
                texts.append(INIT_TREE_LDIF)
            elif content == "base":
                texts.append(BASE_ONLY_LDIF)
            elif content == "default":
                if schema != "upstream":
                    raise ValueError(
                        "content='default' (upstream default-config.ldif) needs schema='upstream'"
                    )
                texts.append(BASE_ONLY_LDIF)
                texts.append(UPSTREAM_DIR / "ldap" / "config" / "init-config.ldif")
                texts.append(UPSTREAM_DIR / "ldap" / "config" / "default-config.ldif")
            else:
                raise ValueError(f"unknown slapd content {content!r}: use 'init', 'base' or 'default'")
            texts.extend(ldifs)
            # base entry offline with slapadd; everything else through a running server with ldapadd,
            # which checks it as a client's writes would be checked
            slapadd = require_binary("slapadd", "slapd")
            base_ldif = workdir / "base.ldif"
            first = texts[0]
            base_ldif.write_text(first if isinstance(first, str) else first.read_text())
            run([slapadd, "-n1", "-F", str(workdir / "slapd.d"), "-l", str(base_ldif)])
            if len(texts) > 1:
                port = free_port()
                log = workdir / "build.log"
                proc = _start(workdir, port=port, ldaps_port=None, log=log)
                server = SlapdServer(
                    url=f"ldap://{LOOPBACK}:{port}",
                    port=port,
                    base_dn=BASE_DN,
                    bind_dn=BIND_DN,
                    password=PASSWORD,
                    schema=schema,
                    workdir=workdir,
                    log_path=log,
                    process=proc,
                )
                try:
                    for item in texts[1:]:
                        server.ldapadd(item)
                finally:
                    proc.stop()
            self._templates[key] = workdir
            return workdir

    def start(
        self,
        *,
        schema: str = "compact",
        content: str = "init",
        ldifs: Iterable[str | Path] = (),
        ldaps: bool = False,
        syncprov: bool = False,
    ) -> SlapdServer:
        """Start a fresh server whose database is a copy of the template for (schema, content, ldifs); with
        ``syncprov``, the sync provider overlay keeps the suffix's ``contextCSN``."""
        if schema == "upstream" and not UPSTREAM_DIR.is_dir():
            import pytest

            pytest.skip(f"upstream dcm4che files not found at {UPSTREAM_DIR}")
        for name in ("slapd", "slapadd"):
            require_binary(name, "slapd")
        template = self._template(schema, content, list(ldifs))
        workdir = self.root / f"slapd-{next(_counter)}"
        tls_files = None
        ca_file = None
        if ldaps:
            ca_file, cert, key = make_tls(workdir / "tls")
            tls_files = (cert, key)
        _build_config(workdir, schema, tls_files, syncprov)
        shutil.copyfile(template / "db" / "data.mdb", workdir / "db" / "data.mdb")
        log = workdir / "slapd.log"
        for attempt in range(1, 4):
            port = free_port()
            ldaps_port = free_port() if ldaps else None
            while ldaps_port == port:
                ldaps_port = free_port()
            try:
                proc = _start(workdir, port=port, ldaps_port=ldaps_port, log=log)
                break
            except ServerError:
                if attempt == 3:  # another process may have taken a port: try others twice
                    raise
        server = SlapdServer(
            url=f"ldap://{LOOPBACK}:{port}",
            port=port,
            base_dn=BASE_DN,
            bind_dn=BIND_DN,
            password=PASSWORD,
            schema=schema,
            workdir=workdir,
            log_path=log,
            ldaps_url=f"ldaps://{LOOPBACK}:{ldaps_port}" if ldaps_port else None,
            ldaps_port=ldaps_port,
            ca_file=ca_file,
            process=proc,
        )
        self._started.append(server)
        return server

    def stop_all(self) -> None:
        while self._started:
            self._started.pop().stop()


def wait_gone(server: SlapdServer, timeout: float = 5.0) -> None:
    """Wait until the server no longer accepts connections (for tests of restarts)."""
    from .ports import port_accepts

    deadline = time.monotonic() + timeout
    while port_accepts(server.port):
        if time.monotonic() > deadline:
            raise ServerError(f"slapd still listening on {server.port}; log:\n{tail(server.log_path)}")
        time.sleep(0.02)


__all__ = [
    "BASE_DN",
    "BIND_DN",
    "COMPACT_SCHEMA",
    "INIT_TREE_LDIF",
    "PASSWORD",
    "UPSTREAM_DIR",
    "Operation",
    "SlapdFactory",
    "SlapdServer",
    "make_tls",
]
