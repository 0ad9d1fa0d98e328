"""nginx in front of a harness stack's replicas, set up the way a careful operator would: the
anchor the bench holds Envoy against (the Terraform orthweb moved to nginx).

TLS 1.2 and 1.3 with the site certificate on HTTPS and on DICOM-TLS (the stream module), kept-alive
HTTP/1.1 to the replicas, no request or response buffering to disk (large studies stream, as
through Envoy), no body size limit, hour-long read and send timeouts, an access log like Envoy's.
Debian's nginx (`apt-get install nginx`); it runs as root from its own prefix on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tools.harness import HarnessError, Stack
from tools.harness.processes import LOOPBACK, ManagedProcess, free_port, port_open

NGINX = Path("/usr/sbin/nginx")
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
START_TIMEOUT = 15.0

_CONFIG = """\
load_module {stream_module};
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {work}/access.log;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  upstream orthanc {{
{http_servers}
    keepalive 32;
  }}
  server {{
    listen {host}:{https_port} ssl http2;
    ssl_certificate {certificate};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls:10m;
    keepalive_timeout 75s;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_read_timeout 3600s;
    proxy_send_timeout 3600s;
    location / {{
      proxy_pass http://orthanc;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Proto https;
    }}
  }}
}}
stream {{
  upstream dicom {{
{dicom_servers}
  }}
  server {{
    listen {host}:{dicom_port} ssl;
    ssl_certificate {certificate};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    proxy_pass dicom;
    proxy_timeout 3600s;
  }}
}}
"""


@dataclass
class NginxProxy:
    """nginx on its own ports in front of every replica of `stack`; a context manager."""

    stack: Stack
    work: Path
    https_port: int = field(default_factory=free_port)
    dicom_port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None

    def config(self) -> str:
        replicas = self.stack.replicas
        return _CONFIG.format(
            stream_module=STREAM_MODULE,
            work=self.work,
            host=LOOPBACK,
            https_port=self.https_port,
            dicom_port=self.dicom_port,
            certificate=self.stack.site_ca,
            key=self.stack.secrets_dir / "site.key",
            http_servers="\n".join(f"    server {LOOPBACK}:{r.http_port};" for r in replicas),
            dicom_servers="\n".join(f"    server {LOOPBACK}:{r.dicom_port};" for r in replicas),
        )

    def __enter__(self) -> NginxProxy:
        if not NGINX.is_file() or not STREAM_MODULE.is_file():
            raise HarnessError("nginx with its stream module is missing: apt-get install nginx")
        self.work.mkdir(parents=True, exist_ok=True)
        path = self.work / "nginx.conf"
        path.write_text(self.config())
        argv = [str(NGINX), "-p", str(self.work), "-c", str(path), "-g", "daemon off;"]
        self.process = ManagedProcess("nginx", argv, self.work / "nginx.log").start()
        self.process.wait_ready(lambda: port_open(self.https_port) and port_open(self.dicom_port), START_TIMEOUT)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.stop(grace=5)
        shutil.rmtree(self.work, ignore_errors=True)
