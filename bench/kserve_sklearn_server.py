"""KServe's own Python model server (the ``kserve`` package) serving a joblib sklearn model, the way
KServe's sklearnserver does it. Runs in its own venv (``.venv-kserve``: kserve pins many packages).

    .venv-kserve/bin/python bench/kserve_sklearn_server.py MODEL_DIR NAME PORT
"""
import sys

import joblib
import kserve
from kserve.utils.utils import get_predict_input, get_predict_response


class SKLearnModel(kserve.Model):  # as kserve/python/sklearnserver/sklearnserver/model.py
    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = model_dir

    def load(self) -> bool:
        self._model = joblib.load(f"{self.model_dir}/model.joblib")
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None, response_headers=None):
        instances = get_predict_input(payload)
        return get_predict_response(payload, self._model.predict(instances), self.name)


if __name__ == "__main__":
    model_dir, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = SKLearnModel(name, model_dir)
    model.load()
    kserve.ModelServer(http_port=port, enable_grpc=False, workers=1, enable_latency_logging=False,
                       access_log_format=None).start([model])
