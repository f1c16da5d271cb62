"""MQTT 3.1.1 and 5 on asyncio: a sans-IO wire codec (:mod:`.codec`), one
client connection as an ``asyncio.Protocol`` (:mod:`.connection`) and the
device-fleet metrics (:mod:`.metrics`). A connection costs a few kilobytes,
which is what lets one process hold tens of thousands of devices (the
measurements behind not using an MQTT client library are in docs/mqtt.md)."""
