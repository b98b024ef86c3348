"""Events land on the partition Kafka's default partitioner would choose for their key."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from shared.kafka.producer import murmur2


@given(st.binary(max_size=200))
def test_murmur2_matches_the_kafka_clients_hash_for_any_key(key: bytes) -> None:
    assert murmur2(key) == reference(key)


def test_murmur2_of_known_keys_spreads_subjects_as_the_java_client_does() -> None:
    # Keys of every length modulo 4, and a non-ASCII subject id.
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"msg-123456789012", "sujet-é".encode()]
    assert [murmur2(k) for k in keys] == [reference(k) for k in keys]
    assert len({murmur2(k) & 0x7FFFFFFF for k in keys}) == len(keys)
