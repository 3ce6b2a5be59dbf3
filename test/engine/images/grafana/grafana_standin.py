#!/usr/bin/python3
"""Grafana stand-in for backend-infra's engine tests (test/engine, L6). NOT Grafana, no Grafana code.

It implements the part of grafana/grafana:10.4.8's interface the program uses
(components/monitoring.ts) and checks what the program gives it, so a wrong upload fails the test
instead of passing unnoticed:

- configuration from GF_* environment variables (GF_SERVER_HTTP_PORT, GF_SERVER_HTTP_ADDR,
  GF_SECURITY_ADMIN_USER / _PASSWORD and their `__FILE` forms, GF_AUTH_ANONYMOUS_ENABLED,
  GF_PATHS_DATA, GF_PATHS_PROVISIONING); every `X__FILE` variable is read into `X`, as the
  official image's entrypoint does;
- the admin user is created when the data directory is new, from those variables, and kept in
  GF_PATHS_DATA (later changes to the variables do not change it, as in Grafana);
- provisioning: datasources (provisioning/datasources/*.y*ml) and file dashboard providers
  (provisioning/dashboards/*.y*ml) with the dashboard JSON files under each provider's path.
  A file that does not parse, misses a required field, has a wrong type, repeats a name or uid,
  or a dashboard whose panels name a datasource uid that is not provisioned: the stand-in REFUSES
  TO START (exit 1) and says which file and field. Real Grafana refuses to start only for bad
  datasource/provider files; it skips a bad dashboard file with an error in its log. The
  stand-in is stricter on purpose;
- HTTP: GET /api/health, /healthz, /metrics (no auth, like Grafana); with basic auth (admin):
  /api/datasources, /api/datasources/uid/<uid>, /api/datasources/name/<name>, /api/search,
  /api/dashboards/uid/<uid>, /api/folders, /api/org, /api/user. No UI, no database, no
  alerting, no plugins, no queries against the datasources.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

VERSION = "10.4.8"
COMMIT = "backend-infra-standin"
UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# Datasource uids Grafana resolves itself, not provisioned ones.
BUILTIN_DS_UIDS = {"grafana", "-- Grafana --", "-- Mixed --", "-- Dashboard --"}
CORE_TYPES = {
    "prometheus", "loki", "tempo", "jaeger", "zipkin", "graphite", "influxdb", "elasticsearch",
    "mysql", "postgres", "grafana-postgresql-datasource", "mssql", "cloudwatch", "stackdriver",
    "grafana-azure-monitor-datasource", "alertmanager", "opentsdb", "testdata",
    "grafana-testdata-datasource", "parca", "grafana-pyroscope-datasource",
}
STARTED = time.time()


def log(level: str, logger: str, msg: str, **fields) -> None:
    parts = [f"logger={logger}", f"t={datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}",
             f"level={level}", f"msg={json.dumps(msg)}"]
    parts += [f"{k}={json.dumps(v) if isinstance(v, str) and (' ' in v or not v) else v}" for k, v in fields.items()]
    print(" ".join(parts), file=sys.stderr, flush=True)


class ProvisioningError(Exception):
    pass


# ---------------------------------------------------------------- environment


def apply_file_env() -> None:
    """`X__FILE=/path` -> `X=<file content>` (trailing newline kept out), refusing both at once."""
    for key in [k for k in os.environ if k.endswith("__FILE")]:
        target = key[: -len("__FILE")]
        if target in os.environ:
            raise SystemExit(f"ERROR: both {target} and {key} are set (but are exclusive)")
        path = os.environ[key]
        try:
            with open(path, encoding="utf-8") as f:
                os.environ[target] = f.read().rstrip("\n")
        except OSError as error:
            raise SystemExit(f"ERROR: {key}: cannot read {path}: {error}") from None


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise SystemExit(f"ERROR: {name}: expected true or false, got {value!r}")


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand(value):
    """Grafana expands $VAR / ${VAR} in provisioning values ($$ is a literal $)."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: "$" if m.group(0) == "$$" else os.environ.get(m.group(1) or m.group(2), ""), value)
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- provisioning


