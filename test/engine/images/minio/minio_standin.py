"""MinIO stand-in for backend-infra's engine tests (test/engine, L6): `minio server DIR ...`.

NOT MinIO and no MinIO code: an S3 API served by moto (Apache-2.0, https://github.com/getmoto/moto)
behind MinIO's command line, environment, TLS layout and health endpoints, so the container the
program declares (components/backup-storage.ts) runs unchanged. Tagged with the official
reference only so the test applier finds it; never used for a real deploy.

What it implements (what it does not: test/engine/README.md, "MinIO stand-in"):
- `minio server DIR [--address HOST:PORT] [--certs-dir DIR | -S DIR] [--console-address A]
  [--quiet] [--json] [--anonymous]`, flags before or after DIR, one DIR only;
- HTTPS when <certs-dir>/public.crt + private.key exist (default ~/.minio/certs), like
  MinIO, else plain HTTP; creates <certs-dir>/CAs at start and fails when it cannot, like MinIO;
- every S3 request must carry a valid SigV4 signature of MINIO_ROOT_USER / MINIO_ROOT_PASSWORD
  (default minioadmin / minioadmin, with a warning, like MinIO); MinIO's length rules;
- MINIO_KMS_SECRET_KEY (`name:base64 of 32 bytes`) is checked at start; without a KMS key,
  SSE-S3 requests (bucket encryption, x-amz-server-side-encryption) are refused as MinIO does;
- /minio/health/live, /minio/health/ready, /minio/health/cluster, /minio/health/cluster/read;
- the bucket state (objects, versions, bucket settings) kept under DIR/.minio.sys: written every
  few seconds after a change and on SIGTERM/SIGINT, read again at start.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import pickle
import signal
import socket
import ssl
import sys
import threading
import uuid
from urllib.parse import unquote
from xml.sax.saxutils import escape

sys.path.insert(0, "/usr/lib/minio-standin")
import sigv4  # noqa: E402

RELEASE = "RELEASE.2024-10-13T13-34-11Z"
STATE_DIR = ".minio.sys"
STATE_FILE = "standin-state.pickle"
SNAPSHOT_SECONDS = 10
MUTATING = {"PUT", "POST", "DELETE"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fatal(msg: str) -> "None":
    log(f"FATAL {msg}")
    sys.exit(1)


# ---------------------------------------------------------------- command line


class ServerArgs:
    def __init__(self) -> None:
        self.dirs: list[str] = []
        self.address = ":9000"
        self.certs_dir = os.path.join(os.environ.get("HOME") or "/", ".minio", "certs")
        self.console_address = ""
        self.quiet = False


SERVER_USAGE = (
    "usage: minio server [--address HOST:PORT] [--certs-dir DIR] [--console-address HOST:PORT] "
    "[--quiet] [--json] [--anonymous] DIR"
)


def parse_server_args(argv: list[str]) -> ServerArgs:
    args = ServerArgs()
    with_value = {"--address": "address", "--certs-dir": "certs_dir", "-S": "certs_dir",
                  "--console-address": "console_address"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name.startswith("--") and name[2:] in {"address", "certs-dir", "console-address"} or name == "-S":
            if not eq:
                i += 1
                if i >= len(argv):
                    fatal(f"flag needs an argument: {name}\n{SERVER_USAGE}")
                value = argv[i]
            setattr(args, with_value[name], value)
        elif arg in ("--quiet", "--json", "--anonymous"):
            args.quiet = args.quiet or arg == "--quiet"
        elif arg in ("-h", "--help"):
            print(SERVER_USAGE)
            sys.exit(0)
        elif arg.startswith("-"):
            fatal(f"flag provided but not defined: {arg} (the stand-in implements the flags in its usage)\n{SERVER_USAGE}")
        else:
            args.dirs.append(arg)
        i += 1
    if len(args.dirs) != 1:
        fatal(f"the MinIO stand-in serves exactly one DIR (single drive), got {args.dirs}\n{SERVER_USAGE}")
    return args


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        fatal(f"invalid --address {address!r}: expected [HOST]:PORT")
    return host.strip("[]"), int(port)


# ---------------------------------------------------------------- environment


def credentials() -> tuple[str, str]:
    user = os.environ.get("MINIO_ROOT_USER")
    password = os.environ.get("MINIO_ROOT_PASSWORD")
    if user is None and password is None:
        log("WARNING: Detected default credentials 'minioadmin:minioadmin', we recommend that you "
            "change these values with 'MINIO_ROOT_USER' and 'MINIO_ROOT_PASSWORD' environment variables")
        return "minioadmin", "minioadmin"
    if user is None or password is None:
        fatal("Unable to validate credentials inherited from the shell environment: "
              "MINIO_ROOT_USER and MINIO_ROOT_PASSWORD must both be set")
    if len(user) < 3:
        fatal("Unable to validate credentials inherited from the shell environment: "
              "Invalid credentials: MINIO_ROOT_USER length should be at least 3")
    if len(password) < 8:
        fatal("Unable to validate credentials inherited from the shell environment: "
              "Invalid credentials: MINIO_ROOT_PASSWORD length should be at least 8")
    return user, password


def kms_key() -> str | None:
    """MINIO_KMS_SECRET_KEY `key-name:base64(32 bytes)`; returns the key name, None when unset."""
    value = os.environ.get("MINIO_KMS_SECRET_KEY")
    if value is None:
        return None
    name, sep, b64 = value.partition(":")
    if not sep or not name:
        fatal("Unable to initialize KMS: MINIO_KMS_SECRET_KEY: expected '<key-name>:<base64 key>'")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as error:
        fatal(f"Unable to initialize KMS: MINIO_KMS_SECRET_KEY: key is not valid base64: {error}")
    if len(raw) != 32:
        fatal(f"Unable to initialize KMS: MINIO_KMS_SECRET_KEY: key must be 32 bytes, got {len(raw)}")
    return name


# ---------------------------------------------------------------- moto and its state


def import_moto(data_dir: str):
    """Imports moto with object bodies spooled to files under DIR (not RAM) and path-style buckets."""
    spool = os.path.join(data_dir, STATE_DIR, "tmp")
    os.makedirs(spool, exist_ok=True)
    for name in os.listdir(spool):  # bodies of a previous run are unlinked temp files; leftovers only
        try:
            os.unlink(os.path.join(spool, name))
        except OSError:
            pass
    os.environ["TMPDIR"] = spool
    os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(256 * 1024))
    os.environ["S3_IGNORE_SUBDOMAIN_BUCKETNAME"] = "true"  # MinIO without MINIO_DOMAIN: path style
    import tempfile

    tempfile.tempdir = spool
    import moto
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from moto.s3 import models as s3_models

    patch_object_lock(s3_models)
    return moto.__version__, create_backend_app("s3"), MotoRequestHandler, s3_models, DEFAULT_ACCOUNT_ID


def patch_object_lock(s3_models) -> None:
    """S3 lets a bucket that already has Object Lock change its default retention while it holds
    objects; moto refuses any PutObjectLockConfiguration on a non-empty bucket. Keep moto's refusal
    only for turning Object Lock ON for a non-empty bucket (MinIO refuses that too)."""
    original = s3_models.S3Backend.put_object_lock_configuration

    def put_object_lock_configuration(self, bucket_name, lock_enabled, mode=None, days=None, years=None):
        bucket = self.get_bucket(bucket_name)
        if bucket.object_lock_enabled and bucket.is_versioned:
            bucket.default_lock_mode = mode
            bucket.default_lock_days = days
            bucket.default_lock_years = years
            return None
        return original(self, bucket_name, lock_enabled, mode=mode, days=days, years=years)

    s3_models.S3Backend.put_object_lock_configuration = put_object_lock_configuration


class State:
    """The S3 backend's buckets, saved under DIR/.minio.sys and loaded at start."""

    def __init__(self, data_dir: str, s3_models, account: str):
        self.path = os.path.join(data_dir, STATE_DIR, STATE_FILE)
        self.backends = s3_models.s3_backends
        self.account = account
        self.lock = threading.RLock()
        self.dirty = False

    @property
    def backend(self):
        return self.backends[self.account]["aws"]

    def load(self) -> int:
        if not os.path.exists(self.path):
            return 0
        try:
            with open(self.path, "rb") as f:
                state = pickle.load(f)
        except Exception as error:  # a state file that cannot be read must not be overwritten
            fatal(f"Unable to read the stored bucket state {self.path}: {error!r} "
                  "(move it away to start with no buckets)")
        self.backend.buckets.update(state["buckets"])
        self.backend.tagger = state["tagger"]
        self.backends.bucket_accounts.update(state["bucket_accounts"])
        return len(state["buckets"])

    def save(self) -> None:
        with self.lock:
            state = {
                "buckets": dict(self.backend.buckets),
                "tagger": self.backend.tagger,
                "bucket_accounts": dict(self.backends.bucket_accounts),
            }
            tmp = f"{self.path}.tmp"
            with open(tmp, "wb") as f:
                pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self.dirty = False

    def saver(self, stop: threading.Event) -> None:
        while not stop.wait(SNAPSHOT_SECONDS):
            if self.dirty:
                try:
                    self.save()
                except Exception as error:
                    log(f"ERROR saving the bucket state to {self.path}: {error!r}")


