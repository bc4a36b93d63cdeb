"""Multipart reassembly from tables: order, duplicates, interleaved senders, the timeout."""

from __future__ import annotations

import pytest

from gateway.inbound.reassembly import MISSING, Piece, Reassembler

KEY = ("sim1", "+447700900123", 42, 3)


def add(reassembler, key, part_id: int, seq: int, text: str, now: float):
    """Part `seq` of the long SMS `key` (modem, sender, reference, total), stored as `part_id`."""
    modem, sender, reference, total = key
    return reassembler.add((modem, sender), Piece(reference, total, seq, part_id, text), now)


def feed(reassembler, seqs, key=KEY, now=0.0):
    out = []
    for i, seq in enumerate(seqs):
        done = add(reassembler, key, 100 + i, seq, f"<{seq}>", now)
        if done:
            out.append(done)
    return out


@pytest.mark.parametrize("order", [(1, 2, 3), (3, 2, 1), (2, 3, 1), (1, 1, 2, 3), (3, 3, 3, 1, 2)])
def test_any_order_and_duplicates_make_one_message(order):
    """The message comes out once, at the part that completes it; each position keeps the part that
    came first (a repeat carries other text here, so a repeat that replaced it would show), and the
    repeats' ids are kept with it."""
    reassembler = Reassembler(timeout=60)
    seen: set[int] = set()
    first_ids, repeat_ids, outcomes = {}, [], []
    for i, seq in enumerate(order):
        part_id = 100 + i
        repeat = seq in seen
        seen.add(seq)
        if repeat:
            repeat_ids.append(part_id)
        else:
            first_ids[seq] = part_id
        outcomes.append(add(reassembler, KEY, part_id, seq, f"<{seq}{'again' if repeat else ''}>", 0.0))
    completing = max(order.index(seq) for seq in (1, 2, 3))  # the index where the last missing part came
    assert [o is not None for o in outcomes] == [i == completing for i in range(len(order))]
    done = outcomes[completing]
    assert done.complete and done.text == "<1><2><3>"
    assert [p.part_id for p in done.pieces] == [first_ids[1], first_ids[2], first_ids[3]]
    assert list(done.duplicates) == repeat_ids
    assert sorted(done.part_ids) == [100 + i for i in range(completing + 1)]  # none lost, none twice
    assert len(reassembler) == 0


def test_same_reference_from_other_senders_or_modems_stays_apart():
    reassembler = Reassembler(timeout=60)
    other_sender = ("sim1", "+447700900999", 42, 3)
    other_modem = ("sim2", "+447700900123", 42, 3)
    other_total = ("sim1", "+447700900123", 42, 2)
    for key in (KEY, other_sender, other_modem, other_total):
        assert not feed(reassembler, [1], key)
    assert len(reassembler) == 4
    assert feed(reassembler, [2], other_total)[0].text == "<1><2>"


def test_missing_parts_are_given_up_after_the_timeout_with_a_marker():
    reassembler = Reassembler(timeout=60)
    feed(reassembler, [1, 3], now=100.0)
    assert reassembler.next_deadline() == 160.0
    assert reassembler.expired(159.9) == []
    (late,) = reassembler.expired(160.0)
    assert not late.complete and late.text == f"<1>{MISSING}<3>" and len(late.pieces) == 2
    assert len(reassembler) == 0 and reassembler.next_deadline() is None


@pytest.mark.parametrize("seq", [0, 4, -1])
def test_a_part_that_cannot_belong_is_delivered_alone(seq):
    done = add(Reassembler(timeout=60), KEY, 7, seq, "odd", 0.0)
    assert done is not None and not done.complete and done.text.startswith("odd")


def test_the_same_stored_part_given_again_is_held_once():
    """After a failure the pipeline takes every unprocessed part again, also those still waiting here."""
    reassembler = Reassembler(timeout=60)
    first = Piece(42, 2, 1, 7, "Hello ")
    assert reassembler.add(KEY[:2], first, 0.0) is None
    assert reassembler.add(KEY[:2], first, 5.0) is None
    done = add(reassembler, KEY[:3] + (2,), 8, 2, "there", 6.0)
    assert done.text == "Hello there" and done.part_ids == (7, 8)  # each stored part once
