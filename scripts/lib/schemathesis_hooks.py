"""Schemathesis hooks for scripts/schemathesis.sh: the few rules the server enforces that a JSON
Schema cannot state, applied to generated requests that fit the schema, so that the check
"schema-valid request accepted" tests what the documents can promise and nothing else.

Each hook only changes a value that already fits its schema (a request built to break the schema
keeps the part that breaks it), and each rule is also stated in the document's text:

- informer: `from` not after `to` (two parameters); a `cursor` carries a check and the card it was
  issued for (store/src/reward_store/cursor.rs), so a schema-shaped one is re-issued for the
  path's card.
- ingestor: a `card_pan` passes the Luhn check (its last digit is made the check digit); a
  `transaction_date` is not after today + 1 day (a later one is moved to today).
- campaignex: an amount in a condition fits a 96-bit decimal (said in the document's text: a JSON
  integer at most 2^96 - 1, OpenAPI tools reading numbers as 64-bit cannot read it as a `maximum`;
  a string's digits, fraction included, likewise), so a larger one in a schema-valid request is
  cut below it; a start date not after the end date (two fields), a pair `[lo, hi]` of a
  condition with lo ≤ hi (two values); a `PUT /v1/<res>/{id}` body's key,
  if given, is the path's; `PUT /v1/config` lists no key twice and its campaigns and exclusions
  name programs it holds; a campaign or exclusion posted alone names programs that exist, so those
  are created first (state, like the 404 and 409 the check already allows).

- ingestor: an S3 batch reads an object that exists (state, like a 404): it is put into
  `spend dev`'s S3 first (a header-only CSV).

Two generator artefacts are also undone, so that what is sent is what the schema meant:
- a JSON number with an integral value is sent as an integer (JSON Schema counts `147.0` as an
  integer; the server reads a number from its literal text, where `147.0` is not one);
- Schemathesis' coverage phase sends header values of letters and digits only, and when a header's
  pattern needs other characters (an ETag is quoted) it sends `0` and still calls the case
  schema-valid: such a case is dropped.

SPEND_SCHEMATHESIS_URL, SPEND_SCHEMATHESIS_ADMIN_TOKEN and SPEND_SCHEMATHESIS_DATA_DIR (the
`spend dev` data directory) say where to create things.
"""

import base64
import datetime
import decimal
import hashlib
import os
import re
import shutil

import requests
import schemathesis

DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CURSOR = re.compile(r"^[A-Za-z0-9_-]{44}$")
PROGRAM = re.compile(r"^[a-z0-9_]{1,64}$")
KEYS = {"programs": "id", "fx-rates": "currency", "campaigns": "id", "exclusions": "id", "missions": "id"}
# The objects that name programs, by their resource (and `PUT /v1/config` list) name.
NAMING_PROGRAMS = ("campaigns", "exclusions", "missions")
WINDOWS = (("start_date", "end_date"), ("valid_from", "valid_until"))


def _date(value):
    if not isinstance(value, str) or not DATE.match(value):
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def _fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _fnv1a32(data):
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def _cursor_for(card, seed):
    """A cursor as the informer issues it for `card`, its position drawn from `seed`."""
    digest = hashlib.sha256(seed.encode()).digest()
    days = 1 + int.from_bytes(digest[:4], "big") % 3_652_059  # 0001-01-01 ..= 9999-12-31
    body = bytes([1]) + days.to_bytes(4, "big") + digest[4:20]
    body += _fnv1a64(bytes.fromhex(card.replace("-", ""))).to_bytes(8, "big")
    body += _fnv1a32(body).to_bytes(4, "big")
    return base64.urlsafe_b64encode(body).decode().rstrip("=")


def _number(value):
    try:
        return decimal.Decimal(str(value)) if not isinstance(value, bool) else None
    except (decimal.InvalidOperation, ValueError):
        return None


def _ordered_pair(pair):
    if isinstance(pair, list) and len(pair) == 2:
        low, high = _number(pair[0]), _number(pair[1])
        if low is not None and high is not None and low > high:
            pair.reverse()


def _ordered_conditions(conditions):
    for condition in conditions if isinstance(conditions, list) else []:
        if not isinstance(condition, dict):
            continue
        value = condition.get("value")
        if condition.get("op") == "between":
            _ordered_pair(value)
        elif condition.get("field") == "mcc" and isinstance(value, list):
            for item in value:
                _ordered_pair(item)


