"""The compose file and the Kubernetes manifests, which cannot run here (no container engine, no
cluster), checked for what ``deploy/README.md`` says about them.

Compose: PostgreSQL with a ``pg_isready`` health check and a named volume; at least two
statuslist instances, each on that database (the URL's user, password and database are the ones
PostgreSQL is created with), ready on ``/readyz``, started after PostgreSQL is healthy, with the
settings file and the issuer key mounted read-only; nginx's upstream answered by every instance
and only by them; the public URL pointing at nginx. Kubernetes: a Deployment of at least three
pods ready on ``/readyz`` and alive on ``/healthz``, the database URL only from a Secret, the
settings from a ConfigMap and the key from a Secret volume, resource requests; a Service and a
PodDisruptionBudget selecting exactly those pods; the migration Job; every manifest in a
kustomization. The settings files are loaded with the service's own ``load_settings``. Git holds
no private key and no password.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from statuslist.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
TEMPLATE = DEPLOY / "nginx" / "statuslist.conf.template"

#: What the operator puts in deploy/.env (compose refuses to start without it).
DOTENV = {"POSTGRES_PASSWORD": "0123456789abcdef"}


# -- compose ------------------------------------------------------------------------------------

_VAR = re.compile(
    r"\$(?:(?P<dollar>\$)|\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>\w+))"
)


class MissingVariableError(Exception):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: ``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
    ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``."""

    def one(m: re.Match[str]) -> str:
        if m.group("dollar"):
            return "$"
        name = m.group("braced") or m.group("bare")
        value, op = env.get(name), m.group("op")
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return m.group("arg") if unset else str(value)
        if op in (":?", "?") and unset:
            raise MissingVariableError(f"{name}: {m.group('arg')}")
        return value or ""

    return _VAR.sub(one, text)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """Every string of a parsed compose file interpolated, as compose does before anything."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(v, env) for v in node]
    if isinstance(node, dict):
        return {k: resolve(v, env) for k, v in node.items()}
    return node


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return resolve(raw, DOTENV)


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def instances(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run ``statuslist serve`` (the image's entrypoint is ``statuslist``)."""
    return {n: s for n, s in services(compose).items() if s.get("command", [None])[0] == "serve"}


