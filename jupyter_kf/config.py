"""Settings, as traitlets, read from Jupyter config files and the IPython config.

``c.KfConfig.backend = "local"`` in ``jupyter_kf_config.py`` (any Jupyter config folder) or in
``ipython_config.py``; environment variables ``JUPYTER_KF_BACKEND`` / ``JUPYTER_KF_STATE_DIR`` win
over files, and flags win over everything.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from traitlets import Int, Unicode, default
from traitlets.config import Config, Configurable

from jupyter_kf.errors import KfError

_current: "KfConfig | None" = None
WORKERS_PER_CORE = 4


class KfConfig(Configurable):
    backend = Unicode(
        "auto", help="Where jobs run: 'local', 'kubernetes', or 'auto' (kubernetes when a kubeconfig exists)."
    ).tag(config=True)
    state_dir = Unicode(help="Folder where local jobs, their logs and results live.").tag(config=True)
    namespace = Unicode("", help="Kubernetes namespace for jobs; empty: the kubeconfig context's.").tag(config=True)
    cpu = Unicode("", help="Default CPU per worker, a Kubernetes quantity such as '1' or '500m'.").tag(config=True)
    memory = Unicode("", help="Default memory per worker, a Kubernetes quantity such as '2Gi'.").tag(config=True)
    gpus = Int(0, help="Default GPUs per worker.").tag(config=True)
    image = Unicode("", help="Default container image; empty: python:<kernel's major.minor>-slim.").tag(config=True)
    payload_limit = Unicode("1Gi", help="Largest pickled inputs a job may take, a quantity such as '512Mi'.").tag(
        config=True
    )
    local_max_workers = Int(0, help="Most workers the local jobs may run at once, all jobs together; 0: "
                                    f"{WORKERS_PER_CORE} per CPU core of this machine.").tag(config=True)
    log_lines = Int(200, help="Log lines kept under a cell's live view.").tag(config=True)
    store = Unicode(
        "",
        help="S3-compatible store for inputs and results too large for a ConfigMap or a log, "
        "as s3://bucket/prefix; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.",
    ).tag(config=True)
    store_endpoint = Unicode("", help="The store's URL as this machine reaches it, e.g. http://minio.kubeflow:9000.").tag(config=True)
    store_cluster_endpoint = Unicode("", help="The store's URL as pods reach it (default: store_endpoint).").tag(
        config=True
    )
    store_region = Unicode("us-east-1", help="The store's region.").tag(config=True)
    store_secret = Unicode("", help="Kubernetes Secret (keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) that pods read "
                                    "the store's credentials from; referenced, never copied.").tag(config=True)
    data_istio = Unicode("auto", help="How a --data init step reaches the store past an Istio sidecar (which has no "
                                      "network for init containers): 'auto' (when the namespace has "
                                      "istio-injection=enabled, or its labels cannot be read), 'uid' (always run the "
                                      "step as Istio's proxy uid 1337, which Istio's rules let through), 'off'.").tag(
        config=True)
    data_cache = Unicode("", help="PersistentVolumeClaim (ReadWriteMany) that cluster jobs' --data init steps keep "
                                  "fetched files in, by content hash: a second job reading the same version "
                                  "downloads nothing; empty: none.").tag(config=True)
    store_mount = Unicode("", help="Where the store's PVC is mounted in this notebook server, when c.KfConfig.store is "
                                   "pvc://claim/prefix (models are written there).").tag(config=True)
    serving_mode = Unicode("", help="KServe deployment mode to use: 'Standard' or 'Knative'; empty: the cluster's "
                                    "default (ConfigMap kserve/inferenceservice-config).").tag(config=True)
    notebook_image = Unicode("", help="Default notebook server image on a cluster; empty: Kubeflow's jupyter-scipy "
                                      "(jupyter-pytorch-cuda-full with GPUs).").tag(config=True)
    notebook_workspace = Unicode("5Gi", help="Default notebook server workspace: a size, pvc:CLAIM, or none.").tag(
        config=True)
    notebook_timeout = Unicode(
        "5m", help="How long creating or starting a notebook server waits for it (90, 15m)."
    ).tag(config=True)
    kfp_host = Unicode("", help="Kubeflow Pipelines endpoint runs are submitted to; empty: $KF_PIPELINES_ENDPOINT, "
                                "else the in-cluster endpoint.").tag(config=True)
    kfp_experiment = Unicode("", help="KFP experiment runs are submitted to; empty: Default.").tag(config=True)
    serving_service_account = Unicode(
        "",
        help="ServiceAccount deployed models run as (it must reach the store); empty: "
        "one made for c.KfConfig.store_secret.",
    ).tag(config=True)

    @default("state_dir")
    def _default_state_dir(self):
        from jupyter_core.paths import jupyter_data_dir

        return str(Path(jupyter_data_dir()) / "kf")

    @property
    def jobs_dir(self) -> Path:
        return state_root(self) / "jobs"

    def max_local_workers(self) -> int:
        if self.local_max_workers > 0:
            return self.local_max_workers
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        return WORKERS_PER_CORE * cores


def _file_config() -> Config:
    """The ``jupyter_kf_config`` files in Jupyter's config path, lowest priority first."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    merged = Config()
    for folder in reversed(jupyter_config_path()):
        for loader_cls, fname in (
            (JSONFileConfigLoader, "jupyter_kf_config.json"),
            (PyFileConfigLoader, "jupyter_kf_config.py"),
        ):
            if (Path(folder) / fname).is_file():
                merged.merge(loader_cls(fname, path=folder).load_config())
    return merged


