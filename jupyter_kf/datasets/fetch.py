"""The init step of a cluster job with ``--data``: the pinned versions, from the S3-compatible store into
the job's emptyDir volumes, every file checked against its sha256 before the job starts.

Standard library only, and shipped in the job's bundle beside the runner (``/kf/bundle/kf_fetch.py``),
so the job's own image runs it: no extra image, and neither jupyter_kf nor boto3 in it. Credentials
come from the environment (a Secret's keys, by reference). Run as::

    python kf_fetch.py PLAN.json FOLDER... [--cache DIR] [-- COMMAND...]

``PLAN.json``: ``{"store": {endpoint, bucket, region, base}, "data": [{name, version, digest}, ...]}``;
entry ``i`` lands in the ``i``-th FOLDER (``-``: a ``pvc://`` entry, mounted from its claim instead).
With ``--cache DIR`` (a PersistentVolumeClaim shared by jobs) each file is kept there by its sha256 once
fetched and verified: a later job reading the same content copies it from there and downloads nothing.
With a command (a TrainJob, whose pods take no init container of ours) the step runs first in the
job's own container, then becomes the command. Any failure is one
line on stderr (Kubernetes' ``FallbackToLogsOnError`` makes it the container's termination message).
"""
import hashlib
import hmac
import json
import os
import posixpath
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CHUNK = 1 << 20
EXIT_FETCH = 3
PREFIX = "jupyter_kf data:"


class FetchError(Exception):
    """What stops the step, as the one line the user reads."""


def version_digest(files, kind, fmt):
    """A version's content hash: the same files with the same contents give the same digest."""
    canon = json.dumps({"files": {k: v[0] for k, v in sorted(files.items())}, "kind": kind, "format": fmt},
                       sort_keys=True)
    return hashlib.sha256(canon.encode()).hexdigest()


def sign(method, url, region, body_sha256, headers=None, access=None, secret=None):
    """AWS Signature V4 headers for one request (``url`` with its query already canonical: sorted, quoted)."""
    access = access or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = secret or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (access and secret):
        raise FetchError("no store credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the job "
                         "reads them from c.KfConfig.store_secret's Secret)")
    parts = urllib.parse.urlsplit(url)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    signed = {"host": parts.netloc, "x-amz-content-sha256": body_sha256, "x-amz-date": stamp,
              **{k.lower(): str(v) for k, v in (headers or {}).items()}}
    names = ";".join(sorted(signed))
    canonical = "\n".join([method, parts.path or "/", parts.query, *(f"{k}:{signed[k]}" for k in sorted(signed)),
                           "", names, body_sha256])
    scope = f"{stamp[:8]}/{region or 'us-east-1'}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (stamp[:8], region or "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={names}, "
                               f"Signature={signature}")
    return signed


def object_url(store, key, query=None):
    """The URL of ``key`` in the store's bucket (path style), with a canonical query string."""
    endpoint = store["endpoint"].rstrip("/")
    path = "/" + urllib.parse.quote(f"{store['bucket']}/{key}" if key else store["bucket"], safe="/-_.~")
    qs = "&".join(f"{urllib.parse.quote(str(k), safe='-_.~')}={urllib.parse.quote(str(v), safe='-_.~')}"
                  for k, v in sorted((query or {}).items()))
    return endpoint + path + (f"?{qs}" if qs else "")


def open_get(store, key):
    """A signed GET of ``key``, as an open response to stream from."""
    url = object_url(store, key)
    request = urllib.request.Request(url, headers=sign("GET", url, store.get("region"), EMPTY_SHA256))
    try:
        return urllib.request.urlopen(request, timeout=300)
    except urllib.error.HTTPError as err:
        raise FetchError(f"the store at {store['endpoint']} answered {err.code} for {key}") from None
    except (urllib.error.URLError, OSError) as err:
        raise FetchError(f"the store at {store['endpoint']} is unreachable: {getattr(err, 'reason', err)}") from None


def download(store, key, target, digest, what):
    """Stream ``key`` into ``target`` (written whole or not at all), checking its sha256 on the way."""
    tmp = f"{target}.kf-part{os.getpid()}.{threading.get_ident()}"  # jobs sharing a cache may fetch at once
    hasher = hashlib.sha256()
    with open_get(store, key) as response, open(tmp, "wb") as out:
        while chunk := response.read(CHUNK):
            hasher.update(chunk)
            out.write(chunk)
    if hasher.hexdigest() != digest:
        os.unlink(tmp)
        raise FetchError(f"{what}: sha256 mismatch: the store's object sha256:{digest[:12]} holds content "
                         f"sha256:{hasher.hexdigest()[:12]} (altered or damaged): nothing was mounted; put the data "
                         "again (%kf_data put) to repair the store")
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)


