"""A real S3-compatible server (moto) on 127.0.0.1 for the ``s3://`` tests, and a bucket on it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

fsspec = pytest.importorskip("fsspec")
s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start moto's S3 on a free localhost port; point fsspec's ``s3://`` at it."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved_env = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(_ENV)
    saved_conf = fsspec.config.conf.get("s3")
    # Every S3FileSystem fsspec creates (for s3:// URLs) gets these options.
    fsspec.config.conf["s3"] = {"client_kwargs": {"endpoint_url": url}, "anon": False}
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield url
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        if saved_conf is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = saved_conf
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint: str) -> str:
    fs = fsspec.filesystem("s3")
    name = f"ckpt-test-{secrets.token_hex(4)}"
    fs.mkdir(name)
    return name


@pytest.fixture
def s3_root(s3_bucket: str, request: pytest.FixtureRequest) -> str:
    """A fresh ``s3://bucket/<test>`` folder URL for one test."""
    return f"s3://{s3_bucket}/{request.node.name.replace('[', '_').replace(']', '_')}"


@pytest.fixture
def mem_root(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh ``memory://`` folder URL for one test, removed afterwards."""
    name = f"ckpt-{secrets.token_hex(6)}"
    yield f"memory://{name}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)