# ---------------------------------------------------------------- HTTP


def xml_error(code: str, message: str, resource: str) -> bytes:
    request_id = uuid.uuid4().hex[:16].upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId>"
        "<HostId>backend-infra-minio-standin</HostId></Error>"
    ).encode()


def request_headers(environ: dict) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].lower().replace("_", "-")] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    return headers


def read_body(environ: dict) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return stream.read()
    return b""


class MinioApp:
    def __init__(self, moto_app, state: State, creds: dict[str, str], kms: str | None, data_dir: str):
        self.moto_app = moto_app
        self.state = state
        self.creds = creds
        self.kms = kms
        self.data_dir = data_dir
        region = os.environ.get("MINIO_SITE_REGION") or os.environ.get("MINIO_REGION")
        self.region = region or None  # None: any region in the signature scope, as MinIO without a region

    def respond(self, start_response, status: int, body: bytes, content_type="application/xml", head=False):
        reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  405: "Method Not Allowed", 501: "Not Implemented", 503: "Service Unavailable"}
        start_response(f"{status} {reason.get(status, 'Error')}", [
            ("Content-Type", content_type), ("Content-Length", str(len(body))), ("Server", "MinIO-standin"),
        ])
        return [b"" if head else body]

    def ready(self) -> str | None:
        """None when ready, else the reason: the drive takes a write, the backend answers."""
        probe = os.path.join(self.data_dir, STATE_DIR, f".ready-{threading.get_ident()}")
        try:
            with open(probe, "wb") as f:
                f.write(b"ok")
            os.unlink(probe)
        except OSError as error:
            return f"drive {self.data_dir} is not writable: {error}"
        if not self.state.lock.acquire(timeout=3):
            return "the S3 backend is busy"
        try:
            self.state.backend.list_buckets(prefix=None, bucket_region=None, max_buckets=None)
        except Exception as error:
            return f"the S3 backend does not answer: {error!r}"
        finally:
            self.state.lock.release()
        return None

    def health(self, environ, start_response, path: str):
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            return self.respond(start_response, 405, xml_error("MethodNotAllowed", "GET or HEAD", path))
        head = method == "HEAD"
        if path == "/minio/health/live":
            return self.respond(start_response, 200, b"", head=head)
        if path in ("/minio/health/ready", "/minio/health/cluster", "/minio/health/cluster/read"):
            reason = self.ready()
            if reason is None:
                return self.respond(start_response, 200, b"", head=head)
            log(f"health: not ready: {reason}")
            return self.respond(start_response, 503, xml_error("XMinioServerNotInitialized", reason, path), head=head)
        return self.respond(start_response, 404, xml_error("NotImplemented", "no such health endpoint", path))

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        if path.startswith("/minio/health/"):
            return self.health(environ, start_response, path)
        if path == "/minio" or path.startswith("/minio/"):
            return self.respond(start_response, 501, xml_error(
                "NotImplemented", "the MinIO stand-in has no admin or console API (S3 API only)", path))

        method = environ["REQUEST_METHOD"]
        headers = request_headers(environ)
        raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or path
        raw_path, _, raw_query = raw_uri.partition("?")
        streaming = headers.get("x-amz-content-sha256") in sigv4.STREAMING
        body = read_body(environ)
        try:
            sigv4.verify(self.creds, method, raw_path, raw_query, headers,
                         None if streaming else body, region=self.region)
        except sigv4.SigV4Error as error:
            return self.respond(start_response, error.status, xml_error(error.code, error.message, path),
                                head=method == "HEAD")

        query_keys = {unquote(p.partition("=")[0]) for p in raw_query.split("&") if p}
        sse = headers.get("x-amz-server-side-encryption")
        if self.kms is None and (sse or (method == "PUT" and "encryption" in query_keys)):
            return self.respond(start_response, 501, xml_error(
                "NotImplemented", "Server side encryption specified but KMS is not configured", path))

        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = False
        with self.state.lock:
            if method in MUTATING:
                self.state.dirty = True
            captured: dict = {}

            def capture(status, response_headers, exc_info=None):
                captured["args"] = (status, response_headers, exc_info)
                return lambda data: None

            chunks = b"".join(self.moto_app(environ, capture))
        status, response_headers, _ = captured["args"]
        start_response(status, response_headers)
        return [chunks]


