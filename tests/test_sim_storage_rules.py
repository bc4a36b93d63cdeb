"""The SMS-memory rules of modem.sim_storage and when the supervisor sweeps, table-tested (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modem import sim_storage
from modem.pdu import encode_deliver
from modem.supervisor import sweep_due

PDU = encode_deliver("+447700900555", "hello", datetime(2026, 12, 1, tzinfo=UTC), smsc="+447785016005")[0]
LENGTH = sim_storage.tpdu_length(PDU)


@pytest.mark.parametrize(("line", "primary", "swept"), [
    ('+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")', "SM", ("SM", "SR")),
    ('+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM","SR"),("ME","MT","SM","SR")', "SM", ("SM", "SR")),
    ('+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")', "SM", ("SM",)),
    ('+CPMS: ("ME","SR"),("ME"),("ME")', "ME", ("ME", "SR")),  # no SIM storage offered
    ('+CPMS: ("SM_P","ME_P"),("SM_P","ME_P"),("SM_P","ME_P")', "SM_P", ("SM_P",)),
    ('+CPMS: "ME","ME","ME"', "ME", ("ME",)),  # one memory each, without parentheses
    (None, "SM", ("SM",)),
    ("+CPMS: garbage", "SM", ("SM",)),
])
def test_storages_from_cpms_test(line, primary, swept):
    chosen = sim_storage.choose(sim_storage.parse_cpms_test(line))
    assert (chosen.primary, chosen.swept) == (primary, swept)


@pytest.mark.parametrize(("line", "used", "total"), [
    ('+CPMS: "SR",1,30,"SM",4,30,"SM",4,30', 4, 30),  # mem1 left on SR by a read: mem3 counts
    ("+CPMS: 2,30,2,30,2,30", 2, 30),
    ('+CPMS: "SM",3,30', 3, 30),
    ("+CPMS: nonsense", None, None),
])
def test_receiving_memory_from_cpms_read(line, used, total):
    usage = sim_storage.receiving(sim_storage.parse_cpms_read(line))
    assert ((usage.used, usage.total) if usage else (None, None)) == (used, total)


@pytest.mark.parametrize(("line", "slot"), [
    ('+CMTI: "SM",3', ("SM", 3)), ('+CDSI: "SR",0', ("SR", 0)), ("+CMTI: 5", (None, 5)),
    ('+CMTI: "sm",12', ("SM", 12)), ('+CMTI: "SM",', None), ("+CMTI:", None),
])
def test_stored_urc(line, slot):
    assert sim_storage.parse_stored_urc(line) == slot


@pytest.mark.parametrize(("line", "full"), [
    ('+CIEV: "SMSFULL",1', True), ('+CIEV: "SMSFULL",0', False), ('+CIEV: "MESSAGE",1', False),
    ('+QIND: "smsfull","SM"', True), ("+QIND: SMS DONE", False), ('^SMMEMFULL: "SM"', True),
    ("^SMMEMFULL", True), ("RING", False),
])
def test_full_signals(line, full):
    assert sim_storage.is_full_signal(line) is full


def test_listing_pairs_each_header_with_its_own_pdu():
    lines = [f"+CMGL: 1,0,,{LENGTH}", "^CSNR: -90,-5", PDU, f"+CMGL: 2,1,,{LENGTH}", f"+CMGL: 3,1,,{LENGTH}",
             "ABCD", PDU.lower()]
    entries = sim_storage.pair_listing(lines, "+CMGL:", "SM")
    assert [(e.index, e.raw) for e in entries] == [(1, PDU), (3, PDU)]  # slot 2 had no PDU: left alone


def test_cmgr_of_an_empty_slot_is_nothing():
    assert sim_storage.pair_listing(["+CMGR: 0,,0", "00"], "+CMGR:", "SM", 4) == []
    [entry] = sim_storage.pair_listing([f"+CMGR: 0,,{LENGTH}", PDU], "+CMGR:", "SR", 4)
    assert (entry.storage, entry.index, entry.raw) == ("SR", 4, PDU)


@pytest.mark.parametrize(("asked", "wanted", "fresh_used", "left", "retry_time", "due"), [
    (False, False, None, 0, False, False),  # an ordinary check
    (False, False, 3, 3, False, False),  # the SIM holds what the last sweep left: no AT+CMGL
    (False, False, None, 3, False, False),  # a count from an earlier check says nothing new
    (False, False, 4, 3, False, True),  # one more than was left: a +CMTI we never saw
    (False, False, 3, 3, True, True),  # now and then, for what a handler refused
    (False, True, None, 0, False, True),  # a memory-full signal
    (True, False, None, 0, False, True),  # asked
])
def test_when_a_sweep_is_due(asked, wanted, fresh_used, left, retry_time, due):
    assert sweep_due(asked=asked, wanted=wanted, fresh_used=fresh_used, left=left, retry_time=retry_time) is due
