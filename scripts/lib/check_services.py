"""Real round trips against the test servers: `scripts/services.sh check` runs this.

etcd: put then get through its v3 JSON gateway. Kafka: create a topic, produce one record, read it
back in a consumer group. S3: create a bucket, put and get an object. Reads SPEND_TEST_ETCD,
SPEND_TEST_KAFKA and SPEND_TEST_S3 (scripts/services.sh env). Exits 1 on the first failure.
"""

import base64
import json
import os
import sys
import time
import urllib.request
import uuid

TAG = uuid.uuid4().hex[:12]


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def etcd(url: str) -> None:
    def call(path: str, body: dict) -> dict:
        req = urllib.request.Request(
            url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.load(resp)

    key = f"/spend-check/{TAG}"
    call("/v3/kv/put", {"key": b64(key), "value": b64("ok")})
    got = call("/v3/kv/range", {"key": b64(key)})
    value = base64.b64decode(got["kvs"][0]["value"]).decode()
    assert value == "ok", got
    call("/v3/kv/deleterange", {"key": b64(key)})
    print(f"etcd  {url}: put/get ok (revision {got['header']['revision']})")


def kafka(bootstrap: str) -> None:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"spend-check-{TAG}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(10)

    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, key=b"card-1", value=b"hello")
    assert producer.flush(10) == 0, "produce not acknowledged"

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"spend-check-{TAG}",
            "auto.offset.reset": "earliest",
            # tansu holds a JoinGroup for half the session timeout before it answers: with
            # librdkafka's default 45 s that is ~23 s per join, with 6 s it is ~3 s.
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise RuntimeError(msg.error())
            assert (msg.key(), msg.value()) == (b"card-1", b"hello"), msg
            consumer.commit(msg, asynchronous=False)
            break
        else:
            raise RuntimeError("no record consumed within 30 s")
    finally:
        consumer.close()
    admin.delete_topics([topic])[topic].result(10)
    print(f"kafka {bootstrap}: create topic/produce/group consume/commit/delete topic ok ({topic})")


def s3(url: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"spend-check-{TAG}"
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="a.csv", Body=b"id,amount\n1,2.50\n")
    body = client.get_object(Bucket=bucket, Key="a.csv")["Body"].read()
    assert body == b"id,amount\n1,2.50\n", body
    client.delete_object(Bucket=bucket, Key="a.csv")
    client.delete_bucket(Bucket=bucket)
    print(f"s3    {url}: bucket/put/get ok")


def main() -> int:
    checks = [
        (etcd, "SPEND_TEST_ETCD"),
        (kafka, "SPEND_TEST_KAFKA"),
        (s3, "SPEND_TEST_S3"),
    ]
    for check, var in checks:
        started = time.monotonic()
        try:
            check(os.environ[var])
            print(f"      ({time.monotonic() - started:.1f} s)")
        except Exception as e:  # report which server failed, then stop
            print(f"check failed: {check.__name__} at {os.environ.get(var)}: {e!r}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
