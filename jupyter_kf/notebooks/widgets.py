"""The spawner form (``%kf_notebook`` alone) and the live status view of one server.

Both only show what they are given and call ``kf.notebooks``: no logic of their own.
"""
from __future__ import annotations

import html
import threading

import ipywidgets as w

from jupyter_kf.errors import KfError
from jupyter_kf.notebooks.spec import DEFAULT_CPU, DEFAULT_MEMORY, DEFAULT_WORKSPACE, GPU_VENDORS
from jupyter_kf.notebooks.status import NotebookStatus, status_html

LABEL = w.Layout(width="auto")
FIELD = {"style": {"description_width": "120px"}, "layout": w.Layout(width="460px")}


class NotebookView(w.VBox):
    """One server, live: badge, why it waits (no free GPU, quota, pulling the image), its link when ready."""

    def __init__(self, name: str):
        self.server_name = name
        self.header_html = w.HTML()
        self.details_html = w.HTML()
        self.note_html = w.HTML()
        self.server_status: NotebookStatus | None = None
        super().__init__([self.header_html, self.details_html, self.note_html])
        self.add_class("kf-notebook-view")
        self.update(NotebookStatus(name=name, phase="Starting", backend="", message="creating"))

    def update(self, status: NotebookStatus) -> None:
        self.server_status = status
        self.header_html.value = status_html(status)
        shown = [d for d in status.details if d != status.message] if status.phase != "Ready" else []
        self.details_html.value = (
            (
                "<ul style='margin:2px 0;font-size:12px;color:#555'>"
                + "".join(f"<li>{html.escape(d)}</li>" for d in shown[-6:])
                + "</ul>"
            )
            if shown
            else ""
        )
        if status.phase == "Ready":
            self.note_html.value = ""

    def note(self, message: str) -> None:
        self.note_html.value = f"<div style='font-size:12px;color:#c62828'>{html.escape(message)}</div>"


class NotebookForm(w.VBox):
    """Like the Kubeflow spawner form: image, CPU, memory, GPUs and vendor, workspace, data volumes."""

    def __init__(self, backend: str | None = None, namespace: str | None = None, image: str = "",
                 workspace: str = DEFAULT_WORKSPACE, timeout: str = "5m"):
        from jupyter_kf.notebooks.backends.kubernetes import DEFAULT_GPU_IMAGE, DEFAULT_IMAGE
        from jupyter_kf.training.backends import resolve_name

        self.backend, self.namespace, self.timeout = backend, namespace, timeout
        where = resolve_name(backend)
        self.name = w.Text(description="Name", placeholder="e.g. big-gpu", **FIELD)
        self.image = w.Combobox(
            description="Image",
            value=image,
            placeholder="default: Kubeflow's jupyter-scipy image",
            options=[DEFAULT_IMAGE, DEFAULT_GPU_IMAGE],
            ensure_option=False,
            **FIELD,
        )
        self.cpu = w.Text(description="CPU", value=DEFAULT_CPU, **FIELD)
        self.memory = w.Text(description="Memory", value=DEFAULT_MEMORY, **FIELD)
        self.gpus = w.Dropdown(
            description="GPUs", options=[("none", 0), ("1", 1), ("2", 2), ("4", 4), ("8", 8)], value=0, **FIELD
        )
        self.gpu_vendor = w.Dropdown(description="GPU vendor", options=list(GPU_VENDORS), value=GPU_VENDORS[0], **FIELD)
        self.workspace = w.Text(description="Workspace", value=workspace, placeholder="size (5Gi), pvc:CLAIM or none",
                                **FIELD)
        self.data_volumes = w.Textarea(
            description="Data volumes", placeholder="one CLAIM:/PATH a line, e.g. datasets:/data", rows=2, **FIELD
        )
        self.configurations = w.Text(description="Configurations", placeholder="PodDefault labels, comma-separated "
                                     "(Kubeflow)", **FIELD)
        self.launch_button = w.Button(description="Launch", icon="rocket", button_style="primary", layout=LABEL,
                                      _dom_classes=("jp-kf-notebook-launch",))
        self.launch_button.on_click(lambda _: self.launch())
        self.error_html = w.HTML()
        self.views = w.VBox()
        self.thread: threading.Thread | None = None
        title = w.HTML(f"<b>New notebook server</b> <span style='color:#888'>on the {html.escape(where)} backend"
                       + (f" · {html.escape(namespace)}" if namespace else "") + "</span>")
        super().__init__([title, self.name, self.image, w.HBox([self.cpu]), self.memory, self.gpus, self.gpu_vendor,
                          self.workspace, self.data_volumes, self.configurations,
                          w.HBox([self.launch_button, self.error_html]), self.views])
        self.add_class("kf-notebook-form")

    def launch(self) -> NotebookStatus | None:
        """Create from the fields; a bad field is one red line and nothing is created."""
        from jupyter_kf import notebooks

        self.error_html.value = ""
        try:
            status = notebooks.create(
                self.name.value.strip(),
                image=self.image.value.strip() or None,
                cpu=self.cpu.value,
                memory=self.memory.value,
                gpus=self.gpus.value,
                gpu_vendor=self.gpu_vendor.value,
                workspace=self.workspace.value,
                data_volumes=self.data_volumes.value,
                configurations=self.configurations.value,
                backend=self.backend,
                namespace=self.namespace,
                wait=False,
            )
        except KfError as err:
            self.error_html.value = f"<span style='color:#c62828'>{html.escape(str(err))}</span>"
            return None
        view = NotebookView(status.name)
        view.update(status)
        self.views.children = (view, *self.views.children)

        def follow():
            try:
                notebooks.wait(status.name, timeout=self.timeout, on_update=view.update, backend=self.backend,
                               namespace=self.namespace)
            except KfError as err:
                view.note(str(err))

        self.thread = threading.Thread(target=follow, name=f"kf-notebook-{status.name}", daemon=True)
        self.thread.start()
        return status
