"""`roomserver cluster`'s plan: ports, each node's config file, the load balancer's config."""

import tomllib
from pathlib import Path

import tomli_w

from roomserver.config import load_config
from roomserver.local_cluster import haproxy_config, nginx_config, node_config, node_ports

USER_CONFIG = """\
[server]
host = "127.0.0.1"
allowed_origins = ["https://casino.example"]
[auth]
jwt_secret = "a-secret-of-at-least-thirty-two-bytes!!"
[rooms]
history_size = 64
"""


def test_nodes_get_consecutive_ports_and_names() -> None:
    nodes = node_ports(3, 8765)
    assert [(n.name, n.ws_port, n.api_port) for n in nodes] == [
        ("node-1", 8771, 8781),
        ("node-2", 8772, 8782),
        ("node-3", 8773, 8783),
    ]


def test_a_nodes_config_is_the_users_with_its_ports_name_and_shared_services(
    tmp_path: Path,
) -> None:
    base = tomllib.loads(USER_CONFIG)
    ports = node_ports(2, 9000)[1]
    path = tmp_path / "node-2.toml"
    path.write_text(tomli_w.dumps(node_config(base, ports, "redis://r:1/0", "postgresql://db/x")))
    config = load_config(path, environ={})
    assert (config.server.port, config.api.port, config.server.node_id) == (9007, 9017, "node-2")
    assert config.redis.url == "redis://r:1/0"
    assert config.postgres.dsn == "postgresql://db/x"
    # Everything else is the user's.
    assert config.server.allowed_origins == ("https://casino.example",)
    assert config.rooms.history_size == 64
    assert base["server"] == tomllib.loads(USER_CONFIG)["server"]  # the user's dict untouched


def test_the_balancers_send_players_to_every_node() -> None:
    nodes = node_ports(3, 8765)
    haproxy = haproxy_config(8765, nodes)
    assert "bind 127.0.0.1:8765" in haproxy
    for node in nodes:
        assert f"127.0.0.1:{node.ws_port} check port {node.api_port}" in haproxy
    nginx = nginx_config(8765, nodes, Path("/tmp/x"))
    assert "listen 127.0.0.1:8765;" in nginx
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    for node in nodes:
        assert f"server 127.0.0.1:{node.ws_port};" in nginx
