"""SMS PDU encode/decode (TS 23.040), pure functions with no I/O.

Septet packing and semi-octet digits come from python-gsmmodem; everything it gets wrong for us is
done here instead: strict phone numbers (it silently turns "+44 7700" into an alphanumeric address),
caller-chosen 8/16-bit concatenation references, emoji and surrogate pairs, and decoding that raises
`MalformedPdu` for garbage instead of IndexError/StopIteration/TypeError. `records.py` holds what
both directions share, `encode.py` and `decode.py` one direction each.
"""

from modem.pdu.decode import decode
from modem.pdu.encode import encode_deliver, encode_status_report, encode_submit, new_concat_reference
from modem.pdu.records import DATA8, Concat, Deliver, StatusReport, Submit, SubmitPart

__all__ = [
    "DATA8", "Concat", "Deliver", "StatusReport", "Submit", "SubmitPart",
    "decode", "encode_deliver", "encode_status_report", "encode_submit", "new_concat_reference",
]
