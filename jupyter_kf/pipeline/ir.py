"""A KFP v2 PipelineSpec from a pipeline with its data flow inferred: pure, no I/O.

Built with ``kfp-pipeline-spec`` protobufs (not the ``kfp`` SDK) and returned as a plain dict, plus
the Kubernetes platform spec (pod labels, annotations, secrets as env, PVCs) that kfp-kubernetes
writes as a second YAML document. Every step runs ``python3 -u -c <step program>`` with its cells,
inputs and outputs as arguments: exec form, no shell, so nothing in the code is expanded.
"""
from __future__ import annotations

import json
import re

from jupyter_kf import __version__
from jupyter_kf.pipeline import step_runner
from jupyter_kf.pipeline.model import Pipeline, PipelineError, Step
from jupyter_kf.training.spec import parse_quantity

SCHEMA_VERSION = "2.1.0"
SDK_VERSION = f"jupyter_kf-{__version__}"
DATA_CACHE_MOUNT = "/kf/cache"  # as jupyter_kf.datasets.manifests.CACHE_MOUNT (the jobs' --data-cache claim)
ARG_LIMIT = 100_000  # one container argument; Linux refuses more than 128 KiB (E2BIG)
_MODEL_WORDS = {"model", "clf", "classifier", "regressor", "estimator", "net", "network", "booster", "learner"}
_DATA_WORDS = {
    "data",
    "dataset",
    "df",
    "x",
    "y",
    "train",
    "test",
    "val",
    "valid",
    "features",
    "labels",
    "frame",
    "table",
    "samples",
    "batch",
    "inputs",
    "targets",
    "rows",
    "split",
    "clean",
    "raw",
    "scaled",
    "normalized",
}


def artifact_type(name: str) -> str:
    """The KFP artifact type a variable travels as, from its name (same for producer and consumer)."""
    words = {w.lower() for w in re.split(r"_+|(?<=[a-z])(?=[A-Z])", name) if w}
    if words & _MODEL_WORDS:
        return "system.Model"
    if words & _DATA_WORDS or re.fullmatch(r"[A-Z]", name):
        return "system.Dataset"
    return "system.Artifact"


def _pb():
    from kfp.pipeline_spec import pipeline_spec_pb2

    return pipeline_spec_pb2


def _keys(step: Step) -> tuple[dict, dict, dict, str]:
    """Unique input/output keys: a name the step both reads and writes is ``<name>_in`` on the way in."""
    outputs = {name: name for name in step.outputs}
    taken = set(outputs)

    def key(name):
        candidate = name
        while candidate in taken:
            candidate += "_in"
        taken.add(candidate)
        return candidate

    params = {name: key(name) for name in step.params}
    inputs = {name: key(name) for name in step.inputs}
    metrics = key("metrics") if step.metrics else ""
    return params, inputs, outputs, metrics


def step_cells(pipeline: Pipeline, step: Step) -> list[dict]:
    """What the step runs, in order: Kale's imports/functions cells, shipped imports and definitions, its own cells."""
    cells = pipeline.shared + [c for c in step.shipped if c.tags == ["import"]] + \
        [c for c in step.shipped if c.tags != ["import"]] + step.cells
    return [{"cell": c.number, "code": c.code} for c in cells]


def readers_by_step(pipeline: Pipeline) -> dict[str, dict[str, list[str]]]:
    """For each step, which later steps read each of its outputs (one pass: a scan per step is quadratic)."""
    readers: dict[str, dict[str, list[str]]] = {}
    for other in pipeline.steps:
        for name, producer in other.inputs.items():
            readers.setdefault(producer, {}).setdefault(name, []).append(other.name)
    return readers


def step_spec(pipeline: Pipeline, step: Step, metrics_key: str, readers: dict | None = None) -> dict:
    if readers is None:
        readers = readers_by_step(pipeline)
    readers = readers.get(step.name, {})
    spec = {"step": step.name, "pipeline": pipeline.name, "cells": step_cells(pipeline, step), "inputs": step.inputs,
            "params": {n: pipeline.parameters[n].type for n in step.params}, "readers": readers,
            "metrics": step.metrics, "metrics_key": metrics_key}
    if step.packages:  # installed at step start when the image lacks them (--install-packages)
        spec["packages"] = step.packages
    if step.data_plan:  # data: tags, pinned when compiled: fetched (or linked, locally) before the cells run
        spec["data"] = step.data_plan
        if pipeline.data_pods.get("cache"):  # through the cache claim, mounted there (see _platform)
            spec["data"] = {**step.data_plan, "cache": DATA_CACHE_MOUNT}
    if step.name in pipeline.data_pods.get("steps", ()) and "sources" in pipeline.data_pods:
        spec["kf_modules"] = pipeline.data_pods["sources"]  # kf.data for an image without jupyter_kf
    return spec


