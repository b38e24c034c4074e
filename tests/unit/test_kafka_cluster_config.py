"""The local three-node cluster's pure parts (deploy/kafka_cluster.py): port allocation (and the
other allocators of test ports), node planning, each node's server.properties; and how a service
reads a list of bootstrap servers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deploy import keycloak
from deploy.kafka_broker import free_port, free_ports
from deploy.kafka_cluster import NodeAddress, node_properties, plan_nodes
from deploy.keycloak import free_ports_below_32768, reserve_ports
from shared.kafka import bootstrap_addresses, create_broker


def parse(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(6)
    assert len(set(ports)) == 6
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free again once chosen


def test_no_port_is_handed_out_twice_in_one_process() -> None:
    """A LiveSystem takes a port for each service before any of them binds it. The kernel's bind(0)
    happily re-offers a port nobody holds: CI once gave casework and the meeting scheduler the same
    one. With a few hundred unbound picks a repeat is all but certain unless the allocator
    remembers what it handed out."""
    singles = [free_port() for _ in range(300)]
    groups = [port for _ in range(50) for port in free_ports(3)]
    assert len(set(singles + groups)) == len(singles) + len(groups)


def test_ports_below_the_ephemeral_range_are_not_handed_out_twice_either() -> None:
    # Its scan starts at the same port every call, so without a memory two calls before anyone
    # binds return the very same ports (the Prometheus test takes five this way).
    first, second = free_ports_below_32768(3), free_ports_below_32768(3)
    assert not set(first) & set(second)
    assert all(port < 32768 for port in first + second)
    # Ports the launcher will bind for its services are never offered to its Keycloak either:
    # take the scan's next port, hand it back (so unreserved it would come again), reserve it.
    (following,) = free_ports_below_32768(1)
    keycloak._ISSUED_BELOW_32768.discard(following)
    reserve_ports([following])
    assert free_ports_below_32768(1)[0] != following


def test_plan_gives_each_node_its_own_two_ports() -> None:
    nodes = plan_nodes(3, [9001, 9002, 9003, 9004, 9005, 9006])
    assert nodes == [
        NodeAddress(1, 9001, 9002),
        NodeAddress(2, 9003, 9004),
        NodeAddress(3, 9005, 9006),
    ]
    with pytest.raises(ValueError, match="distinct"):
        plan_nodes(3, [9001, 9001, 9003, 9004, 9005, 9006])
    with pytest.raises(ValueError, match="6 distinct ports"):
        plan_nodes(3, [9001, 9002])


def test_each_node_is_a_broker_and_a_voter_of_one_quorum(tmp_path: Path) -> None:
    nodes = plan_nodes(3, [9001, 9002, 9003, 9004, 9005, 9006])
    rendered = [
        parse(node_properties(node, nodes, tmp_path / f"n{node.node_id}")) for node in nodes
    ]
    assert [p["node.id"] for p in rendered] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in rendered} == {
        "1@127.0.0.1:9002,2@127.0.0.1:9004,3@127.0.0.1:9006"
    }
    second = rendered[1]
    assert second["process.roles"] == "broker,controller"
    assert second["listeners"] == "PLAINTEXT://127.0.0.1:9003,CONTROLLER://127.0.0.1:9004"
    assert second["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9003"
    assert second["log.dirs"] == str(tmp_path / "n2")
    assert "controller.quorum.bootstrap.servers" not in second  # a static quorum: no --standalone


def test_every_topic_and_internal_topic_is_replicated_three_times_two_in_sync(
    tmp_path: Path,
) -> None:
    nodes = plan_nodes(3, [9001, 9002, 9003, 9004, 9005, 9006])
    properties = parse(node_properties(nodes[0], nodes, tmp_path))
    assert properties["default.replication.factor"] == "3"
    assert properties["min.insync.replicas"] == "2"
    for internal in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic"):
        assert properties[f"{internal}.replication.factor"] == "3"
    assert properties["transaction.state.log.min.isr"] == "2"
    assert properties["share.coordinator.state.topic.min.isr"] == "2"
    assert properties["auto.create.topics.enable"] == "false"
    assert properties["unclean.leader.election.enable"] == "false"


def test_a_comma_separated_bootstrap_list_reaches_the_client_as_a_list() -> None:
    assert bootstrap_addresses("127.0.0.1:9092") == ["127.0.0.1:9092"]
    assert bootstrap_addresses(" a:1, b:2 ,c:3,") == ["a:1", "b:2", "c:3"]
    broker = create_broker("a:1,b:2", client_id="unit")
    assert broker._connection_kwargs["bootstrap_servers"] == ["a:1", "b:2"]
