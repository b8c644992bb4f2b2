"""Reading ``GET /metrics`` as Prometheus does: prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from support import Api, token

#: The names a family's samples take, by its type.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "info": ("_info",),
}


class Scrape:
    """One scrape: each sample's value by name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in self.families.values():
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append((sample.labels, sample.value))

    def find(self, name: str, **labels: str) -> list[float]:
        """The values of the samples called ``name`` that have these labels."""
        return [v for have, v in self.samples.get(name, []) if labels.items() <= have.items()]

    def value(self, name: str, **labels: str) -> float:
        """The one sample's value (an AssertionError if there is none, or several)."""
        found = self.find(name, **labels)
        assert len(found) == 1, f"{name}{labels}: {found} among {self.samples.get(name)}"
        return found[0]

    def labels(self, name: str, **labels: str) -> dict[str, str]:
        """The whole label set of the one sample ``name`` with these labels."""
        found = [have for have, _ in self.samples.get(name, []) if labels.items() <= have.items()]
        assert len(found) == 1, f"{name}{labels}: {found}"
        return found[0]

    def names(self) -> set[str]:
        """Every sample name a family of this scrape may have, samples or not."""
        out = set()
        for family in self.families.values():
            out.add(family.name)
            out.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        return out


async def scrape(base_url: str) -> Scrape:
    """``GET /metrics`` with a server-wide operator token."""
    async with Api.open(base_url, token("*", "admin")) as operator:
        response = await operator.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)