def safe_join(root, rel):
    """``root/rel``, refused if ``rel`` would leave ``root`` (a manifest is data from the store)."""
    norm = posixpath.normpath(rel)
    if norm.startswith(("/", "../")) or norm in ("..", "."):
        raise FetchError(f"a manifest names file {rel!r}, outside its folder: refused")
    return os.path.join(root, *norm.split("/"))


def manifest_of(store, entry):
    """The version's manifest from the store, checked against the digest pinned at submit."""
    ref = f"{entry['name']}@{entry['version']}"
    key = f"{store['base']}/sets/{entry['name']}/versions/{entry['version']}.json"
    with open_get(store, key) as response:
        manifest = json.loads(response.read())
    files = {k: tuple(v) for k, v in manifest["files"].items()}
    if version_digest(files, manifest.get("kind", "files"), manifest.get("format")) != entry["digest"]:
        raise FetchError(f"{ref}: its manifest in the store is not the version pinned at submit (sha256:"
                         f"{entry['digest'][:12]}): it was replaced or altered; nothing was mounted")
    return files


def from_cache(store, key, target, digest, what, cache):
    """``target`` from the cache's copy of ``digest`` (fetched into the cache first when missing, or when its
    copy is damaged); returns True when it came from the cache without a download."""
    kept = os.path.join(cache, "objects", digest[:2], digest[2:])
    if os.path.isfile(kept) and copy_checked(kept, target, digest):
        return True
    if os.path.isfile(kept):  # the cache's copy was altered: replaced from the store
        os.unlink(kept)
    os.makedirs(os.path.dirname(kept), exist_ok=True)
    download(store, key, kept, digest, what)  # checked on the way in
    copy_checked(kept, target, None)
    return False


def copy_checked(source, target, digest):
    """Copy ``source`` to ``target`` (written whole or not at all), checking its sha256 when ``digest`` is given;
    False (nothing written) on a mismatch."""
    hasher = hashlib.sha256() if digest else None
    tmp = f"{target}.kf-part{os.getpid()}.{threading.get_ident()}"
    with open(source, "rb") as src, open(tmp, "wb") as out:
        while chunk := src.read(CHUNK):
            if hasher:
                hasher.update(chunk)
            out.write(chunk)
    if hasher and hasher.hexdigest() != digest:
        os.unlink(tmp)
        return False
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return True


def fetch(plan, folders, workers=8, cache=None):
    """Every store-backed entry of ``plan`` into its folder (through ``cache`` when given); returns
    (files, bytes, files that came from the cache)."""
    from concurrent.futures import ThreadPoolExecutor

    store, jobs = plan.get("store"), []
    if len(folders) != len(plan["data"]):
        raise FetchError(f"{len(folders)} folder(s) given for {len(plan['data'])} dataset(s)")
    for entry, folder in zip(plan["data"], folders):
        if entry.get("pvc") or folder == "-":
            continue  # mounted straight from its claim
        for rel, (digest, size) in manifest_of(store, entry).items():
            target = safe_join(folder, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            key = f"{store['base']}/objects/{digest[:2]}/{digest[2:]}"
            jobs.append((key, target, digest, size, f"{entry['name']}@{entry['version']} file {rel}"))
    hits = 0
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        if cache:
            calls = [pool.submit(from_cache, store, key, target, digest, what, cache)
                     for key, target, digest, _, what in jobs]
        else:
            calls = [pool.submit(download, store, key, target, digest, what) for key, target, digest, _, what in jobs]
        for done in calls:
            hits += bool(done.result())
    for top in folders:  # read-only for the job, like the local views (and a readOnly mount where it can be)
        for folder, dirs, _ in os.walk(top, topdown=False):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o555)
    return len(jobs), sum(job[3] for job in jobs), hits


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    args = argv[:argv.index("--")] if "--" in argv else argv
    cache = None
    if "--cache" in args[:-1]:
        cache = args[args.index("--cache") + 1]
        args = args[:args.index("--cache")]
    if len(args) < 2:
        print(f"{PREFIX} usage: kf_fetch.py PLAN.json FOLDER... [--cache DIR] [-- COMMAND...]", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        with open(args[0]) as f:
            plan = json.load(f)
        count, size, hits = fetch(plan, args[1:], cache=cache)
    except FetchError as err:
        print(f"{PREFIX} {err}", file=sys.stderr, flush=True)
        return EXIT_FETCH
    except OSError as err:
        print(f"{PREFIX} cannot write the data: {err}", file=sys.stderr, flush=True)
        return EXIT_FETCH
    names = ", ".join(f"{e['name']}@{e['version']}" for e in plan["data"])
    cached = f" ({hits} from the cache, not downloaded)" if cache else ""
    print(f"{PREFIX} {names}: {count} file(s), {size / 2**20:.1f} MiB fetched and verified{cached} in "
          f"{time.monotonic() - started:.1f} s", flush=True)
    if command:
        os.execvp(command[0], command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