DECIMAL_MAX = 2**96 - 1
AMOUNT_TEXT = re.compile(r"^[0-9]{1,29}(\.[0-9]{1,2})?$")


def _bounded_amounts(value):
    """Every condition on an amount, anywhere in a body: JSON integers brought to <= 2^96 - 1."""
    if isinstance(value, list):
        return [_bounded_amounts(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _bounded_amounts(v) for k, v in value.items()}
    if out.get("field") in ("amount", "amount_sgd") and "value" in out:
        def clamp(v):
            if isinstance(v, list):
                return [clamp(x) for x in v]
            if isinstance(v, int) and not isinstance(v, bool) and v > DECIMAL_MAX:
                return v % (DECIMAL_MAX + 1)
            if isinstance(v, str) and AMOUNT_TEXT.match(v):
                whole, _, fraction = v.partition(".")
                if int(whole + fraction) > DECIMAL_MAX:
                    return whole[-(26 - len(fraction)):] + ("." + fraction if fraction else "")
            return v
        out["value"] = clamp(out["value"])
        _ordered_conditions([out])
    return out


def _ordered_window(obj):
    _ordered_conditions(obj.get("conditions"))
    for low_key, high_key in WINDOWS:
        low, high = _date(obj.get(low_key)), _date(obj.get(high_key))
        if low and high and low > high:
            obj[low_key], obj[high_key] = obj[high_key], obj[low_key]


def _programs_named(obj, kind):
    if kind in ("campaigns", "missions"):
        named = [obj.get("program")]
    else:
        named = obj.get("programs") if isinstance(obj.get("programs"), list) else []
    return [p for p in named if isinstance(p, str) and PROGRAM.match(p)]


def _consistent_config(body):
    """`PUT /v1/config`: each key once, and every program a campaign or exclusion names held."""
    lists = (("programs", "id"), ("fx_rates", "currency"), ("campaigns", "id"), ("exclusions", "id"), ("missions", "id"))
    for name, key in lists:
        items = body.get(name)
        if not isinstance(items, list):
            continue
        seen, kept = set(), []
        for item in items:
            k = item.get(key) if isinstance(item, dict) else None
            if isinstance(k, str):
                if k.lower() in seen:
                    continue
                seen.add(k.lower())
            kept.append(item)
        body[name] = kept
    for kind in NAMING_PROGRAMS:
        for obj in body.get(kind) or []:
            if isinstance(obj, dict):
                _ordered_window(obj)
    if body.get("programs") is None:
        body["programs"] = []
    programs = body["programs"]
    if not isinstance(programs, list) or not all(isinstance(p, dict) for p in programs):
        return
    held = {p.get("id") for p in programs if isinstance(p.get("id"), str)}
    for kind in NAMING_PROGRAMS:
        for obj in body.get(kind) or []:
            if not isinstance(obj, dict):
                continue
            for program in _programs_named(obj, kind):
                if program not in held:
                    held.add(program)
                    programs.append({"id": program, "name": "schemathesis", "unit": "points"})


def _ensure_programs(programs):
    url, token = os.environ.get("SPEND_SCHEMATHESIS_URL"), os.environ.get("SPEND_SCHEMATHESIS_ADMIN_TOKEN")
    if not url or not token:
        return
    for program in programs:
        requests.post(
            f"{url}/v1/programs",
            json={"id": program, "name": "schemathesis", "unit": "points"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )


@schemathesis.hook
def before_call(context, case, kwargs):
    if _is_positive(case) and isinstance(case.body, (dict, list)) and "/v1/openapi" not in case.operation.path:
        bounded = _bounded_amounts(case.body)
        if bounded != case.body:
            case.body = bounded
    if case.operation.path == "/v1/batches/s3" and _is_positive(case) and isinstance(case.body, dict):
        bucket, key = case.body.get("bucket"), case.body.get("key")
        if isinstance(bucket, str) and BUCKET.match(bucket) and isinstance(key, str) and key:
            _put_s3_object(bucket, key)
    parts = case.operation.path.strip("/").split("/")
    body = case.body
    if (
        _is_positive(case)
        and isinstance(body, dict)
        and case.method.upper() == "PUT"
        and len(parts) == 3
        and parts[1] in KEYS
    ):
        # Stateful runs fill the path from earlier answers after `map_case`: match it here.
        given = (case.path_parameters or {}).get("id")
        key = KEYS[parts[1]]
        if isinstance(given, str) and isinstance(body.get(key), str):
            body[key] = given
    if case.method.upper() in ("POST", "PUT") and len(parts) >= 2 and parts[1] in NAMING_PROGRAMS:
        if isinstance(case.body, dict):
            _ensure_programs(_programs_named(case.body, parts[1]))


PAN = re.compile(r"^[ -]*([0-9][ -]*){13,19}$")
CONDITION_HEADERS = ("If-Match", "If-None-Match")
ETAGS = re.compile(r'^([ \t]*\*[ \t]*|[ \t,]*(W/)?"[!#-~]*"([ \t]*,[ \t,]*(W/)?"[!#-~]*")*[ \t,]*)$')
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CSV_HEADER = "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type\n"


def _integral_floats(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_integral_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral_floats(v) for k, v in value.items()}
    return value


def _is_positive(case):
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook
def filter_case(context, case):
    if _is_positive(case):
        for name in CONDITION_HEADERS:
            value = (case.headers or {}).get(name)
            if isinstance(value, str) and not ETAGS.match(value):
                return False
    return True


def _put_s3_object(bucket, key):
    data_dir = os.environ.get("SPEND_SCHEMATHESIS_DATA_DIR")
    if not data_dir:
        return
    import boto3  # in the tools venv (moto's dependency)

    with open(os.path.join(data_dir, "s3-endpoint")) as f:
        endpoint = f.read().strip()
    with open(os.path.join(data_dir, "s3-credentials")) as f:
        access_key, secret = f.read().strip().split(":", 1)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    try:
        s3.create_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - it may exist already; the put below says if it cannot
        pass
    # The store keeps objects as files: `a` and `a/b` cannot both exist, so whichever of them is in
    # the way of this key goes first (a directory left by deleted objects included).
    left = os.path.join(data_dir, "s3", bucket, *key.split("/"))
    if os.path.isdir(left):
        shutil.rmtree(left, ignore_errors=True)
    segments = key.split("/")
    for i in range(1, len(segments)):
        try:
            s3.delete_object(Bucket=bucket, Key="/".join(segments[:i]))
        except Exception:  # noqa: BLE001 - absent
            pass
    try:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=key + "/")
        for item in listed.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    except Exception:  # noqa: BLE001 - nothing under it
        pass
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=CSV_HEADER.encode())
    except Exception:  # noqa: BLE001 - then the batch's answer shows it
        pass