def get() -> KfConfig:
    """The settings in force, built once per process."""
    global _current
    if _current is None:
        cfg = _file_config()
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:  # pragma: no cover - IPython is a dependency
            shell = None
        if shell is not None:
            cfg.merge(shell.config)
        _current = KfConfig(config=cfg)
        if os.environ.get("JUPYTER_KF_BACKEND"):
            _current.backend = os.environ["JUPYTER_KF_BACKEND"]
        if os.environ.get("JUPYTER_KF_STATE_DIR"):
            _current.state_dir = os.environ["JUPYTER_KF_STATE_DIR"]
        if Path(_current.state_dir).expanduser().exists():  # made private (an old tree repaired) at start;
            try:  # a refused folder is reported where it is used; a missing one is made private on first use
                state_root(_current)
            except (KfError, OSError):
                pass
    return _current


def reset() -> None:
    """Forget the settings so the next ``get()`` reads them again (tests, config reloads), and checks the
    state folder again."""
    global _current
    _current = None
    _checked.clear()


# -- the state folder: this user's alone ---------------------------------------------------------
# It holds notebook-server tokens, pickled inputs and results (reading a pickle runs code), cells'
# sources and env values: folders 0700, files 0600, and one that another user could write is refused,
# as ssh refuses such keys.
_checked: set[str] = set()
CHECKED = hasattr(os, "geteuid")  # POSIX owners and modes; Windows has neither


class StateNotPrivate(KfError):
    """The state folder, or a file in it, is another user's or writable by others."""

    http_status = 500


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _only_member(gid: int, uid: int) -> bool:
    """The group has exactly one member, this user (a user-private group, as Kubernetes' fsGroup and
    umask 002 systems make them): its write right gives no one else anything. Debian's ssh accepts
    group-writable keys on the same rule."""
    try:
        import grp
        import pwd

        group, me = grp.getgrgid(gid), pwd.getpwuid(uid)
    except (ImportError, KeyError):
        return False
    primary = [entry.pw_uid for entry in pwd.getpwall() if entry.pw_gid == gid]
    others = [name for name in group.gr_mem if name != me.pw_name]
    return primary == [uid] and not others


def check_private(path: Path | str, what: str = "state folder", st: os.stat_result | None = None) -> os.stat_result:
    """Refuse ``path`` unless this user owns it and no one else may write to it; its stat."""
    st = st if st is not None else os.stat(path)
    if CHECKED and (st.st_uid != os.geteuid() or st.st_mode & 0o002
                    or (st.st_mode & 0o020 and not _only_member(st.st_gid, os.geteuid()))):
        mine = st.st_uid == os.geteuid()
        fix = (f"chmod go-w {path}" if mine else
               "use a folder of your own (c.KfConfig.state_dir or JUPYTER_KF_STATE_DIR)")
        raise StateNotPrivate(
            f"jupyter_kf refuses {what} {path}: it is owned by {_owner(st.st_uid)} with mode "
            f"{stat.S_IMODE(st.st_mode):04o}, so another user could plant jobs or results there that run code as "
            f"you: {fix}"
        )
    return st


def private_dir(path: Path) -> Path:
    """``path`` made (with its parents) if missing; 0700 either way."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if CHECKED:
        os.chmod(path, 0o700)
    return path


def open_private(path: Path | str, mode: str = "ab"):
    """Open a file that only this user may read (created 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    return os.fdopen(fd, mode)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text`` in a 0600 file."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open_private(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def state_root(cfg: "KfConfig | None" = None) -> Path:
    """The state folder, made 0700 if missing; refused (``StateNotPrivate``) when another user owns it or
    may write to it. Once per process an existing tree's modes are repaired (group and others lose
    every right: trees written before modes were set are 0755/0644)."""
    root = Path((cfg or get()).state_dir).expanduser()
    if not root.exists():
        private_dir(root)
    if not CHECKED:
        return root
    st = check_private(root)
    key = str(root)
    if key not in _checked:
        if stat.S_IMODE(st.st_mode) & 0o077:  # an old tree: everything in it was made with the umask
            _repair(root)
        for section in os.scandir(root):  # jobs, notebooks, models...: each must be ours too
            if section.is_dir(follow_symlinks=False):
                sub = check_private(section.path, "state folder", section.stat(follow_symlinks=False))
                if stat.S_IMODE(sub.st_mode) & 0o077:
                    os.chmod(section.path, stat.S_IMODE(sub.st_mode) & 0o700)
        os.chmod(root, 0o700)
        _checked.add(key)
    return root


def _repair(root: Path) -> None:
    """Take group and others' rights off everything of ours under ``root`` (symlinks are not followed)."""
    me = os.geteuid()
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode) or st.st_uid != me:  # another's file is refused where it is read
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(entry.path, stat.S_IMODE(st.st_mode) & 0o700)
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
