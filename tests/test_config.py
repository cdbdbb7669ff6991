import json

from jupyter_kf import config


def test_jupyter_config_file_and_env(tmp_path, monkeypatch):
    (tmp_path / "jupyter_kf_config.json").write_text(json.dumps({"KfConfig": {"payload_limit": "64Mi", "cpu": "2"}}))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    config.reset()
    cfg = config.get()
    assert (cfg.payload_limit, cfg.cpu) == ("64Mi", "2")
    assert cfg.backend == "local"  # the env var (set by conftest) wins over files
    assert str(cfg.jobs_dir).startswith(str(tmp_path))


def test_python_config_file(tmp_path, monkeypatch):
    (tmp_path / "jupyter_kf_config.py").write_text("c.KfConfig.memory = '3Gi'\nc.KfConfig.log_lines = 50\n")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    config.reset()
    assert (config.get().memory, config.get().log_lines) == ("3Gi", 50)


def test_config_defaults_reach_jobs_and_flags_override(tmp_path, monkeypatch):
    from jupyter_kf.training import api

    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    (tmp_path / "jupyter_kf_config.json").write_text(json.dumps({"KfConfig": {"memory": "2Gi", "cpu": "1"}}))
    config.reset()
    dry = api.train("x = 1", name="cfg", user_ns={}, dry_run=True)
    assert (dry.spec.memory, dry.spec.cpu) == ("2Gi", "1")
    dry = api.train("x = 1", name="cfg", user_ns={}, memory="4Gi", dry_run=True)
    assert dry.spec.memory == "4Gi"
