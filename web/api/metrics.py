"""GET /metrics: the gateway's Prometheus registry (counters kept as the work happens, indexed
gauges, build and process metrics) and what the web side knows (modems, API auth failures).

`[web] metrics_public = true` serves it without a key, for a Prometheus on the LAN."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from web.api.core import Api, Call

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text format every Prometheus reads


def register(api: Api) -> None:
    web = CollectorRegistry()
    web.register(WebSide(api))
    scopes = None if api.ctx.config.web.metrics_public else ("read",)

    @api.operation("GET", "/metrics", summary="Prometheus metrics", tag="meta", scopes=scopes,
                   response_type="text/plain", responses={200: ("Prometheus text exposition format", {"type": "string"})})
    def get_metrics(call: Call) -> Response:
        assert call.ctx.metrics is not None  # WebContext makes one
        body = generate_latest(call.ctx.metrics.registry) + generate_latest(web)
        return Response(body, content_type=CONTENT_TYPE)


class WebSide(Collector):
    """The modems as the daemon describes them (in memory) and the API's failed authentications."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def collect(self) -> Iterator[Metric]:
        modems: list[dict[str, Any]] = self.api.ctx.modems()
        up = GaugeMetricFamily("gsmgw_modem_up", "1 when the modem is ready to send", labels=["sim", "state"])
        bars = GaugeMetricFamily("gsmgw_modem_signal_bars", "Signal, 0-5 bars", labels=["sim"])
        dbm = GaugeMetricFamily("gsmgw_modem_signal_dbm", "Signal in dBm", labels=["sim"])
        used = GaugeMetricFamily("gsmgw_sim_limit_used", "Parts sent in the rolling window", labels=["sim", "window"])
        cap = GaugeMetricFamily("gsmgw_sim_limit_cap", "The window's cap in parts", labels=["sim", "window"])
        for m in modems:
            up.add_metric([m["name"], m["state"]], int(m["state"] == "ready"))
            signal = m.get("signal") or {}
            if signal:
                bars.add_metric([m["name"]], signal["bars"])
            if signal.get("dbm") is not None:
                dbm.add_metric([m["name"]], signal["dbm"])
            for window, v in m.get("limits", {}).items():
                used.add_metric([m["name"], window], v["used"])
                cap.add_metric([m["name"], window], v["cap"])
        yield from (up, bars, dbm, used, cap)
        yield CounterMetricFamily("gsmgw_api_auth_failures", "Failed API authentications since start",
                                  value=self.api.limiter.total)

    def describe(self) -> list[Metric]:
        return []  # read at scrape only
