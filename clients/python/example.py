"""End-to-end example of the Sluice Python client.

    python3 clients/python/example.py 127.0.0.1:7070

1. Checks the codec against the worked hex examples of docs/PROTOCOL.md section 7 (read from the
   document at runtime, so a change to either side is caught).
2. Logs in as the demo acquirer, pays 100.00 CNY to merchant 1001 with a Wallet in an App, waits for
   the PaymentAck and the PaymentResult, checks the split, queries the order, refunds 30.00, and
   checks that resending the payment is answered as a duplicate with the same outcome.

Prints `OK` at the end when everything matched; exits 1 with a message otherwise.
"""

from __future__ import annotations

import enum
import inspect
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sluice_client import (  # noqa: E402
    BOOL,
    BY_NAME,
    AckStatus,
    AttemptStatus,
    CandidateDecision,
    Client,
    ConfigKind,
    ConfigLookup,
    FinalStatus,
    OrderState,
    PartyKind,
    PartyRole,
    PaymentMethod,
    ReasonCode,
    Rejected,
    RefundState,
    Role,
    Scene,
    SluiceError,
    ProtocolError,
    decode,
    describe,
    encode,
    enum_name,
)

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "PROTOCOL.md")

KEY_ID, SECRET = "acq-a", "sluice-demo-acquirer-a"
# The demo admin of the embedded default configuration (README.md lists the demo credentials).
ADMIN_KEY_ID, ADMIN_SECRET = "admin", "sluice-demo-admin"
MERCHANT, AMOUNT, CNY, REFUND = 1001, 10000, 156, 3000


class Failed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Failed(what)


# --------------------------------------------------------------------------------------------------
# Part 1: the worked examples of section 7
# --------------------------------------------------------------------------------------------------


def generated_blocks(doc: str, name: str) -> list[str]:
    """The ```text blocks between <!-- BEGIN GENERATED: name --> and its END marker."""
    m = re.search(rf"<!-- BEGIN GENERATED: {name} -->(.*?)<!-- END GENERATED: {name} -->", doc, re.S)
    check(m is not None, f"PROTOCOL.md has no generated block {name!r}")
    return re.findall(r"```text\n(.*?)```", m.group(1), re.S)


def parse_hexdump(dump: str) -> bytes:
    """`0000  00 00 00 63 eb 50 55 00  0a 00 ...  ascii` lines -> bytes (offsets checked)."""
    out = bytearray()
    for line in dump.splitlines():
        if not line.strip():
            continue
        offset = int(line[:4], 16)
        check(offset == len(out), f"hex dump line at {offset:04x}, expected {len(out):04x}")
        hex_column = line[6 : 6 + 49]  # 16 bytes: "xx " x 8, a space, "xx " x 8
        out += bytes(int(tok, 16) for tok in hex_column.split())
    return bytes(out)


def parse_annotations(dump: str) -> tuple[bytes, dict[str, str]]:
    """`000e  2a 00 ...   request_id = 42` lines -> (all bytes, {field: value text})."""
    out, fields = bytearray(), {}
    for line in dump.splitlines():
        m = re.match(r"([0-9a-f]{4})  ((?:[0-9a-f]{2} )+)\s*(.*?) = (.*)$", line)
        if not m:
            continue
        check(int(m.group(1), 16) == len(out), f"annotation at {m.group(1)} out of place")
        out += bytes.fromhex(m.group(2))
        fields[m.group(3)] = m.group(4)
    return bytes(out), fields


def as_doc_text(name: str, field: str, value) -> str:
    """How the document's annotations print a decoded value."""
    ftype = next(t for _, f, t in BY_NAME[name].root.fields if f == field)
    if ftype is BOOL:
        return "true" if value else "false"
    if isinstance(value, enum.IntEnum):
        return enum_name(value)
    if isinstance(value, str) and field not in ("ip",):
        return f'"{value}"'
    return str(value)


def check_annotated(name: str, frame: bytes, annotated: str) -> None:
    raw, fields = parse_annotations(annotated)
    check(raw == frame, f"{name}: the annotated dump and the hex dump differ")
    msg = decode(frame)
    check(msg._name == name, f"the {name} example decodes as {msg._name}")
    checked = 0
    for field, text in fields.items():
        if hasattr(msg, field):
            got = as_doc_text(name, field, getattr(msg, field))
            check(got == text, f"{name}.{field}: decoded {got}, the document says {text}")
            checked += 1
    check(checked == len(BY_NAME[name].root.fields), f"{name}: only {checked} fields annotated")