def build(pipeline: Pipeline) -> tuple[dict, dict | None]:
    """(PipelineSpec as a dict, platform spec dict or None) for ``pipeline``; raises PipelineError."""
    from google.protobuf import json_format

    pb = _pb()
    spec = pb.PipelineSpec()
    spec.pipeline_info.name = pipeline.name
    if pipeline.description:
        spec.pipeline_info.description = pipeline.description
    spec.schema_version = SCHEMA_VERSION
    spec.sdk_version = SDK_VERSION
    deployment = pb.PipelineDeploymentConfig()
    program = step_runner.program()
    tasks = {step.name: step.task for step in pipeline.steps}
    readers = readers_by_step(pipeline)
    platform: dict[str, dict] = {}

    _root_parameters(spec, pipeline, pb)

    for step in pipeline.steps:
        params, inputs, outputs, metrics_key = _keys(step)
        component = spec.components[f"comp-{step.task}"]
        component.executor_label = f"exec-{step.task}"
        task = spec.root.dag.tasks[step.task]
        task.task_info.name = step.name
        task.component_ref.name = f"comp-{step.task}"
        task.dependent_tasks.extend(tasks[up] for up in step.after)
        cache = step.cache if step.cache is not None else pipeline.cache
        if cache:
            task.caching_options.enable_cache = True
        else:
            task.caching_options.SetInParent()
        args = []
        payload = json.dumps(step_spec(pipeline, step, metrics_key, readers), separators=(",", ":"))
        if len(payload) > ARG_LIMIT:
            raise PipelineError(
                f"step {step.name!r} carries {len(payload) // 1024} KiB of code, over the {ARG_LIMIT // 1024} KiB a "
                "container argument can hold: read large literals from a file, or split the step"
            )
        args += ["--spec", payload]
        for name, key in params.items():
            param_type = pipeline.parameters[name].type
            component.input_definitions.parameters[key].parameter_type = pb.ParameterType.ParameterTypeEnum.Value(
                param_type
            )
            task.inputs.parameters[key].component_input_parameter = name
            args += ["--param", name, f"{{{{$.inputs.parameters['{key}']}}}}"]
        for name, key in inputs.items():
            _artifact(component.input_definitions.artifacts[key], artifact_type(name))
            source = task.inputs.artifacts[key].task_output_artifact
            source.producer_task = tasks[step.inputs[name]]
            source.output_artifact_key = name
            args += ["--input", name, f"{{{{$.inputs.artifacts['{key}'].path}}}}"]
        for name, key in outputs.items():
            _artifact(component.output_definitions.artifacts[key], artifact_type(name))
            args += ["--output", name, f"{{{{$.outputs.artifacts['{key}'].path}}}}"]
        if metrics_key:
            _artifact(component.output_definitions.artifacts[metrics_key], "system.Metrics")
            args += ["--metrics", f"{{{{$.outputs.artifacts['{metrics_key}'].path}}}}"]
        if outputs or metrics_key:  # the executor output file tells KFP each artifact's format and the metrics
            args += ["--executor-input", "{{$}}"]
        container = deployment.executors[f"exec-{step.task}"].container
        container.image = step.image or pipeline.image
        container.command.extend(["python3", "-u", "-c", program])
        container.args.extend(args)
        for volume in pipeline.volumes:
            if volume.get("env"):
                container.env.add(name=volume["env"], value=volume["mount_point"])
        _resources(container.resources, step)
        _data_env(container, pipeline, step)
        kube = _platform(pipeline, step)
        if kube:
            platform[f"exec-{step.task}"] = kube

    spec.deployment_spec.update(json_format.MessageToDict(deployment))
    result = json_format.MessageToDict(spec)
    for group, members in pipeline.groups.items():
        _nest(result, group.replace("_", "-"), group, [tasks[name] for name in members["steps"]])
    platform_doc = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": platform}}}} if platform else None
    return result, platform_doc


