"""Runs inside .venv-kfp (kfp 2.17.3 + kfp-kubernetes), started by tests/pipeline/test_kfp.py; prints JSON.

  roundtrip FILE...            kfp loads each IR and compiles it again: is the result identical?
  local FILE ROOT [K=JSON]...  the IR run by kfp's own local orchestrator (kfp.local), outputs and metrics
  submit FILE K=JSON...        jupyter_kf's submit_package against a fake KFP API server on 127.0.0.1
  platform                     the platform spec kfp-kubernetes writes for labels, annotations, a secret, a PVC
"""
import json
import os
import sys
import tempfile
import threading
import warnings

warnings.simplefilter("ignore")


def roundtrip(paths):
    import yaml
    from kfp import compiler, components

    out = {}
    for path in paths:
        component = components.load_component_from_file(path)
        with tempfile.TemporaryDirectory() as folder:
            again = os.path.join(folder, "again.yaml")
            compiler.Compiler().compile(component, again)
            ours, theirs = list(yaml.safe_load_all(open(path))), list(yaml.safe_load_all(open(again)))
        ours[0].pop("sdkVersion")
        theirs[0].pop("sdkVersion")
        out[os.path.basename(path)] = {"identical": ours == theirs, "documents": len(theirs),
                                       "inputs": sorted(component.component_spec.inputs or {})}
    return out


def local(path, root, arguments):
    from kfp import components
    from kfp import local as kfp_local
    from kfp.local import subprocess_task_handler

    # SubprocessRunner refuses commands that are not kfp's own executor only because it cannot run
    # images; a jupyter_kf step is plain `python3 -u -c PROGRAM`, so that check is lifted here.
    subprocess_task_handler.SubprocessTaskHandler.validate_not_container_component = lambda self, command: None
    kfp_local.init(runner=kfp_local.SubprocessRunner(use_venv=False), pipeline_root=root)
    component = components.load_component_from_file(path)
    component(**arguments)
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            found[os.path.relpath(os.path.join(dirpath, name), root).split(os.sep, 1)[1]] = open(os.path.join(dirpath, name)).read()
    return found


def submit(path, arguments):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, body, code=200):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            calls.append(["GET", self.path.split("?")[0], None])
            if self.path.startswith("/apis/v2beta1/healthz"):
                return self.reply({"multi_user": False})
            if self.path.startswith("/apis/v2beta1/experiments"):
                return self.reply({})  # no experiment of that name yet
            self.reply({"error": "not found"}, 404)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            calls.append(["POST", self.path, body])
            if self.path == "/apis/v2beta1/experiments":
                return self.reply({"experiment_id": "exp-1", "display_name": body.get("display_name")})
            if self.path == "/apis/v2beta1/runs":
                return self.reply({"run_id": "run-42", "display_name": body.get("display_name"), "experiment_id": body.get("experiment_id")})
            self.reply({"error": "not found"}, 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from jupyter_kf.pipeline.kfp_submit import submit_package

    host = f"http://127.0.0.1:{server.server_port}"
    result = submit_package(path, host=host, experiment="exp1", run_name="first run", arguments=arguments, pipeline="p")
    server.shutdown()
    return {"run_id": result.run_id, "url": result.url.replace(host, "HOST"), "calls": calls}


def platform():
    from kfp import compiler, dsl, kubernetes

    @dsl.container_component
    def step():
        return dsl.ContainerSpec(image="python:3.11", command=["python3", "-c", "pass"])

    @dsl.pipeline(name="platform")
    def pipe():
        task = step()
        kubernetes.add_pod_label(task, "team", "ml")
        kubernetes.add_pod_annotation(task, "owner", "alice")
        kubernetes.use_secret_as_env(task, secret_name="db-credentials", secret_key_to_env={"password": "DB_PASSWORD"})
        kubernetes.mount_pvc(task, pvc_name="raw-data", mount_path="/data")

    import yaml

    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "p.yaml")
        compiler.Compiler().compile(pipe, out)
        docs = list(yaml.safe_load_all(open(out)))
    return docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-step"]


def main(argv):
    command, rest = argv[0], argv[1:]
    if command == "roundtrip":
        result = roundtrip(rest)
    elif command == "local":
        result = local(rest[0], rest[1], {k: json.loads(v) for k, v in (a.split("=", 1) for a in rest[2:])})
    elif command == "submit":
        result = submit(rest[0], {k: json.loads(v) for k, v in (a.split("=", 1) for a in rest[1:])})
    elif command == "platform":
        result = platform()
    else:
        raise SystemExit(f"unknown command {command}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