def flag(command: list[str], name: str) -> str:
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    """A service's volumes in the long syntax (short ``source:target[:mode]`` entries read)."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            source, target, *mode = v.split(":")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            ro = bool(mode) and "ro" in mode[0].split(",")
            out.append({"type": kind, "source": source, "target": target, "read_only": ro})
        else:
            out.append({**v, "read_only": bool(v.get("read_only", False))})
    return out


def mount_at(service: dict[str, Any], target: str) -> dict[str, Any]:
    found = [m for m in mounts(service) if m["target"] == target]
    assert len(found) == 1, f"one mount at {target} expected, got {found}"
    return found[0]


def covering_mount(service: dict[str, Any], path: Path) -> dict[str, Any]:
    """The mount a file path in the container lies in."""
    found = [m for m in mounts(service) if path.is_relative_to(m["target"])]
    assert found, f"{path} is in no mount of the service"
    return max(found, key=lambda m: len(m["target"]))


def depends(service: dict[str, Any], name: str) -> str:
    deps = service.get("depends_on")
    assert isinstance(deps, dict), "depends_on needs the long form, with a condition"
    assert name in deps, f"no dependency on {name}"
    return str(deps[name].get("condition"))


def dns_names(name: str, service: dict[str, Any]) -> set[str]:
    names = {name}
    for net in (service.get("networks") or {}).values():
        names.update((net or {}).get("aliases", []))
    return names


def instance_settings(service: dict[str, Any]) -> Settings:
    """The settings the instance starts with: its mounted TOML file and its environment."""
    target = flag(service["command"], "--config")
    config = mount_at(service, target)
    assert config["type"] == "bind" and config["read_only"]
    return load_settings(DEPLOY / config["source"], env=service["environment"])


def test_compose_runs_postgres_two_or_more_instances_and_nginx(compose: dict[str, Any]) -> None:
    assert {"postgres", "nginx"} <= set(services(compose))
    assert len(instances(compose)) >= 2
    # Exactly one of them builds the image; the others and the key copier use it.
    images = {s["image"] for s in instances(compose).values()}
    assert len(images) == 1
    builders = [n for n, s in services(compose).items() if "build" in s]
    assert len(builders) == 1 and builders[0] in instances(compose)
    assert services(compose)["issuer-key"]["image"] in images
    for name, svc in services(compose).items():
        if svc.get("image") in images and "build" not in svc:
            assert svc.get("pull_policy") == "never", f"{name} would try to pull a local image"


def test_postgres_has_a_health_check_and_a_named_volume(compose: dict[str, Any]) -> None:
    pg = services(compose)["postgres"]
    assert pg["image"].startswith("postgres:")
    check = pg["healthcheck"]["test"]
    assert check[0] in ("CMD", "CMD-SHELL") and "pg_isready" in " ".join(check)
    # Over TCP: the socket-only server of the image's first-start initialisation is not ready.
    assert flag(check, "-h") == "127.0.0.1"
    data = mount_at(pg, "/var/lib/postgresql/data")
    assert data["type"] == "volume" and data["source"] in compose["volumes"]
    assert "synchronous_commit=on" in pg["command"]


def test_every_instance_uses_the_postgres_service(compose: dict[str, Any]) -> None:
    pg = services(compose)["postgres"]["environment"]
    for name, svc in instances(compose).items():
        settings = instance_settings(svc)
        assert settings.database_url is not None, name
        url = urlsplit(settings.database_url)
        assert url.scheme == "postgresql"
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert url.username == pg["POSTGRES_USER"]
        assert url.password == pg["POSTGRES_PASSWORD"] == DOTENV["POSTGRES_PASSWORD"]
        assert url.path == "/" + pg["POSTGRES_DB"]
        assert depends(svc, "postgres") == "service_healthy", name


def test_the_password_is_required_not_committed(raw: dict[str, Any]) -> None:
    pg = raw["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", pg), pg
    for name, svc in instances(raw).items():
        url = svc["environment"]["STATUSLIST_DATABASE_URL"]
        assert f":{pg}@" in url, name
    with pytest.raises(MissingVariableError):
        resolve(raw, {})


def test_every_instance_is_ready_on_readyz(compose: dict[str, Any]) -> None:
    for name, svc in instances(compose).items():
        port = flag(svc["command"], "--port")
        check = " ".join(svc["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in check, name


def test_every_instance_reads_the_same_issuers_from_read_only_mounts(
    compose: dict[str, Any],
) -> None:
    seen = set()
    for name, svc in instances(compose).items():
        settings = instance_settings(svc)
        assert settings.issuers, f"{name}: PostgreSQL needs configured issuers"
        seen.add(settings.issuers)
        for issuer in settings.issuers:
            for key in issuer.keys:
                keys = covering_mount(svc, key)
                assert keys["read_only"], f"{name}: {key} is writable"
                assert keys["type"] == "volume" and keys["source"] in compose["volumes"]
                # The volume is filled by the issuer-key service from deploy/keys, before the
                # instance starts.
                copier = services(compose)["issuer-key"]
                filled = [m for m in mounts(copier) if m["source"] == keys["source"]]
                assert filled and not filled[0]["read_only"]
                assert depends(svc, "issuer-key") == "service_completed_successfully"
                src = [m for m in mounts(copier) if m["type"] == "bind"]
                assert len(src) == 1 and src[0]["read_only"]
                assert (DEPLOY / src[0]["source"]).resolve() == DEPLOY / "keys"
    assert len(seen) == 1, "instances configured with different issuers"


def test_instances_publish_distinct_loopback_ports(compose: dict[str, Any]) -> None:
    published = []
    for name, svc in instances(compose).items():
        (port,) = svc["ports"]
        host, _, rest = port.partition(":")
        assert host == "127.0.0.1", f"{name}: metrics and the issuer API on every interface"
        published.append(rest.split(":")[0])
    assert len(set(published)) == len(published)


def test_nginx_upstream_is_every_instance(compose: dict[str, Any]) -> None:
    nginx = services(compose)["nginx"]
    env = nginx["environment"]
    host, _, port = env["STATUSLIST_UPSTREAM"].rpartition(":")
    answering = {n for n, s in services(compose).items() if host in dns_names(n, s)}
    assert answering == set(instances(compose))
    for name, svc in instances(compose).items():
        assert flag(svc["command"], "--port") == port
        assert depends(nginx, name) == "service_healthy"
    # The shared template, rendered by the image from /etc/nginx/templates with exactly the
    # variables it has.
    tpl = mount_at(nginx, "/etc/nginx/templates/statuslist.conf.template")
    assert (DEPLOY / tpl["source"]).resolve() == TEMPLATE and tpl["read_only"]
    text = TEMPLATE.read_text(encoding="utf-8")
    assert re.search(r"upstream statuslist \{\s*server \$\{STATUSLIST_UPSTREAM\};", text)
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    envsubst = re.compile(env["NGINX_ENVSUBST_FILTER"])
    assert {v for v in placeholders if envsubst.search(v)} == placeholders <= set(env)
    assert not any(envsubst.search(v) for v in ("host", "PATH", "HOSTNAME", "NGINX_VERSION"))


def test_the_public_url_is_nginx(compose: dict[str, Any]) -> None:
    nginx = services(compose)["nginx"]
    published = {p.rsplit(":", 1)[0].split(":")[-1]: p.rsplit(":", 1)[1] for p in nginx["ports"]}
    for name, svc in instances(compose).items():
        url = urlsplit(instance_settings(svc).base_url)
        assert url.hostname == "localhost", name
        assert published.get(str(url.port)) == nginx["environment"]["NGINX_LISTEN"], name


# -- Kubernetes ---------------------------------------------------------------------------------


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert isinstance(doc, dict), path
            yield path, doc


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc["kind"] != "Kustomization"]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"one {kind} expected, got {len(found)}"
    return found[0]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for v in node:
            yield from walk_strings(v)
    elif isinstance(node, dict):
        for v in node.values():
            yield from walk_strings(v)


def test_every_manifest_is_in_a_kustomization() -> None:
    listed, files, images = set(), set(), []
    for path, doc in manifests():
        if doc["kind"] == "Kustomization":
            for res in doc["resources"]:
                assert (path.parent / res).is_file(), f"{path}: {res} does not exist"
                listed.add(path.parent / res)
            images.append(doc["images"])
        else:
            files.add(path)
    assert listed == files
    assert len(images) >= 2 and all(i == images[0] for i in images), "images differ"


def test_deployment_runs_three_or_more_pods_with_probes(objects: list[dict[str, Any]]) -> None:
    dep = one(objects, "Deployment")
    assert dep["spec"]["replicas"] >= 3
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert selects(dep["spec"]["selector"]["matchLabels"], labels)
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == int(flag(c["args"], "--port"))
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert c[probe]["httpGet"]["path"] == path
        assert c[probe]["httpGet"]["port"] in ports
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    # Nothing durable on a pod: several pods cannot share a ReadWriteOnce claim.
    volumes = dep["spec"]["template"]["spec"]["volumes"]
    assert not any("persistentVolumeClaim" in v for v in volumes)
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]


def test_database_url_only_from_a_secret(objects: list[dict[str, Any]]) -> None:
    refs = set()
    for obj in objects:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for c in containers(obj):
            url = env_of(c)["STATUSLIST_DATABASE_URL"]
            assert "value" not in url
            ref = url["valueFrom"]["secretKeyRef"]
            refs.add((ref["name"], ref["key"]))
    assert len(refs) == 1, f"the Deployment and the Job read different Secrets: {refs}"
    for obj in objects:
        assert obj["kind"] != "Secret", "a Secret in the manifests (create it with kubectl)"
        for s in walk_strings(obj):
            assert not re.search(r"postgres(ql)?://", s), f"{obj['kind']}: a database URL: {s}"


def test_settings_from_a_configmap_and_keys_from_a_secret(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    dep = one(objects, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    vmounts = c["volumeMounts"]

    config = flag(c["args"], "--config")
    (cm_mount,) = [m for m in vmounts if m["mountPath"] == config]
    cm_name = volumes[cm_mount["name"]]["configMap"]["name"]
    (cm,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == cm_name]
    toml = tmp_path / "statuslist.toml"
    toml.write_text(cm["data"][cm_mount["subPath"]], encoding="utf-8")
    settings = load_settings(toml, env={})
    assert settings.database_url is None, "the database URL (and its password) in a ConfigMap"
    assert settings.issuers

    for issuer in settings.issuers:
        for key in issuer.keys:
            (m,) = [m for m in vmounts if key.is_relative_to(m["mountPath"])]
            assert m.get("readOnly") is True
            secret = volumes[m["name"]]["secret"]
            mode = secret["defaultMode"]
            assert mode & 0o007 == 0, "the key is readable by everyone"
            readable = mode & 0o400 and pod["securityContext"]["runAsUser"] == 0
            readable = readable or (mode & 0o040 and pod["securityContext"].get("fsGroup"))
            assert readable, "the service's user cannot read the key"

    # The compose setup's settings file carries the same issuers.
    assert load_settings(DEPLOY / "statuslist.toml", env={}).issuers == settings.issuers


def test_service_and_budget_select_exactly_the_pods(objects: list[dict[str, Any]]) -> None:
    dep = one(objects, "Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    svc = one(objects, "Service")
    assert selects(svc["spec"]["selector"], labels)
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= {p["name"] for p in c["ports"]}
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    job = one(objects, "Job")
    job_labels = job["spec"]["template"]["metadata"].get("labels", {})
    assert not selects(svc["spec"]["selector"], job_labels), "the Service sends traffic to it"
    assert not selects(pdb["spec"]["selector"]["matchLabels"], job_labels)


def test_migration_job_runs_db_migrate(objects: list[dict[str, Any]]) -> None:
    job = one(objects, "Job")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["args"] == ["db", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    dep = one(objects, "Deployment")
    assert c["image"] == dep["spec"]["template"]["spec"]["containers"][0]["image"]


# -- secrets in git -----------------------------------------------------------------------------


def git(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("git")
    assert exe, "git is needed to see what is committed"
    return subprocess.run(
        [exe, "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )


def test_no_key_or_password_is_committed() -> None:
    tracked = git("ls-files", "deploy").stdout.split()
    assert "deploy/compose.yaml" in tracked, "not a git checkout?"
    assert [f for f in tracked if f.startswith("deploy/keys/")] == ["deploy/keys/.gitignore"]
    for f in tracked:
        text = (REPO / f).read_text(encoding="utf-8", errors="replace")
        assert "PRIVATE KEY-----" not in text, f
    for would_be in ("deploy/keys/issuer.pem", "deploy/keys/issuer-2027.jwk", "deploy/.env"):
        assert git("check-ignore", "-q", would_be).returncode == 0, f"{would_be} not ignored"
