"""GET /metrics: Prometheus text format (queue depth, per-SIM sends, signal, limits, webhooks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response
from sqlalchemy import func, select

from gateway.outbound.models import Message, MessageStatus, Part
from web.api.core import Api, Call

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def register(api: Api) -> None:
    @api.operation("GET", "/metrics", summary="Prometheus metrics", tag="meta", scopes=("read",),
                   response_type="text/plain", responses={200: ("Prometheus text exposition format", {"type": "string"})})
    def get_metrics(call: Call) -> Response:
        out = Exposition()
        depth = call.ctx.queue.depth()
        out.family("gsmgw_queue_messages", "gauge", "Messages by state",
                   [({"status": s}, depth.get(s, 0)) for s in sorted(MessageStatus.ALL)])
        with call.ctx.sessions() as session:
            per_sim = session.execute(select(Message.sim, Message.status, func.count())
                                      .where(Message.sim.is_not(None)).group_by(Message.sim, Message.status)).all()
            parts = session.execute(select(Part.modem, func.count()).where(Part.sent_at.is_not(None))
                                    .group_by(Part.modem)).all()
        sent: dict[str, int] = {}
        failed: dict[str, int] = {}
        for sim, status, count in per_sim:
            if status in (MessageStatus.SENT, MessageStatus.DELIVERED):
                sent[sim] = sent.get(sim, 0) + count
            elif status == MessageStatus.FAILED:
                failed[sim] = failed.get(sim, 0) + count
        out.family("gsmgw_sim_messages_sent", "gauge", "Messages sent (or delivered) per SIM",
                   [({"sim": s}, n) for s, n in sorted(sent.items())])
        out.family("gsmgw_sim_messages_failed", "gauge", "Messages failed per SIM",
                   [({"sim": s}, n) for s, n in sorted(failed.items())])
        out.family("gsmgw_sim_parts_sent_total", "counter", "SMS parts accepted by the network per SIM",
                   [({"sim": m}, n) for m, n in sorted(parts) if m])
        modems = call.ctx.modems()
        out.family("gsmgw_modem_up", "gauge", "1 when the modem is ready to send",
                   [({"sim": m["name"], "state": m["state"]}, int(m["state"] == "ready")) for m in modems])
        out.family("gsmgw_modem_signal_bars", "gauge", "Signal, 0-5 bars",
                   [({"sim": m["name"]}, m["signal"]["bars"]) for m in modems if m.get("signal")])
        out.family("gsmgw_modem_signal_dbm", "gauge", "Signal in dBm",
                   [({"sim": m["name"]}, m["signal"]["dbm"]) for m in modems
                    if m.get("signal") and m["signal"].get("dbm") is not None])
        out.family("gsmgw_sim_limit_used", "gauge", "Parts sent in the rolling window",
                   [({"sim": m["name"], "window": w}, v["used"]) for m in modems for w, v in m["limits"].items()])
        out.family("gsmgw_sim_limit_cap", "gauge", "The window's cap in parts",
                   [({"sim": m["name"], "window": w}, v["cap"]) for m in modems for w, v in m["limits"].items()])
        counts = call.ctx.webhooks.counts()
        out.family("gsmgw_webhook_deliveries", "gauge", "Webhook deliveries by state",
                   [({"status": s}, counts.get(s, 0)) for s in ("pending", "delivered", "failed", "cancelled")])
        out.family("gsmgw_webhook_attempt_failures_total", "counter", "Webhook attempts that failed",
                   [({}, call.ctx.webhooks.failed_attempts())])
        out.family("gsmgw_api_auth_failures_total", "counter", "Failed API authentications since start",
                   [({}, api.limiter.total)])
        return Response(out.text(), mimetype="text/plain", content_type=CONTENT_TYPE)


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], Any]]) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