# ---------------------------------------------------------------- main


def tls_context(certs_dir: str) -> ssl.SSLContext | None:
    try:
        os.makedirs(os.path.join(certs_dir, "CAs"), exist_ok=True)
    except OSError as error:
        fatal(f"Unable to create certs CA directory at {os.path.join(certs_dir, 'CAs')}: {error}")
    cert, key = os.path.join(certs_dir, "public.crt"), os.path.join(certs_dir, "private.key")
    if not (os.path.exists(cert) and os.path.exists(key)):
        log(f"no {cert} + {key}: serving plain HTTP (like MinIO without certificates)")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        fatal(f"Unable to load the TLS certificate {cert} / key {key}: {error}")
    return context


def close_tls_cleanly(server) -> None:
    """Werkzeug closes every connection after one response (no keep-alive) with a bare TCP
    shutdown. OpenSSL 3 clients (pgBackRest 2.45 on bookworm) that read on then fail with
    "unexpected eof while reading"; send TLS close_notify first, as MinIO's Go TLS stack does."""
    plain_shutdown = server.shutdown_request

    def shutdown_request(request):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(1)
                request = request.unwrap()
            except (OSError, ValueError):
                pass
        plain_shutdown(request)

    server.shutdown_request = shutdown_request


def local_addresses() -> list[str]:
    found = ["127.0.0.1"]
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            if info[4][0] not in found:
                found.insert(0, info[4][0])
    except OSError:
        pass
    return found


