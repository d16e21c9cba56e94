import json
import logging

from townhall.logs import JsonFormatter


def test_json_lines_carry_the_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "townhall.x", "levelno": logging.INFO, "levelname": "INFO",
         "msg": "speaker %s connected", "args": ("a",), "space": "abc", "user": 7}
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "speaker a connected"
    assert entry["level"] == "info" and entry["space"] == "abc" and entry["user"] == 7
