"""NotebookSpec: every flag checked once, at the edge, with one line naming what is accepted."""
import pytest

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.notebooks.spec import NotebookSpec, Workspace


def test_the_issue_example_is_accepted_and_normalised():
    spec = NotebookSpec.create("big-gpu", gpus="1", cpu=8, memory="32Gi", image="quay.io/jupyter/pytorch-notebook:cuda12-2025-03-14",
                               workspace="50Gi", data_volumes=["datasets:/data", "pvc:models:/models/"],
                               configurations="access-ml-pipeline, add-gcp-secret")
    assert (spec.gpus, spec.cpu, spec.memory, spec.gpu_vendor) == (1, "8", "32Gi", "nvidia.com/gpu")
    assert spec.workspace == Workspace(size="50Gi")
    assert spec.data_volumes == (("datasets", "/data"), ("models", "/models"))
    assert spec.configurations == ("access-ml-pipeline", "add-gcp-secret")
    assert NotebookSpec.from_dict(spec.to_dict()) == spec


def test_defaults_follow_the_kubeflow_spawner():
    spec = NotebookSpec.create("nb")
    assert (spec.cpu, spec.memory, spec.workspace.size, spec.gpus, spec.shm, spec.timeout) == ("0.5", "1Gi", "5Gi", 0, True, 300)
    assert NotebookSpec.create("nb", workspace="none").workspace.enabled is False
    assert NotebookSpec.create("nb", workspace="pvc:my-home").workspace == Workspace(size=None, claim="my-home")
    assert NotebookSpec.create("nb", timeout="90").timeout == 90


@pytest.mark.parametrize("kwargs,expected", [
    ({"name": "Big_GPU"}, "notebook server name 'Big_GPU' is invalid"),
    ({"gpus": "one"}, "--gpus 'one' is not a whole number"),
    ({"gpus": -1}, "--gpus -1 is too small"),
    ({"cpu": "eight"}, "--cpu 'eight' is not a Kubernetes quantity"),
    ({"cpu": "0"}, "--cpu '0' must be more than zero"),
    ({"memory": "32GB"}, "(Kubernetes writes gigabytes as 1Gi or 1G, not 1GB)"),
    ({"memory": "32"}, "--memory '32' is below 1Mi: did you mean 32Gi?"),
    ({"image": "Jupyter Lab:latest"}, "--image 'Jupyter Lab:latest' is not an image reference"),
    ({"image": "ghcr.io/org/img:"}, "is not an image reference"),
    ({"workspace": "lots"}, "--workspace 'lots' is malformed: use a size (50Gi), pvc:CLAIM"),
    ({"data_volumes": ["datasets"]}, "--data-volume 'datasets' is malformed: use CLAIM:/absolute/path"),
    ({"data_volumes": ["datasets:data"]}, "use CLAIM:/absolute/path"),
    ({"data_volumes": ["a:/data", "b:/data"]}, "two volumes are mounted at /data"),
    ({"data_volumes": ["a:/dev/shm"]}, "/dev/shm is taken"),
    ({"data_volumes": ["Data_Sets:/data"]}, "--data-volume claim name 'Data_Sets' is invalid"),
    ({"gpu_vendor": "nvidia"}, "--gpu-vendor 'nvidia' is not a resource name"),
    ({"configurations": ["bad label!"]}, "is not a PodDefault label"),
    ({"kind": "deployment"}, "--kind 'deployment' is unknown"),
    ({"env": ["NO_EQUALS"]}, "--env 'NO_EQUALS' has no '='"),
    ({"timeout": "soon"}, "timeout 'soon' is not a duration"),
])
def test_bad_input_is_one_line_naming_the_accepted_form(kwargs, expected):
    kwargs = {"name": "nb", **kwargs}
    with pytest.raises(InvalidSpec) as err:
        NotebookSpec.create(**kwargs)
    assert expected in str(err.value) and "\n" not in str(err.value)
