#!/usr/bin/python3
"""An independent reader of TensorBoard event files, to check what cria's writer makes.

Reads the TFRecord framing (a little-endian uint64 length, its masked CRC-32C, the data, the data's
masked CRC-32C), checks both CRCs with a CRC-32C computed here, and decodes each record as
TensorBoard's Event message with Google's protobuf library (Debian's python3-protobuf), from the
fields of tensorboard/compat/proto/event.proto and summary.proto declared below: Event
{wall_time=1 double, step=2 int64, file_version=3 string, summary=5 Summary}, Summary {value=1
repeated Value}, Value {tag=1 string, simple_value=2 float}. Nothing of cria's is used.

Prints one JSON object per line: {"file_version": ...} for the header record, then
{"step": S, "wall_time": W, "tag": T, "value": V} for each scalar. Exit 1 (naming the record)
when a length or CRC is wrong or a record is not an Event.

Usage: /usr/bin/python3 tools/read_tfevents.py FILE
"""
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def _messages():
    f = descriptor_pb2.FileDescriptorProto(name="cria_check_event.proto", package="tensorboard")
    value = f.message_type.add(name="Value")
    value.field.add(name="tag", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    value.field.add(name="simple_value", number=2, type=F.TYPE_FLOAT, label=F.LABEL_OPTIONAL)
    summary = f.message_type.add(name="Summary")
    summary.field.add(name="value", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                      type_name=".tensorboard.Value")
    event = f.message_type.add(name="Event")
    event.field.add(name="wall_time", number=1, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    event.field.add(name="step", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    event.field.add(name="file_version", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    event.field.add(name="summary", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    type_name=".tensorboard.Summary")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("tensorboard.Event"))


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def records(data, name):
    at = 0
    n = 0
    while at < len(data):
        if at + 12 > len(data):
            raise ValueError("%s: record %d: %d trailing bytes, not a record header" % (name, n, len(data) - at))
        length, length_crc = struct.unpack_from("<QI", data, at)
        if masked(crc32c(data[at:at + 8])) != length_crc:
            raise ValueError("%s: record %d: the length's CRC is wrong" % (name, n))
        body = data[at + 12:at + 12 + length]
        if len(body) != length or at + 16 + length > len(data):
            raise ValueError("%s: record %d: truncated" % (name, n))
        (body_crc,) = struct.unpack_from("<I", data, at + 12 + length)
        if masked(crc32c(body)) != body_crc:
            raise ValueError("%s: record %d: the data's CRC is wrong" % (name, n))
        yield n, body
        at += 16 + length
        n += 1


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    name = sys.argv[1]
    with open(name, "rb") as f:
        data = f.read()
    event_class = _messages()
    try:
        for n, body in records(data, name):
            event = event_class()
            event.ParseFromString(body)
            if event.file_version:
                print(json.dumps({"file_version": event.file_version}))
            for v in event.summary.value:
                print(json.dumps({"step": event.step, "wall_time": event.wall_time, "tag": v.tag,
                                  "value": v.simple_value}))
    except ValueError as e:
        print("read_tfevents: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