def _luhn_fixed(pan):
    digits = [int(c) for c in pan if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits[:-1])):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    check = str((10 - total % 10) % 10)
    last = max(i for i, c in enumerate(pan) if c.isdigit())
    return pan[:last] + check + pan[last + 1:]


def _plausible_transaction(body):
    pan = body.get("card_pan")
    if isinstance(pan, str) and PAN.match(pan):
        body["card_pan"] = _luhn_fixed(pan)
    day = _date(body.get("transaction_date"))
    today = datetime.datetime.now(datetime.timezone.utc).date()
    if day and day > today + datetime.timedelta(days=1):
        body["transaction_date"] = today.isoformat()


@schemathesis.hook
def map_case(context, case):
    path = case.operation.path
    parts = path.strip("/").split("/")
    if isinstance(case.body, (dict, list)):
        case.body = _integral_floats(case.body)
    if path == "/v1/transactions" and isinstance(case.body, dict):
        _plausible_transaction(case.body)
    if isinstance(case.body, dict):
        if path == "/v1/config" and case.method.upper() == "PUT":
            _consistent_config(case.body)
        elif len(parts) >= 2 and parts[1] in KEYS:
            _ordered_window(case.body)
            key = KEYS[parts[1]]
            given = (case.path_parameters or {}).get("id")
            if len(parts) == 3 and case.method.upper() == "PUT" and isinstance(given, str) and key in case.body:
                if isinstance(case.body[key], str):
                    case.body[key] = given
    if path.startswith("/v1/cards/") and isinstance(case.query, dict):
        query = case.query
        low, high = _date(query.get("from")), _date(query.get("to"))
        if low and high and low > high:
            query["from"], query["to"] = query["to"], query["from"]
        card = (case.path_parameters or {}).get("card_id")
        cursor = query.get("cursor")
        if isinstance(cursor, str) and CURSOR.match(cursor) and isinstance(card, str) and UUID.match(card):
            query["cursor"] = _cursor_for(card.lower(), cursor)
    return case