def serve(args: ServerArgs) -> None:
    data_dir = os.path.abspath(args.dirs[0])
    user, password = credentials()
    kms = kms_key()
    try:
        os.makedirs(os.path.join(data_dir, STATE_DIR), exist_ok=True)
        probe = os.path.join(data_dir, STATE_DIR, ".writable")
        with open(probe, "wb") as f:
            f.write(b"ok")
        os.unlink(probe)
    except OSError as error:
        fatal(f"Unable to use the drive {data_dir}: drive not writable ({error}); "
              f"running as uid {os.getuid()} gid {os.getgid()}")
    context = tls_context(args.certs_dir)
    host, port = parse_address(args.address)

    moto_version, moto_app, handler, s3_models, account = import_moto(data_dir)
    state = State(data_dir, s3_models, account)
    buckets = state.load()
    app = MinioApp(moto_app, state, {user: password}, kms, data_dir)

    from werkzeug.serving import make_server

    server = None
    for bind in ([host] if host else ["::", "0.0.0.0"]):
        try:
            server = make_server(bind, port, app, threaded=True, request_handler=handler, ssl_context=context)
            break
        except OSError as error:
            last_error = error
    if server is None:
        fatal(f"Unable to listen on {args.address}: {last_error}")
    if context is not None:
        close_tls_cleanly(server)
    if not os.environ.get("MINIO_STANDIN_ACCESS_LOG"):
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    stop = threading.Event()
    saver = threading.Thread(target=state.saver, args=(stop,), daemon=True)
    saver.start()

    def shutdown(signum, _frame):
        log(f"Exiting on signal: {signal.Signals(signum).name}")
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)

    scheme = "https" if context else "http"
    log("MinIO Object Storage Server: backend-infra TEST STAND-IN (moto "
        f"{moto_version} behind MinIO's CLI), never for a real deploy")
    log(f"Version: {RELEASE} (stand-in)")
    log(f"Status:  1 Online, 0 Offline. Drive: {data_dir} ({buckets} buckets restored)")
    log("API: " + " ".join(f"{scheme}://{a}:{port}" for a in local_addresses()))
    log(f"SSE-S3: {'KMS key ' + kms if kms else 'no KMS configured: SSE requests are refused'}")
    if args.console_address:
        log(f"Console: none (the stand-in has no console; --console-address {args.console_address} ignored)")
    try:
        server.serve_forever()
    finally:
        stop.set()
        try:
            state.save()
            log(f"bucket state saved to {state.path}")
        except Exception as error:
            log(f"ERROR saving the bucket state to {state.path}: {error!r}")


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: minio server DIR [flags]   (backend-infra test stand-in)\n" + SERVER_USAGE)
        sys.exit(0 if argv else 1)
    if argv[0] in ("-v", "--version", "version"):
        print(f"minio version {RELEASE} (backend-infra test stand-in, S3 API by moto)")
        sys.exit(0)
    if argv[0] != "server":
        fatal(f"'{argv[0]}' is not a command of the MinIO stand-in; it implements only `minio server`")
    serve(parse_server_args(argv[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