def _root_parameters(spec, pipeline: Pipeline, pb) -> None:
    for name, param in pipeline.parameters.items():
        definition = spec.root.input_definitions.parameters[name]
        definition.parameter_type = pb.ParameterType.ParameterTypeEnum.Value(param.type)
        definition.default_value.CopyFrom(_value(param.value))
        definition.is_optional = True


def _nest(spec: dict, task: str, name: str, members: list) -> None:
    """Move a notebook: step's tasks into a sub-DAG component: what crosses its edge becomes its inputs and outputs."""
    root = spec["root"]["dag"]["tasks"]
    components = spec["components"]
    inner = {t: root.pop(t) for t in members}
    component: dict = {"dag": {"tasks": inner}}
    outer: dict = {"taskInfo": {"name": name}, "componentRef": {"name": f"comp-{task}"}}
    ins: dict = {"artifacts": {}, "parameters": {}}
    definitions: dict = {"artifacts": {}, "parameters": {}}
    root_params = spec["root"].get("inputDefinitions", {}).get("parameters", {})

    def produced(producer: str, key: str) -> dict:
        ref = components[root.get(producer, inner.get(producer, {})).get("componentRef", {}).get("name", "")]
        return ref.get("outputDefinitions", {}).get("artifacts", {}).get(key, {}).get("artifactType", {})

    ups = set()
    for member in inner.values():
        for artifact in member.get("inputs", {}).get("artifacts", {}).values():
            source = artifact.get("taskOutputArtifact", {})
            if source and source["producerTask"] not in inner:
                key = source["outputArtifactKey"]
                if key in ins["artifacts"] and ins["artifacts"][key]["taskOutputArtifact"] != source:
                    key = f"{key}-{source['producerTask']}"
                ins["artifacts"][key] = {"taskOutputArtifact": dict(source)}
                definitions["artifacts"][key] = {"artifactType": produced(source["producerTask"],
                                                                          source["outputArtifactKey"])}
                artifact.pop("taskOutputArtifact")
                artifact["componentInputArtifact"] = key
        for parameter in member.get("inputs", {}).get("parameters", {}).values():
            source = parameter.get("componentInputParameter")
            if source:
                ins["parameters"][source] = {"componentInputParameter": source}
                definitions["parameters"][source] = {"parameterType": root_params[source]["parameterType"]}
        deps = member.get("dependentTasks", [])
        ups.update(d for d in deps if d not in inner)
        if deps and any(d in inner for d in deps):
            member["dependentTasks"] = [d for d in deps if d in inner]
        elif deps:
            member.pop("dependentTasks")
    outputs: dict = {}
    for other in list(root.values()):
        for artifact in other.get("inputs", {}).get("artifacts", {}).values():
            source = artifact.get("taskOutputArtifact", {})
            if source.get("producerTask") in inner:
                key = source["outputArtifactKey"]
                selector = {"producerSubtask": source["producerTask"], "outputArtifactKey": key}
                if key in outputs and outputs[key]["artifactSelectors"][0] != selector:
                    key = f"{key}-{source['producerTask']}"
                outputs[key] = {"artifactSelectors": [selector]}
                component.setdefault("outputDefinitions", {}).setdefault("artifacts", {})[key] = {
                    "artifactType": produced(source["producerTask"], source["outputArtifactKey"])}
                artifact["taskOutputArtifact"] = {"producerTask": task, "outputArtifactKey": key}
        if any(d in inner for d in other.get("dependentTasks", [])):
            other["dependentTasks"] = sorted({task if d in inner else d for d in other["dependentTasks"]})
    if outputs:
        component["dag"]["outputs"] = {"artifacts": outputs}
    for kind in ("artifacts", "parameters"):
        if definitions[kind]:
            component.setdefault("inputDefinitions", {})[kind] = definitions[kind]
            outer.setdefault("inputs", {})[kind] = ins[kind]
    if ups:
        outer["dependentTasks"] = sorted(ups)
    components[f"comp-{task}"] = component
    root[task] = outer


def _value(value):
    from google.protobuf import struct_pb2

    out = struct_pb2.Value()
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, (int, float)):
        out.number_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        out.list_value.extend(value)
    else:
        out.struct_value.update(value)
    return out


def _artifact(definition, schema_title: str) -> None:
    definition.artifact_type.schema_title = schema_title
    definition.artifact_type.schema_version = "0.0.1"


