#!/usr/bin/env python3
"""Reads spend's Kafka topics the way an outside team would: confluent-kafka and fastavro, with the
writer schemas fetched from the ingestor's `GET /v1/schemas`, and nothing from this code base.

Every record must be Avro single-object encoded (C3 01, an 8-byte little-endian CRC-64-AVRO
fingerprint, the body) with a fingerprint that fastavro computes itself from a published schema;
it must decode with that schema, be keyed by the card id its value holds, and carry no full PAN
(no run of 13 to 19 digits anywhere in its key or bytes, and a masked `card_pan`).

    avro_topics.py --bootstrap HOST:PORT --schemas-url URL --topic NAME=SCHEMA... [--expect NAME=N...]

Reads each topic from the start until it has been quiet for --idle seconds (or has --expect
records), prints a JSON summary, and exits 1 naming every record that failed a check.
"""

import argparse
import io
import json
import re
import sys
import time
import urllib.request

import fastavro
from confluent_kafka import Consumer, TopicPartition

MARKER = b"\xc3\x01"
FULL_PAN = re.compile(rb"(?<![0-9])[0-9]{13,19}(?![0-9])")
MASKED_PAN = re.compile(r"^[0-9]{6}\*{3,9}[0-9]{4}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def fetch_json(url):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def load_schemas(schemas_url):
    """Published schemas by fingerprint (as fastavro computes it) and by name."""
    index = fetch_json(schemas_url)
    base = schemas_url.rsplit("/v1/schemas", 1)[0]
    by_fingerprint, by_name = {}, {}
    for entry in index["schemas"]:
        raw = fetch_json(base + entry["url"])
        parsed = fastavro.parse_schema(raw)
        canonical = fastavro.schema.to_parsing_canonical_form(raw)
        fingerprint = fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
        if fingerprint != entry["fingerprint"]:
            raise SystemExit(
                f"schema {entry['name']}: the server says fingerprint {entry['fingerprint']}, "
                f"fastavro computes {fingerprint}"
            )
        header = MARKER + bytes.fromhex(fingerprint)
        if header.hex() != entry["header"]:
            raise SystemExit(f"schema {entry['name']}: header {entry['header']} is not {header.hex()}")
        by_fingerprint[header[2:]] = (entry["name"], parsed)
        by_name[entry["name"]] = parsed
    return by_fingerprint, by_name


def card_of(name, value):
    transaction = value.get("transaction") if name == "dead_letter" else value
    if transaction is None:
        return None, None
    return transaction.get("card_id"), transaction.get("card_pan")


def check(topic, name, message, schemas, problems):
    where = f"{topic}[{message.partition()}]@{message.offset()}"
    key, payload = message.key() or b"", message.value() or b""
    for what, data in (("key", key), ("value", payload)):
        if FULL_PAN.search(data):
            problems.append(f"{where}: a run of 13-19 digits in the {what}")
    if payload[:2] != MARKER or len(payload) < 10:
        problems.append(f"{where}: not avro single-object encoded")
        return None
    writer = schemas.get(payload[2:10])
    if writer is None:
        problems.append(f"{where}: fingerprint {payload[2:10].hex()} is not published")
        return None
    writer_name, schema = writer
    if writer_name != name:
        problems.append(f"{where}: written with schema {writer_name}, expected {name}")
        return None
    try:
        value = fastavro.schemaless_reader(io.BytesIO(payload[10:]), schema, None)
    except Exception as e:  # noqa: BLE001 - any decoding failure is the finding
        problems.append(f"{where}: does not decode: {e}")
        return None
    card, pan = card_of(name, value)
    if card is None or not UUID.match(card):
        problems.append(f"{where}: no card_id in the value")
    elif key.decode("utf-8", "replace") != card:
        problems.append(f"{where}: key {key!r} is not the value's card_id {card}")
    if pan is not None and not MASKED_PAN.match(pan):
        problems.append(f"{where}: card_pan is not masked")
    return value


def read_topic(bootstrap, topic, expect, idle):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"avro-topics-{time.time_ns()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = metadata.topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    messages, last = [], time.monotonic()
    while time.monotonic() - last < idle and (expect is None or len(messages) < expect):
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error():
            raise SystemExit(f"{topic}: {message.error()}")
        messages.append(message)
        last = time.monotonic()
    consumer.close()
    return messages


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--schemas-url", required=True, help="http://HOST:PORT/v1/schemas")
    parser.add_argument("--topic", action="append", required=True, help="TOPIC=SCHEMA_NAME")
    parser.add_argument("--expect", action="append", default=[], help="TOPIC=RECORDS")
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args()

    schemas, _ = load_schemas(args.schemas_url)
    expect = dict(e.split("=", 1) for e in args.expect)
    summary, problems = {"schemas": sorted(n for n, _ in schemas.values()), "topics": {}}, []
    for spec in args.topic:
        topic, name = spec.split("=", 1)
        want = int(expect[topic]) if topic in expect else None
        messages = read_topic(args.bootstrap, topic, want, args.idle)
        decoded, cards = 0, set()
        for message in messages:
            value = check(topic, name, message, schemas, problems)
            if value is not None:
                decoded += 1
                cards.add(card_of(name, value)[0])
        summary["topics"][topic] = {"schema": name, "records": len(messages), "decoded": decoded,
                                    "cards": len(cards)}
        if want is not None and len(messages) != want:
            problems.append(f"{topic}: {len(messages)} records, expected {want}")
    summary["problems"] = problems
    json.dump(summary, sys.stdout, indent=2)
    print()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