def verify_worked_examples() -> None:
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()

    # The PaymentRequest: our encoder must produce exactly the document's bytes.
    dump, annotated = generated_blocks(doc, "example-payment-request")
    expected = parse_hexdump(dump)
    ours = encode(
        "PaymentRequest",
        request_id=42, merchant_id=1001, promoter_id=501, amount_minor=10000, currency=156,
        method=PaymentMethod.Card, scene=Scene.App, goods_category=5411, user_id=7000001,
        device_id=880001, ip="203.0.113.7", card_fingerprint="fp9Xq2LmT4vB8sKd", card_bin=622848,
        country="CN",
    )
    if ours != expected:
        diff = next(i for i in range(min(len(ours), len(expected)) + 1)
                    if i >= min(len(ours), len(expected)) or ours[i] != expected[i])
        raise Failed(f"PaymentRequest example: our {len(ours)} bytes differ from the document's "
                     f"{len(expected)} bytes at offset {diff:#06x}:\n ours {ours.hex(' ')}\n  doc "
                     f"{expected.hex(' ')}")
    check_annotated("PaymentRequest", expected, annotated)
    print(f"worked example: PaymentRequest encodes to the document's {len(ours)} bytes")

    # The PaymentAck: our decoder must read what the annotations say, and re-encode it identically.
    dump, annotated = generated_blocks(doc, "example-payment-ack")
    frame = parse_hexdump(dump)
    check_annotated("PaymentAck", frame, annotated)
    ack = decode(frame)
    fields = {k: v for k, v in vars(ack).items() if not k.startswith("_")}
    check(encode("PaymentAck", **fields) == frame, "PaymentAck example does not re-encode identically")
    print(f"worked example: PaymentAck decodes as {describe(ack)}")