def yaml_files(directory: str) -> list[str]:
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if f.endswith((".yaml", ".yml")) and os.path.isfile(os.path.join(directory, f)))


def load_yaml(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as error:
        raise ProvisioningError(f"{path}: cannot read: {error}") from None
    except yaml.YAMLError as error:
        raise ProvisioningError(f"{path}: not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProvisioningError(f"{path}: expected a mapping at the top, got {type(data).__name__}")
    api = data.get("apiVersion", 0)
    if api not in (0, 1) or isinstance(api, bool):
        raise ProvisioningError(f"{path}: apiVersion: expected 0 or 1, got {api!r}")
    return data


def check_type(path: str, where: str, value, types, required: bool = False):
    names = {str: "a string", bool: "true or false", int: "an integer", dict: "a mapping", list: "a list"}
    if value is None:
        if required:
            raise ProvisioningError(f"{path}: {where}: required")
        return None
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise ProvisioningError(f"{path}: {where}: expected {' or '.join(names[t] for t in types)}, got {value!r}")
    return value


def load_datasources(directory: str) -> list[dict]:
    datasources: list[dict] = []
    for path in yaml_files(directory):
        data = expand(load_yaml(path))
        for i, d in enumerate(check_type(path, "deleteDatasources", data.get("deleteDatasources"), list) or []):
            check_type(path, f"deleteDatasources[{i}]", d, dict)
            check_type(path, f"deleteDatasources[{i}].name", d.get("name"), str, required=True)
        items = check_type(path, "datasources", data.get("datasources"), list) or []
        for i, ds in enumerate(items):
            where = f"datasources[{i}]"
            check_type(path, where, ds, dict, required=True)
            name = check_type(path, f"{where}.name", ds.get("name"), str, required=True)
            if not name.strip():
                raise ProvisioningError(f"{path}: {where}.name: must not be empty")
            dtype = check_type(path, f"{where}.type", ds.get("type"), str, required=True)
            if not dtype.strip():
                raise ProvisioningError(f"{path}: {where}.type: must not be empty")
            if dtype not in CORE_TYPES:
                log("warn", "provisioning.datasources", "datasource type is not a core plugin; "
                    "Grafana would provision it without a working plugin", name=name, type=dtype)
            uid = check_type(path, f"{where}.uid", ds.get("uid"), str)
            if uid is not None and not UID_RE.match(uid):
                raise ProvisioningError(f"{path}: {where}.uid: at most 40 characters of A-Z a-z 0-9 - _, got {uid!r}")
            access = check_type(path, f"{where}.access", ds.get("access"), str) or "proxy"
            if access not in ("proxy", "direct"):
                raise ProvisioningError(f"{path}: {where}.access: expected proxy or direct, got {access!r}")
            org = check_type(path, f"{where}.orgId", ds.get("orgId"), int) or 1
            url = check_type(path, f"{where}.url", ds.get("url"), str) or ""
            for key in ("isDefault", "editable", "basicAuth", "withCredentials"):
                check_type(path, f"{where}.{key}", ds.get(key), bool)
            for key in ("jsonData", "secureJsonData"):
                check_type(path, f"{where}.{key}", ds.get(key), dict)
            check_type(path, f"{where}.version", ds.get("version"), int)
            datasources.append({
                "name": name, "type": dtype, "uid": uid or hashlib.sha1(name.encode()).hexdigest()[:14],
                "access": access, "orgId": org, "url": url, "isDefault": bool(ds.get("isDefault", False)),
                "editable": bool(ds.get("editable", False)), "basicAuth": bool(ds.get("basicAuth", False)),
                "user": ds.get("user", "") or "", "database": ds.get("database", "") or "",
                "jsonData": ds.get("jsonData") or {}, "file": path,
                "secureJsonFields": {k: True for k in (ds.get("secureJsonData") or {})},
            })
    for org in {d["orgId"] for d in datasources}:
        in_org = [d for d in datasources if d["orgId"] == org]
        defaults = [d["name"] for d in in_org if d["isDefault"]]
        if len(defaults) > 1:
            raise ProvisioningError(f"datasource.yaml config is invalid. Only one datasource per organization "
                                    f"can be marked as default (org {org}: {', '.join(defaults)})")
        for key in ("name", "uid"):
            seen: dict[str, str] = {}
            for d in in_org:
                if d[key] in seen:
                    raise ProvisioningError(f"datasource {key} {d[key]!r} is provisioned twice "
                                            f"({seen[d[key]]} and {d['file']})")
                seen[d[key]] = d["file"]
    for i, d in enumerate(datasources, start=1):
        d["id"] = i
    return datasources


def load_providers(directory: str) -> list[dict]:
    providers: list[dict] = []
    for path in yaml_files(directory):
        data = expand(load_yaml(path))
        items = check_type(path, "providers", data.get("providers"), list) or []
        for i, p in enumerate(items):
            where = f"providers[{i}]"
            check_type(path, where, p, dict, required=True)
            name = check_type(path, f"{where}.name", p.get("name"), str, required=True)
            ptype = check_type(path, f"{where}.type", p.get("type"), str) or "file"
            if ptype != "file":
                raise ProvisioningError(f"{path}: {where}.type: only 'file' providers exist, got {ptype!r}")
            options = check_type(path, f"{where}.options", p.get("options"), dict, required=True)
            dpath = check_type(path, f"{where}.options.path", options.get("path"), str, required=True)
            if not os.path.isdir(dpath):
                raise ProvisioningError(f"{path}: {where}.options.path: {dpath} is not a directory")
            check_type(path, f"{where}.options.foldersFromFilesStructure", options.get("foldersFromFilesStructure"), bool)
            for key in ("disableDeletion", "allowUiUpdates"):
                check_type(path, f"{where}.{key}", p.get(key), bool)
            check_type(path, f"{where}.updateIntervalSeconds", p.get("updateIntervalSeconds"), int)
            check_type(path, f"{where}.orgId", p.get("orgId"), int)
            folder = check_type(path, f"{where}.folder", p.get("folder"), str) or ""
            folder_uid = check_type(path, f"{where}.folderUid", p.get("folderUid"), str)
            if folder_uid is not None and not UID_RE.match(folder_uid):
                raise ProvisioningError(f"{path}: {where}.folderUid: at most 40 characters of A-Z a-z 0-9 - _")
            if any(q["name"] == name for q in providers):
                raise ProvisioningError(f"{path}: {where}.name: provider {name!r} is defined twice")
            providers.append({"name": name, "folder": folder, "folderUid": folder_uid, "path": dpath,
                              "orgId": p.get("orgId") or 1, "file": path})
    return providers


def datasource_refs(node, where: str):
    """Every (where, datasource reference) in a dashboard: panels, nested panels, targets, variables."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and value is not None:
                yield where, value
            else:
                yield from datasource_refs(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from datasource_refs(value, f"{where}[{i}]")


def check_dashboard(path: str, dash: dict, datasources: list[dict]) -> None:
    title = dash.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ProvisioningError(f"{path}: title: required, a non-empty string")
    uid = dash.get("uid")
    if uid is not None and (not isinstance(uid, str) or not UID_RE.match(uid)):
        raise ProvisioningError(f"{path}: uid: at most 40 characters of A-Z a-z 0-9 - _, got {uid!r}")
    panels = dash.get("panels", [])
    if not isinstance(panels, list) or not all(isinstance(p, dict) for p in panels):
        raise ProvisioningError(f"{path}: panels: expected a list of objects")
    variables = {v.get("name") for v in (dash.get("templating") or {}).get("list", []) if isinstance(v, dict)}
    uids = {d["uid"] for d in datasources}
    names = {d["name"] for d in datasources}
    for where, ref in datasource_refs(panels, "panels"):
        if isinstance(ref, dict):
            ref_uid = ref.get("uid")
            if ref_uid is None:
                continue  # {type: ...} only: the default datasource of that type
            if not isinstance(ref_uid, str):
                raise ProvisioningError(f"{path}: {where}.datasource.uid: expected a string, got {ref_uid!r}")
            value, known = ref_uid, uids
        elif isinstance(ref, str):
            value, known = ref, names
        else:
            raise ProvisioningError(f"{path}: {where}.datasource: expected an object or a name, got {ref!r}")
        var = re.fullmatch(r"\$\{?([A-Za-z0-9_]+)(?::[a-z]+)?\}?", value)
        if var:
            if var.group(1) not in variables:
                raise ProvisioningError(f"{path}: {where}.datasource: variable ${var.group(1)} is not defined "
                                        "in templating.list")
            continue
        if value not in known and value not in BUILTIN_DS_UIDS:
            raise ProvisioningError(f"{path}: {where}.datasource: {value!r} is not a provisioned datasource "
                                    f"(provisioned: {', '.join(sorted(known)) or 'none'})")


def load_dashboards(providers: list[dict], datasources: list[dict]) -> tuple[list[dict], list[dict]]:
    dashboards: list[dict] = []
    folders: dict[str, dict] = {}
    for provider in providers:
        files = []
        for root, _, names in os.walk(provider["path"]):
            files += [os.path.join(root, n) for n in names if n.endswith(".json")]
        if not files:
            log("warn", "provisioning.dashboard", "no dashboard files in the provider's path",
                provider=provider["name"], path=provider["path"])
        folder = None
        if provider["folder"]:
            fuid = provider["folderUid"] or hashlib.sha1(provider["folder"].encode()).hexdigest()[:14]
            folder = folders.setdefault(fuid, {"id": len(folders) + 1, "uid": fuid, "title": provider["folder"]})
        for path in sorted(files):
            try:
                with open(path, encoding="utf-8") as f:
                    dash = json.load(f)
            except OSError as error:
                raise ProvisioningError(f"{path}: cannot read: {error}") from None
            except json.JSONDecodeError as error:
                raise ProvisioningError(f"{path}: not valid JSON: {error}") from None
            if not isinstance(dash, dict):
                raise ProvisioningError(f"{path}: expected a JSON object")
            if isinstance(dash.get("dashboard"), dict):  # the API's {"dashboard": {...}} wrapper
                dash = dash["dashboard"]
            check_dashboard(path, dash, datasources)
            uid = dash.get("uid") or hashlib.sha1(path.encode()).hexdigest()[:14]
            for other in dashboards:
                if other["uid"] == uid:
                    raise ProvisioningError(f"{path}: uid {uid!r} is already used by {other['file']}")
                if other["title"] == dash["title"] and other["folder"] == folder:
                    raise ProvisioningError(f"{path}: a dashboard titled {dash['title']!r} is already in this "
                                            f"folder ({other['file']})")
            dashboards.append({"id": len(dashboards) + 1, "uid": uid, "title": dash["title"],
                               "tags": dash.get("tags") or [], "json": {**dash, "uid": uid},
                               "folder": folder, "file": path, "provider": provider["name"]})
    return dashboards, list(folders.values())


# ---------------------------------------------------------------- users (the data directory)


def password_hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10000, 50).hex()


def load_admin(data_dir: str) -> dict:
    """The admin account: created from the environment when the data directory is new, then kept."""
    path = os.path.join(data_dir, "grafana-standin.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            admin = json.load(f)
        wanted = os.environ.get("GF_SECURITY_ADMIN_PASSWORD")
        if wanted is not None and password_hash(wanted, admin["salt"]) != admin["hash"]:
            log("warn", "user", "GF_SECURITY_ADMIN_PASSWORD differs from the stored admin password; as in "
                "Grafana it only applies when the data directory is new, the stored one stays")
        return admin
    user = os.environ.get("GF_SECURITY_ADMIN_USER") or "admin"
    password = os.environ.get("GF_SECURITY_ADMIN_PASSWORD")
    if password is None:
        password = "admin"
        log("warn", "user", "GF_SECURITY_ADMIN_PASSWORD is not set: the admin password is Grafana's default 'admin'")
    if password == "":
        raise SystemExit("ERROR: GF_SECURITY_ADMIN_PASSWORD is empty")
    salt = secrets.token_hex(8)
    admin = {"login": user, "salt": salt, "hash": password_hash(password, salt),
             "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(admin, f)
    os.replace(tmp, path)
    log("info", "sqlstore", "Created default admin", user=user)
    return admin


# ---------------------------------------------------------------- HTTP


class Grafana:
    def __init__(self, admin, datasources, dashboards, folders, anonymous: bool):
        self.admin = admin
        self.datasources = datasources
        self.dashboards = dashboards
        self.folders = folders
        self.anonymous = anonymous
        self.requests = 0
        self.lock = threading.Lock()

    def authorised(self, header: str | None) -> bool:
        if header and header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return user == self.admin["login"] and hmac.compare_digest(
                password_hash(password, self.admin["salt"]), self.admin["hash"])
        return False

    def datasource_json(self, d: dict) -> dict:
        return {"id": d["id"], "uid": d["uid"], "orgId": d["orgId"], "name": d["name"], "type": d["type"],
                "typeName": d["type"].capitalize(), "access": d["access"], "url": d["url"], "user": d["user"],
                "database": d["database"], "basicAuth": d["basicAuth"], "isDefault": d["isDefault"],
                "jsonData": d["jsonData"], "readOnly": not d["editable"],
                "secureJsonFields": d["secureJsonFields"], "version": 1}

    def search(self, query: dict[str, list[str]]) -> list[dict]:
        q = (query.get("query") or [""])[0].lower()
        kind = (query.get("type") or [""])[0]
        tags = query.get("tag") or []
        dash_uids = query.get("dashboardUIDs") or []
        folder_uids = query.get("folderUIDs") or []
        limit = int((query.get("limit") or ["1000"])[0])
        hits = []
        if kind in ("", "dash-folder") and not tags and not dash_uids:
            for f in self.folders:
                if q in f["title"].lower() and (not folder_uids or f["uid"] in folder_uids):
                    hits.append({"id": f["id"], "uid": f["uid"], "title": f["title"], "uri": f"db/{slug(f['title'])}",
                                 "url": f"/dashboards/f/{f['uid']}/{slug(f['title'])}", "slug": "",
                                 "type": "dash-folder", "tags": [], "isStarred": False, "sortMeta": 0})
        if kind in ("", "dash-db"):
            for d in self.dashboards:
                f = d["folder"]
                if q not in d["title"].lower() or not all(t in d["tags"] for t in tags):
                    continue
                if dash_uids and d["uid"] not in dash_uids:
                    continue
                if folder_uids and (f["uid"] if f else "general") not in folder_uids:
                    continue
                hit = {"id": d["id"], "uid": d["uid"], "title": d["title"], "uri": f"db/{slug(d['title'])}",
                       "url": f"/d/{d['uid']}/{slug(d['title'])}", "slug": "", "type": "dash-db",
                       "tags": d["tags"], "isStarred": False, "sortMeta": 0}
                if f:
                    hit.update({"folderId": f["id"], "folderUid": f["uid"], "folderTitle": f["title"],
                                "folderUrl": f"/dashboards/f/{f['uid']}/{slug(f['title'])}"})
                hits.append(hit)
        return hits[:limit]

    def metrics(self) -> str:
        lines = [
            "# HELP grafana_build_info A metric with a constant '1' value labeled by version, revision, branch, and goversion from which Grafana was built",
            "# TYPE grafana_build_info gauge",
            f'grafana_build_info{{branch="standin",edition="oss",goversion="none",revision="{COMMIT}",version="{VERSION}"}} 1',
            "# HELP grafana_stat_totals_dashboard total amount of dashboards",
            "# TYPE grafana_stat_totals_dashboard gauge",
            f"grafana_stat_totals_dashboard {len(self.dashboards)}",
            "# HELP grafana_stat_totals_datasource total number of defined datasources, labeled by pluginId",
            "# TYPE grafana_stat_totals_datasource gauge",
        ]
        for dtype in sorted({d["type"] for d in self.datasources}):
            count = sum(1 for d in self.datasources if d["type"] == dtype)
            lines.append(f'grafana_stat_totals_datasource{{plugin_id="{dtype}"}} {count}')
        lines += [
            "# HELP grafana_http_request_total Requests served by the stand-in",
            "# TYPE grafana_http_request_total counter",
            f"grafana_http_request_total {self.requests}",
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {STARTED:.3f}",
        ]
        return "\n".join(lines) + "\n"


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def make_handler(app: Grafana):
    class Handler(BaseHTTPRequestHandler):
        server_version = "Grafana-standin"
        sys_version = ""

        def log_message(self, fmt, *args):  # Grafana logs no access log by default
            pass

        def send(self, status: int, body, content_type="application/json"):
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_HEAD(self):
            self.do_GET()

        def do_POST(self):
            self.send(405, {"message": "the Grafana stand-in serves read-only GET endpoints"})

        do_PUT = do_DELETE = do_PATCH = do_POST

        def do_GET(self):
            with app.lock:
                app.requests += 1
            url = urlsplit(self.path)
            path = unquote(url.path).rstrip("/") or "/"
            query = parse_qs(url.query)
            if path == "/api/health":
                return self.send(200, {"commit": COMMIT, "database": "ok", "version": VERSION})
            if path == "/healthz":
                return self.send(200, "Ok", "text/plain; charset=utf-8")
            if path == "/metrics":
                return self.send(200, app.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            if path in ("/", "/login"):
                return self.send(200, "Grafana stand-in (backend-infra tests): no UI. API: /api/health, "
                                 "/api/datasources, /api/search\n", "text/plain; charset=utf-8")
            if not path.startswith("/api/"):
                return self.send(404, {"message": "Not found"})
            header = self.headers.get("Authorization")
            if not app.authorised(header):
                if header:
                    return self.send(401, {"message": "Invalid username or password",
                                           "messageId": "password-auth.failed", "statusCode": 401, "traceID": ""})
                if not app.anonymous:
                    return self.send(401, {"message": "Unauthorized", "messageId": "auth.unauthorized",
                                           "statusCode": 401, "traceID": ""})
            return self.api(path, query)

        def api(self, path: str, query):
            if path == "/api/datasources":
                return self.send(200, [app.datasource_json(d) for d in app.datasources])
            m = re.fullmatch(r"/api/datasources/(uid|name)/(.+)", path) or re.fullmatch(r"/api/datasources/(\d+)", path)
            if m:
                key, value = ("id", int(m.group(1))) if m.re.groups == 1 else (m.group(1), m.group(2))
                for d in app.datasources:
                    if d[key] == value:
                        return self.send(200, app.datasource_json(d))
                return self.send(404, {"message": "Data source not found"})
            if path == "/api/search":
                return self.send(200, app.search(query))
            m = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
            if m:
                for d in app.dashboards:
                    if d["uid"] == m.group(1):
                        f = d["folder"]
                        meta = {"type": "db", "slug": slug(d["title"]), "url": f"/d/{d['uid']}/{slug(d['title'])}",
                                "provisioned": True, "provisionedExternalId": os.path.basename(d["file"]),
                                "canSave": False, "canEdit": False, "folderId": f["id"] if f else 0,
                                "folderUid": f["uid"] if f else "", "folderTitle": f["title"] if f else "General"}
                        return self.send(200, {"dashboard": {**d["json"], "id": d["id"]}, "meta": meta})
                return self.send(404, {"message": "Dashboard not found"})
            if path == "/api/folders":
                return self.send(200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in app.folders])
            m = re.fullmatch(r"/api/folders/([^/]+)", path)
            if m:
                for f in app.folders:
                    if f["uid"] == m.group(1):
                        return self.send(200, {"id": f["id"], "uid": f["uid"], "title": f["title"]})
                return self.send(404, {"message": "folder not found"})
            if path == "/api/org":
                return self.send(200, {"id": 1, "name": "Main Org.", "address": {}})
            if path == "/api/user":
                return self.send(200, {"id": 1, "login": app.admin["login"], "isGrafanaAdmin": True, "orgId": 1})
            return self.send(404, {"message": "Not found"})

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> int:
    try:
        apply_file_env()
        anonymous = env_bool("GF_AUTH_ANONYMOUS_ENABLED", False)
    except SystemExit as error:
        print(error, file=sys.stderr)
        return 1
    port_text = os.environ.get("GF_SERVER_HTTP_PORT") or "3000"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        log("error", "server", "GF_SERVER_HTTP_PORT is not a TCP port", value=port_text)
        return 1
    addr = os.environ.get("GF_SERVER_HTTP_ADDR") or ""
    data_dir = os.environ.get("GF_PATHS_DATA") or "/var/lib/grafana"
    prov_dir = os.environ.get("GF_PATHS_PROVISIONING") or "/etc/grafana/provisioning"
    log("info", "settings", "Starting Grafana (backend-infra TEST STAND-IN, never for a real deploy)",
        version=VERSION, uid=os.getuid(), gid=os.getgid())
    try:
        probe = os.path.join(data_dir, ".standin-write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.unlink(probe)
    except OSError as error:
        log("error", "sqlstore", "GF_PATHS_DATA is not writable: Grafana cannot create its database",
            path=data_dir, error=str(error))
        return 1
    try:
        admin = load_admin(data_dir)
    except SystemExit as error:
        print(error, file=sys.stderr)
        return 1
    try:
        datasources = load_datasources(os.path.join(prov_dir, "datasources"))
        for d in datasources:
            log("info", "provisioning.datasources", "inserting datasource from configuration", name=d["name"], uid=d["uid"])
        providers = load_providers(os.path.join(prov_dir, "dashboards"))
        dashboards, folders = load_dashboards(providers, datasources)
        for d in dashboards:
            log("info", "provisioning.dashboard", "provisioned dashboard", uid=d["uid"], title=d["title"],
                file=d["file"])
    except ProvisioningError as error:
        log("error", "provisioning", "Failed to provision Grafana: refusing to start", error=str(error))
        print(f"Error: ✗ provisioning: {error}", file=sys.stderr, flush=True)
        return 1

    app = Grafana(admin, datasources, dashboards, folders, anonymous)
    server = None
    for bind in ([addr] if addr else ["::", "0.0.0.0"]):
        try:
            family = socket.AF_INET6 if ":" in bind else socket.AF_INET
            Server.address_family = family
            server = Server((bind, int(port_text)), make_handler(app))
            break
        except OSError as error:
            last = error
    if server is None:
        log("error", "server", "cannot listen", address=f"{addr}:{port_text}", error=str(last))
        return 1

    def stop(signum, _frame):
        log("info", "server", "Shutdown started", reason=f"System signal: {signal.Signals(signum).name.lower()}")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("info", "http.server", "HTTP Server Listen", address=f"{addr or '[::]'}:{port_text}", protocol="http",
        datasources=len(datasources), dashboards=len(dashboards))
    server.serve_forever()
    log("info", "server", "Shutdown completed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
