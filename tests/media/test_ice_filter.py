"""ICE checks from outside the allowed networks are ignored: no answer, no new pair."""

import ipaddress

import aioice
from aioice import stun

from townhall.media.webrtc.whip import accept_only


class RecordingProtocol:
    """Stands in for aioice's UDP protocol: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.local_candidate = None

    def send_stun(self, message: stun.Message, addr: tuple[str, int]) -> None:
        self.sent.append((bytes(message), addr))


def binding_request(connection: aioice.Connection) -> stun.Message:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = f"{connection.local_username}:remote"
    request.attributes["PRIORITY"] = 1
    request.attributes["ICE-CONTROLLING"] = 1
    request.add_message_integrity(connection.local_password.encode())
    request.add_fingerprint()
    return request


def test_checks_from_disallowed_networks_get_no_answer() -> None:
    accept_only([ipaddress.ip_network("127.0.0.0/8")])
    try:
        connection = aioice.Connection(ice_controlling=False)
        connection.remote_username = "remote"
        connection.remote_password = "remotepassword1234567890"
        protocol = RecordingProtocol()
        connection.request_received(binding_request(connection), ("203.0.113.7", 4000), protocol)
        assert protocol.sent == []
        connection.request_received(binding_request(connection), ("127.0.0.1", 4000), protocol)
        assert [addr for _, addr in protocol.sent] == [("127.0.0.1", 4000)]
    finally:
        accept_only(None)