def _resources(resources, step: Step) -> None:
    res = step.resources
    if res.cpu_request:
        resources.cpu_request = float(parse_quantity(res.cpu_request, "cpu"))
        resources.resource_cpu_request = res.cpu_request
    if res.cpu_limit:
        resources.cpu_limit = float(parse_quantity(res.cpu_limit, "cpu"))
        resources.resource_cpu_limit = res.cpu_limit
    if res.memory_request:
        resources.memory_request = float(parse_quantity(res.memory_request, "memory")) / 1e9
        resources.resource_memory_request = res.memory_request
    if res.memory_limit:
        resources.memory_limit = float(parse_quantity(res.memory_limit, "memory")) / 1e9
        resources.resource_memory_limit = res.memory_limit
    if res.accelerator and res.accelerator_count:
        acc = resources.accelerator
        acc.resource_type = res.accelerator
        acc.resource_count = str(res.accelerator_count)
        acc.type = res.accelerator  # deprecated fields, still read by older backends
        acc.count = res.accelerator_count


def _platform(pipeline: Pipeline, step: Step) -> dict:
    kube: dict = {}
    if step.labels or step.annotations:
        meta = kube["podMetadata"] = {}
        if step.labels:
            meta["labels"] = dict(step.labels)
        if step.annotations:
            meta["annotations"] = dict(step.annotations)
    secrets = dict(step.secrets)
    if step.name in pipeline.data_pods.get("steps", ()) and "secret" in pipeline.data_pods:  # by reference
        secrets.update({key: (pipeline.data_pods["secret"], key) for key in ("AWS_ACCESS_KEY_ID",
                                                                           "AWS_SECRET_ACCESS_KEY")})
    if secrets:
        by_secret: dict[str, list] = {}
        for env, (secret, key) in secrets.items():
            by_secret.setdefault(secret, []).append({"envVar": env, "secretKey": key})
        kube["secretAsEnv"] = [{"keyToEnv": keys, "optional": False, "secretName": secret,
                                "secretNameParameter": {"runtimeValue": {"constant": secret}}}
                               for secret, keys in by_secret.items()]
    volumes = list(pipeline.volumes)
    if step.data_plan and pipeline.data_pods.get("cache"):
        volumes.append({"name": pipeline.data_pods["cache"], "mount_point": DATA_CACHE_MOUNT})
    if volumes:
        kube["pvcMount"] = [{"constant": v["name"], "mountPath": v["mount_point"],
                             "pvcNameParameter": {"runtimeValue": {"constant": v["name"]}}} for v in volumes]
    return kube


def _data_env(container, pipeline: Pipeline, step: Step) -> None:
    """A step that uses datasets: where the store is (``$KF_DATA_STORE``) and who writes (the producer)."""
    if step.name in pipeline.data_pods.get("steps", ()):
        for name, value in pipeline.data_pods.get("env", {}).items():
            container.env.add(name=name, value=value)
        container.env.add(name="KF_PIPELINE_STEP", value=f"{pipeline.name}/{step.name}")


def to_yaml(spec: dict, platform: dict | None = None) -> str:
    """The IR as kfp writes it: keys sorted, a comment header, the platform spec as a second document."""
    import yaml

    dumper = _dumper(yaml)
    info = spec.get("pipelineInfo", {})
    params = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    head = ["# PIPELINE DEFINITION", f"# Name: {info.get('name', '')}"]
    if info.get("description"):
        head.append(f"# Description: {info['description']}")
    if params:
        head.append("# Inputs:")
        head += [
            f"#    {k}: {v['parameterType']} [Default: {v.get('defaultValue')!r}]" for k, v in sorted(params.items())
        ]
    text = "\n".join(head) + "\n" + yaml.dump(spec, Dumper=dumper, sort_keys=True, width=120)
    if platform:
        text += "---\n" + yaml.dump(platform, Dumper=dumper, sort_keys=True, width=120)
    return text


_DUMPER = None


def _dumper(yaml):
    """A safe dumper (libyaml's when present) that writes code as readable literal blocks."""
    global _DUMPER
    if _DUMPER is None:
        base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

        class Dumper(base):
            pass

        def text(dumper, data):
            if "\n" in data:
                return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
            return dumper.represent_scalar("tag:yaml.org,2002:str", data)

        Dumper.add_representer(str, text)
        _DUMPER = Dumper
    return _DUMPER
