"""gRPC credentials from PEM files, as the C++ binaries' --tls_cert/--tls_key/--tls_ca/
--tls_client_auth flags take them (common/credentials.h). Files are read once, at start."""

import grpc


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def server_credentials(cert=None, key=None, ca=None, client_auth=False):
    """TLS for a server with `cert` and `key`; with `client_auth`, clients must present a
    certificate signed by `ca`. None (plaintext) when no certificate is given."""
    if not cert:
        if key or client_auth:
            raise ValueError("tls_key and tls_client_auth need tls_cert")
        return None
    if not key:
        raise ValueError("tls_cert needs tls_key")
    if client_auth and not ca:
        raise ValueError("tls_client_auth needs tls_ca, the CA that signs client certificates")
    return grpc.ssl_server_credentials([(_read(key), _read(cert))],
                                       root_certificates=_read(ca) if ca else None,
                                       require_client_auth=bool(client_auth))


def channel_credentials(cert=None, key=None, ca=None):
    """TLS to a server whose certificate `ca` signs, presenting `cert` when given (mutual TLS).
    None (plaintext) when no CA is given."""
    if not ca:
        return None
    return grpc.ssl_channel_credentials(root_certificates=_read(ca),
                                        private_key=_read(key) if cert else None,
                                        certificate_chain=_read(cert) if cert else None)