def verify_field_names_pass_as_keywords() -> None:
    """Every field of every message can be given as a keyword to encode(), send() and wait_for():
    no field name collides with a parameter those take by keyword."""
    fields = set()
    for mtype in BY_NAME.values():
        fields |= {f[1] for f in mtype.root.fields} | {g.name for g in mtype.groups}
        fields |= {t.name for t in mtype.texts}
    for fn in (encode, Client.send, Client.wait_for):
        keywords = {p.name for p in inspect.signature(fn).parameters.values()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        clash = keywords & fields
        check(not clash, f"{fn.__name__}: parameters {sorted(clash)} are also message fields")
    frame = encode("ConfigChannel", channel_id=9, name="newpay", status=1)
    check(decode(frame).name == "newpay", "a field called name round-trips")


def verify_codec_rules() -> None:
    """Versioning (section 1): a longer root block or group entry is skipped, a shorter one is an
    error, trailing bytes are ignored; groups round-trip."""
    split = [{"role": PartyRole.Merchant, "party_id": 1001, "amount_minor": 9940},
             {"role": PartyRole.Platform, "party_id": 0, "amount_minor": 60}]
    frame = encode("PaymentResult", request_id=7, order_id=3, status=FinalStatus.Succeeded,
                   attempts=1, amount_minor=10000, currency=156, split=split)
    msg = decode(frame)
    check([(e.role, e.party_id, e.amount_minor) for e in msg.split] ==
          [(PartyRole.Merchant, 1001, 9940), (PartyRole.Platform, 0, 60)], "split round trip")

    # A "version 2" PaymentResult: 3 extra root bytes, 2 extra bytes per split entry, a trailer.
    body = bytearray(frame[14:14 + 82]) + b"\xAA\xBB\xCC"
    body += (15).to_bytes(2, "little") + (2).to_bytes(2, "little")
    for i in range(2):
        entry = frame[14 + 82 + 4 + 13 * i: 14 + 82 + 4 + 13 * (i + 1)]
        body += entry + b"\xEE\xEE"
    body += b"future group"
    newer = (14 + len(body)).to_bytes(4, "big") + b"\xeb\x50" + (85).to_bytes(2, "little") + \
        (12).to_bytes(2, "little") + b"\x4c\x53" + (2).to_bytes(2, "little") + bytes(body)
    msg2 = decode(newer)
    check(vars(msg2) | {"_version": 1} == vars(msg) | {"_version": 1}, "newer PaymentResult decoded differently")

    shorter = bytearray(frame)
    shorter[6:8] = (72).to_bytes(2, "little")
    try:
        decode(bytes(shorter))
        raise Failed("a shorter root block was accepted")
    except ProtocolError:
        pass
    print("codec: groups round-trip, newer versions are skipped, shorter blocks are refused")


# --------------------------------------------------------------------------------------------------
# Part 2: a payment against a running server
# --------------------------------------------------------------------------------------------------


def show(msg) -> None:
    print("  " + describe(msg))


def split_sum(lines) -> int:
    return sum(line.amount_minor for line in lines)


def total_balance(report, currency: int) -> int:
    for entry in report.balances:
        if entry.currency == currency:
            return entry.pending_minor + entry.available_minor + entry.frozen_minor
    return 0


def run_payment(host: str, port: int) -> None:
    # Ids unique across runs against the same server: derived from the clock.
    base = time.time_ns() // 1000
    request_id, refund_request_id = base, base + 1

    with Client.connect(host, port) as client:
        accepted = client.login(Role.Acquirer, KEY_ID, SECRET)
        print(f"logged in: session {accepted.session_id}, acquirer {accepted.principal_id}, "
              f"heartbeat {accepted.heartbeat_interval_ms} ms, idle timeout {accepted.idle_timeout_ms} ms, "
              f"max frame {accepted.max_frame_bytes} bytes")
        check(accepted.role == Role.Acquirer, f"granted role {accepted.role.name}")

        # Balance before (BalanceQuery: an acquirer may ask about its own merchants).
        client.send("BalanceQuery", party_kind=PartyKind.Merchant, party_id=MERCHANT)
        before = client.wait_for("BalanceReport", party_kind=PartyKind.Merchant, party_id=MERCHANT)
        print("balance before:")
        show(before)
        check(before.found == 1, f"merchant {MERCHANT} not found by BalanceQuery")

        payment = dict(request_id=request_id, merchant_id=MERCHANT, promoter_id=0, amount_minor=AMOUNT,
                       currency=CNY, method=PaymentMethod.Wallet, scene=Scene.App, goods_category=0,
                       user_id=7000001, device_id=880001, ip="198.51.100.20", country="CN")
        client.send("PaymentRequest", **payment)
        ack = client.wait_for("PaymentAck", request_id=request_id)
        print("payment:")
        show(ack)
        check(ack.status == AckStatus.Accepted, f"payment rejected: {ack.reason.name}")
        check(ack.duplicate == 0 and ack.order_id != 0 and ack.channel_id != 0, "odd PaymentAck")

        result = client.wait_for("PaymentResult", request_id=request_id)
        show(result)
        check(result.status == FinalStatus.Succeeded,
              f"payment failed: {result.reason.name} after {result.attempts} attempt(s)")
        check(result.order_id == ack.order_id, "PaymentResult names another order")
        check(result.amount_minor == AMOUNT and result.currency == CNY, "PaymentResult amount/currency")
        check(result.duplicate == 0, "first PaymentResult marked duplicate")
        check(len(result.split) > 0, "no split lines")
        check(split_sum(result.split) == AMOUNT,
              f"split lines sum to {split_sum(result.split)}, not {AMOUNT}")
        print(f"  split: {len(result.split)} lines summing exactly to {AMOUNT}")

        # The order, with its routing explanation.
        client.send("QueryOrder", order_id=ack.order_id, request_id=0)
        status = client.wait_for("OrderStatus", order_id=ack.order_id)
        print("order:")
        print(f"  state={status.state.name} strategy={status.strategy.name} channel={status.channel_id} "
              f"fee={status.fee_minor} sequence={status.sequence}")
        for a in status.attempts:
            print(f"  attempt {a.attempt}: channel {a.channel_id} {a.status.name} code={a.channel_code} "
                  f"latency={a.latency_us}us")
        for c in status.candidates:
            print(f"  candidate channel {c.channel_id}: {c.decision.name} rank={c.rank} "
                  f"skip={enum_name(c.skip_reason)} score={c.score}")
        check(status.state == OrderState.Succeeded, f"order state {status.state.name}")
        check(status.request_id == request_id and status.merchant_id == MERCHANT, "order identity")
        check(status.amount_minor == AMOUNT and status.currency == CNY, "order amount")
        check(status.method == PaymentMethod.Wallet and status.scene == Scene.App, "order method/scene")
        check(len(status.attempts) == result.attempts, "attempt count differs from PaymentResult")
        check(status.attempts[-1].status == AttemptStatus.Succeeded, "last attempt did not succeed")
        check(status.attempts[-1].channel_id == result.channel_id, "last attempt's channel")
        check(sum(c.decision == CandidateDecision.Chosen for c in status.candidates) == 1,
              "not exactly one Chosen candidate")
        check(status.fee_minor == result.fee_minor, "fee differs from PaymentResult")
        check(split_sum(status.split) == AMOUNT, "OrderStatus split does not sum to the amount")

        # The merchant's own share is now in its balance (pending, available or frozen).
        client.send("BalanceQuery", party_kind=PartyKind.Merchant, party_id=MERCHANT)
        after = client.wait_for("BalanceReport", party_kind=PartyKind.Merchant, party_id=MERCHANT)
        show(after)
        share = sum(line.amount_minor for line in result.split
                    if line.role == PartyRole.Merchant and line.party_id == MERCHANT)
        delta = total_balance(after, CNY) - total_balance(before, CNY)
        check(delta == share, f"merchant balance grew by {delta}, its split line is {share}")

        # Refund 30.00.
        client.send("RefundRequest", refund_request_id=refund_request_id,
                    payment_request_id=request_id, amount_minor=REFUND)
        rack = client.wait_for("RefundAck", refund_request_id=refund_request_id)
        print("refund:")
        show(rack)
        check(rack.status == AckStatus.Accepted, f"refund rejected: {rack.reason.name}")
        check(rack.order_id == ack.order_id and rack.refund_id != 0, "odd RefundAck")
        rres = client.wait_for("RefundResult", refund_request_id=refund_request_id)
        show(rres)
        check(rres.status == FinalStatus.Succeeded, f"refund failed: {rres.reason.name}")
        check(rres.refund_id == rack.refund_id and rres.amount_minor == REFUND, "odd RefundResult")
        check(split_sum(rres.reversal) == REFUND,
              f"reversal lines sum to {split_sum(rres.reversal)}, not {REFUND}")

        client.send("QueryOrder", order_id=0, request_id=request_id)  # by request id this time
        status = client.wait_for("OrderStatus", order_id=ack.order_id)
        print(f"  order after refund: state={status.state.name} refunded={status.refunded_minor} "
              f"pending={status.refund_pending_minor} refunds={len(status.refunds)} sequence={status.sequence}")
        check(status.refunded_minor == REFUND and status.refund_pending_minor == 0, "refunded amount")
        check([(r.refund_id, r.amount_minor, r.state) for r in status.refunds] ==
              [(rack.refund_id, REFUND, RefundState.Succeeded)], "refund entries")

        # Resend the very same payment: a duplicate with the original outcome.
        client.send("PaymentRequest", **payment)
        dup = client.wait_for("PaymentAck", request_id=request_id)
        print("resend:")
        show(dup)
        check(dup.duplicate == 1, "resend not answered with duplicate=1")
        check(dup.order_id == ack.order_id and dup.status == AckStatus.Accepted, "resend: other outcome")
        dres = client.wait_for("PaymentResult", request_id=request_id)
        show(dres)
        check(dres.duplicate == 1 and dres.status == FinalStatus.Succeeded, "resend: PaymentResult")
        check(dres.order_id == ack.order_id and split_sum(dres.split) == AMOUNT, "resend: result differs")

        # Same id, different amount: refused, nothing changes.
        client.send("PaymentRequest", **(payment | {"amount_minor": AMOUNT + 1}))
        mismatch = client.wait_for("PaymentAck", request_id=request_id)
        show(mismatch)
        check(mismatch.status == AckStatus.Rejected
              and mismatch.reason == ReasonCode.DuplicateRequestMismatch, "changed resend not refused")

        # A message the role may not send: Reject(RoleNotAllowed), and the session stays open.
        client.send("StatsQuery", flags=0)
        try:
            client.wait_for("StatsReport", timeout=5)
            raise Failed("an acquirer got a StatsReport")
        except Rejected as e:
            check(e.msg._name == "Reject" and e.msg.reason == ReasonCode.RoleNotAllowed
                  and e.msg.ref_template_id == 49, f"acquirer StatsQuery: {e}")
            print(f"acquirer StatsQuery refused as expected: {e}")

        bye = client.logout()
        print(f"logout: {describe(bye)}")
        leftovers = [describe(m) for m in client.pending]
        check(not leftovers, f"unexpected messages: {leftovers}")

    return result.channel_id


def run_stats(host: str, port: int, channel_id: int) -> None:
    """The admin view: StatsReport (three groups)."""
    with Client.connect(host, port) as admin:
        admin.login(Role.Admin, ADMIN_KEY_ID, ADMIN_SECRET)
        admin.send("StatsQuery", flags=0)
        stats = admin.wait_for("StatsReport")
        print(f"stats: sequence={stats.sequence} orders={stats.orders} accepted={stats.accepted} "
              f"succeeded={stats.succeeded} failed={stats.failed} refunds_succeeded={stats.refunds_succeeded} "
              f"ledger_balanced={stats.ledger_balanced}")
        for ch in stats.channels:
            print(f"  channel {ch.channel_id}: {ch.health.name} attempts={ch.attempts} "
                  f"successes={ch.successes} latency_avg={ch.latency_avg_us}us")
        print(f"  {len(stats.rules)} risk rules, strategies: "
              + ", ".join(f"{s.strategy.name}={s.decisions}" for s in stats.strategies))
        check(stats.ledger_balanced == 1, "the ledger is not balanced")
        check(stats.succeeded >= 1 and stats.refunds_succeeded >= 1, "stats miss our payment/refund")
        ours = [ch for ch in stats.channels if ch.channel_id == channel_id]
        check(len(ours) == 1 and ours[0].successes >= 1, f"channel {channel_id} shows no success")
        admin.logout()


def run_config(host: str, port: int, channel_id: int) -> None:
    """Admin configuration: read a channel back with ConfigQuery, send it back renamed (a field called
    `name`, as ConfigChannel and ConfigRiskRule have), read it again, and restore it."""
    with Client.connect(host, port) as admin:
        admin.login(Role.Admin, ADMIN_KEY_ID, ADMIN_SECRET)
        admin.send("ConfigQuery", kind=ConfigKind.Channel, lookup=ConfigLookup.ById, id=channel_id, key_id="")
        channel = admin.wait_for("ConfigChannel", channel_id=channel_id)
        fields = {k: v for k, v in vars(channel).items() if not k.startswith("_")}
        fields["currencies"] = [vars(c) for c in channel.currencies]
        fields["methods"] = [vars(m) for m in channel.methods]
        original = fields["name"]
        admin.send("ConfigChannel", **{**fields, "name": "renamed"})
        ack = admin.wait_for("ConfigAck", ref_template_id=41)
        check(ack.status == AckStatus.Accepted, f"ConfigChannel refused: {describe(ack)}")
        admin.send("ConfigQuery", kind=ConfigKind.Channel, lookup=ConfigLookup.ById, id=channel_id, key_id="")
        check(admin.wait_for("ConfigChannel").name == "renamed", "the rename did not read back")
        admin.send("ConfigChannel", **fields)
        check(admin.wait_for("ConfigAck").status == AckStatus.Accepted, "restoring the channel was refused")
        admin.send("ConfigQuery", kind=ConfigKind.Merchant, lookup=ConfigLookup.ById, id=99999, key_id="")
        missing = admin.wait_for("ConfigAck", ref_template_id=55)
        check(missing.reason == ReasonCode.UnknownMerchant, f"unexpected answer {describe(missing)}")
        print(f"config: channel {channel_id} {original!r} renamed and restored through ConfigChannel/ConfigQuery")
        admin.logout()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or ":" not in argv[1]:
        print(f"usage: {argv[0]} HOST:PORT", file=sys.stderr)
        return 2
    host, port = argv[1].rsplit(":", 1)
    try:
        verify_worked_examples()
        verify_codec_rules()
        verify_field_names_pass_as_keywords()
        channel_id = run_payment(host.strip("[]"), int(port))
        run_stats(host.strip("[]"), int(port), channel_id)
        run_config(host.strip("[]"), int(port), channel_id)
    except (Failed, SluiceError, ProtocolError, OSError) as e:
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
